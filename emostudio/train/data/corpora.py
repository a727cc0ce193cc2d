"""Clips from four published emotional corpora, labelled from their file and folder names alone.

Every loader takes the folder a corpus was unpacked into and returns :class:`Clip` objects with
absolute paths, identity ``"<corpus>:<speaker>"`` (so speakers of different corpora never collide),
split ``"train"`` (hold identities out with :func:`split_by_identity`), and intensity 0 for neutral
clips, because the emotion representation reads intensity 0 as neutral whatever the label. Files
whose names do not follow the corpus's convention are skipped; a folder with none that do is an
error. Nothing is read from inside the files and no metadata is downloaded.
"""

from __future__ import annotations

import codecs
import difflib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ...errors import EmostudioError
from .manifest import Clip

CORPORA: tuple[str, ...] = ("mead", "crema-d", "ravdess", "esd")

# Three published levels on 0..1, evenly spaced with the strongest at 1.
_THREE_LEVELS = (0.33, 0.67, 1.0)


def load_corpus(name: str, root: str | Path, **options: Any) -> list[Clip]:
    """The clips of the corpus called ``name`` (one of :data:`CORPORA`) under ``root``."""
    key = name.strip().lower().replace("_", "-")
    key = {"cremad": "crema-d", "crema": "crema-d"}.get(key, key)
    loaders: dict[str, Callable[..., list[Clip]]] = {
        "mead": load_mead, "crema-d": load_crema_d, "ravdess": load_ravdess, "esd": load_esd}
    if key not in loaders:
        close = difflib.get_close_matches(key, CORPORA, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EmostudioError(f"Unknown corpus {name!r}{hint}; use one of {', '.join(CORPORA)}.")
    return loaders[key](root, **options)


def _root(root: str | Path, corpus: str) -> Path:
    folder = Path(root).absolute()
    if not folder.is_dir():
        raise EmostudioError(f"The {corpus} folder {folder} does not exist; give the folder the corpus was "
                             "unpacked into.")
    return folder


def _subfolders(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(path for path in folder.iterdir() if path.is_dir())


def _files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(path for path in folder.iterdir() if path.is_file())


def _none_found(corpus: str, root: Path, expected: str) -> EmostudioError:
    return EmostudioError(f"No {corpus} files were found under {root}; expected names like {expected} "
                          "(give the folder the corpus was unpacked into).")


# -- MEAD ------------------------------------------------------------------------------------------

MEAD_EMOTIONS: dict[str, str] = {
    "angry": "angry", "contempt": "contempt", "disgusted": "disgusted", "fear": "fearful",
    "happy": "happy", "neutral": "neutral", "sad": "sad", "surprised": "surprised"}
MEAD_VIEWS: tuple[str, ...] = ("front", "down", "top", "left_30", "left_60", "right_30", "right_60")
_MEAD_ACTOR = re.compile(r"[MW]\d{3}")
_MEAD_LEVEL = re.compile(r"level_([123])")
_MEAD_NUMBER = re.compile(r"\d{3}")


def load_mead(root: str | Path, view: str = "front") -> list[Clip]:
    """Clips of MEAD (Wang et al., ECCV 2020), the audio and the video of one camera paired.

    Layout of the published archives (per actor ``video.tar`` and ``audio.tar``)::

        ROOT/<actor>/video/<view>/<emotion>/level_<1-3>/<NNN>.mp4
        ROOT/<actor>/audio/<emotion>/level_<1-3>/<NNN>.m4a

    ``<actor>`` is M or W and three digits (``M003``, ``W009``); ``<view>`` is one of front, down,
    top, left_30, left_60, right_30, right_60; ``<emotion>`` is one of angry, contempt, disgusted,
    fear (-> fearful), happy, neutral, sad, surprised; neutral has level_1 only; ``<NNN>`` is the
    three-digit take (``001``). Level 1/2/3 -> intensity 0.33/0.67/1.0. The audio and the video of
    the same actor, emotion, level and take make one clip (id
    ``mead:<actor>/<view>/<emotion>/level_<n>/<NNN>``); either alone makes a clip too. MEAD's
    sentences are not in its file names, so text is None.
    """
    folder = _root(root, "MEAD")
    if view not in MEAD_VIEWS:
        raise EmostudioError(f"Unknown MEAD view {view!r}; use one of {', '.join(MEAD_VIEWS)}.")
    found: dict[tuple[str, str, int, str], dict[str, Path]] = {}
    for actor in _subfolders(folder):
        if not _MEAD_ACTOR.fullmatch(actor.name):
            continue
        for kind, base, suffix in (("video", actor / "video" / view, ".mp4"), ("audio", actor / "audio", ".m4a")):
            for emotion in _subfolders(base):
                if emotion.name not in MEAD_EMOTIONS:
                    continue
                for level in _subfolders(emotion):
                    match = _MEAD_LEVEL.fullmatch(level.name)
                    if match is None:
                        continue
                    for file in _files(level):
                        if file.suffix == suffix and _MEAD_NUMBER.fullmatch(file.stem):
                            key = (actor.name, emotion.name, int(match.group(1)), file.stem)
                            found.setdefault(key, {})[kind] = file
    if not found:
        raise _none_found("MEAD", folder, f"M003/video/{view}/angry/level_1/001.mp4 or "
                          "M003/audio/angry/level_1/001.m4a")
    clips = []
    for (actor_name, emotion_name, level_number, take), media in sorted(found.items()):
        emotion = MEAD_EMOTIONS[emotion_name]
        clips.append(Clip(
            id=f"mead:{actor_name}/{view}/{emotion_name}/level_{level_number}/{take}",
            audio=_optional(media.get("audio")), video=_optional(media.get("video")),
            identity=f"mead:{actor_name}", emotion=emotion,
            intensity=0.0 if emotion == "neutral" else _THREE_LEVELS[level_number - 1],
            text=None, split="train", source="mead"))
    return clips


def _optional(path: Path | None) -> str | None:
    return None if path is None else str(path)


# -- CREMA-D ---------------------------------------------------------------------------------------

CREMA_D_SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
CREMA_D_EMOTIONS: dict[str, str] = {
    "ANG": "angry", "DIS": "disgusted", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
CREMA_D_LEVELS: dict[str, float] = {"LO": 0.33, "MD": 0.67, "HI": 1.0, "XX": 0.67}
_CREMA_D_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})")


def load_crema_d(root: str | Path) -> list[Clip]:
    """Clips of CREMA-D (Cao et al., IEEE TAFFC 2014), the WAV audio paired with the Flash video.

    Layout of the published repository::

        ROOT/AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav    e.g. 1001_DFA_ANG_XX.wav
        ROOT/VideoFlash/<the same stem>.flv

    ``<actor>`` is four digits (1001-1091); ``<sentence>`` is one of the 12 sentence codes of
    :data:`CREMA_D_SENTENCES` (the text of the clip); ``<emotion>`` is ANG, DIS, FEA, HAP, NEU or
    SAD; ``<level>`` is LO, MD, HI (recorded for IEO only) or XX (unspecified), mapped to intensity
    0.33, 0.67, 1.0 and 0.67. A WAV and an FLV with the same stem make one clip; either alone makes a
    clip too.
    """
    folder = _root(root, "CREMA-D")
    found: dict[str, dict[str, Path]] = {}
    for kind, subfolder, suffix in (("audio", "AudioWAV", ".wav"), ("video", "VideoFlash", ".flv")):
        for file in _files(folder / subfolder):
            match = _CREMA_D_NAME.fullmatch(file.stem)
            if (file.suffix.lower() == suffix and match is not None and match.group(2) in CREMA_D_SENTENCES
                    and match.group(3) in CREMA_D_EMOTIONS and match.group(4) in CREMA_D_LEVELS):
                found.setdefault(file.stem, {})[kind] = file
    if not found:
        raise _none_found("CREMA-D", folder, "AudioWAV/1001_DFA_ANG_XX.wav or VideoFlash/1001_DFA_ANG_XX.flv")
    clips = []
    for stem, media in sorted(found.items()):
        actor, sentence, emotion_code, level = stem.split("_")
        emotion = CREMA_D_EMOTIONS[emotion_code]
        clips.append(Clip(
            id=f"crema-d:{stem}", audio=_optional(media.get("audio")), video=_optional(media.get("video")),
            identity=f"crema-d:{actor}", emotion=emotion,
            intensity=0.0 if emotion == "neutral" else CREMA_D_LEVELS[level],
            text=CREMA_D_SENTENCES[sentence], split="train", source="crema-d"))
    return clips


# -- RAVDESS ---------------------------------------------------------------------------------------

# Calm has no category of its own; it is the nearest to neutral (low arousal, mildly pleasant).
RAVDESS_EMOTIONS: dict[str, str] = {
    "01": "neutral", "02": "neutral", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
    "07": "disgusted", "08": "surprised"}
RAVDESS_INTENSITIES: dict[str, float] = {"01": 0.5, "02": 1.0}
RAVDESS_STATEMENTS: dict[str, str] = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
_RAVDESS_NAME = re.compile(r"(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d{2})")
_RAVDESS_SUFFIX = {"01": ".mp4", "02": ".mp4", "03": ".wav"}


def load_ravdess(root: str | Path, include_song: bool = False, include_calm: bool = True) -> list[Clip]:
    """Clips of RAVDESS (Livingstone & Russo, PLoS ONE 2018), the audio-only WAV paired with the video.

    Layout of the Zenodo archives (found at any depth, so several unpacked archives can share ROOT)::

        ROOT/Actor_<NN>/<modality>-<channel>-<emotion>-<intensity>-<statement>-<repetition>-<actor>.wav|.mp4

    e.g. ``Actor_12/03-01-06-01-02-01-12.wav``. The seven two-digit fields are: modality 01 full-AV
    (.mp4), 02 video-only (.mp4), 03 audio-only (.wav); vocal channel 01 speech, 02 song (skipped
    unless ``include_song``); emotion 01 neutral, 02 calm (-> neutral, skipped unless
    ``include_calm``), 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust (-> disgusted), 08 surprised;
    intensity 01 normal (-> 0.5), 02 strong (-> 1.0); statement 01 "Kids are talking by the door",
    02 "Dogs are sitting by the door" (the text); repetition 01 or 02; actor 01-24 (odd male, even
    female). The audio-only WAV and the full-AV MP4 (or, without one, the video-only MP4) of the same
    recording, i.e. the same last six fields, make one clip; the MP4s carry their own sound, but
    ``audio`` is set from the WAV only.
    """
    folder = _root(root, "RAVDESS")
    found: dict[str, dict[str, Path]] = {}
    for file in sorted(folder.rglob("*-*-*-*-*-*-*.*")):
        match = _RAVDESS_NAME.fullmatch(file.stem)
        if match is None or not file.is_file() or file.suffix.lower() != _RAVDESS_SUFFIX[match.group(1)]:
            continue
        modality, channel, emotion = match.group(1, 2, 3)
        if (channel == "02" and not include_song) or (emotion == "02" and not include_calm):
            continue
        found.setdefault(file.stem[3:], {})[modality] = file
    if not found:
        raise _none_found("RAVDESS", folder, "Actor_12/03-01-06-01-02-01-12.wav or "
                          "Actor_12/01-01-06-01-02-01-12.mp4 (speech; song is skipped unless asked for)")
    clips = []
    for recording, media in sorted(found.items()):
        _, emotion_code, intensity, statement, _, actor = recording.split("-")
        emotion = RAVDESS_EMOTIONS[emotion_code]
        clips.append(Clip(
            id=f"ravdess:{recording}", audio=_optional(media.get("03")),
            video=_optional(media.get("01", media.get("02"))), identity=f"ravdess:Actor_{actor}",
            emotion=emotion, intensity=0.0 if emotion == "neutral" else RAVDESS_INTENSITIES[intensity],
            text=RAVDESS_STATEMENTS[statement], split="train", source="ravdess"))
    return clips


# -- ESD -------------------------------------------------------------------------------------------

ESD_EMOTIONS: dict[str, str] = {
    "Angry": "angry", "Happy": "happy", "Neutral": "neutral", "Sad": "sad", "Surprise": "surprised"}
ESD_SPLITS: dict[str, str] = {"train": "train", "evaluation": "val", "test": "test"}
_ESD_SPEAKER = re.compile(r"\d{4}")


def load_esd(root: str | Path, keep_splits: bool = False) -> list[Clip]:
    """Clips of ESD (Zhou et al., ICASSP 2021), audio only, with the text of each speaker's transcript.

    Layout of the published archive, in either of two forms::

        ROOT/<speaker>/<Emotion>/<speaker>_<NNNNNN>.wav             e.g. 0011/Angry/0011_000351.wav
        ROOT/<speaker>/<Emotion>/<train|evaluation|test>/<speaker>_<NNNNNN>.wav
        ROOT/<speaker>/<speaker>.txt                                 lines "0011_000001<TAB>text<TAB>emotion"

    ``<speaker>`` is four digits (0001-0010 Mandarin, 0011-0020 English); ``<Emotion>`` is Angry,
    Happy, Neutral, Sad or Surprise (-> surprised). ESD has no levels: intensity 1.0 (neutral 0.0).
    The text comes from the transcript when it has the clip (None otherwise); transcripts are read
    as UTF-16 (with a byte-order mark or NUL bytes), UTF-8, or else GB18030 for Mandarin and
    Latin-1 for English speakers, the encodings the published files use. ESD's own
    train/evaluation/test folders split each speaker's sentences, so the same identity would cross
    splits; they are ignored (split 'train') unless ``keep_splits``, which maps evaluation to 'val'.
    """
    folder = _root(root, "ESD")
    clips: dict[str, Clip] = {}
    for speaker in _subfolders(folder):
        if not _ESD_SPEAKER.fullmatch(speaker.name):
            continue
        transcript = _esd_transcript(speaker / f"{speaker.name}.txt", mandarin=int(speaker.name) <= 10)
        name = re.compile(rf"{speaker.name}_\d{{6}}")
        for emotion_folder, emotion in ESD_EMOTIONS.items():
            located = [(file, "train") for file in _files(speaker / emotion_folder)]
            for subfolder, split in ESD_SPLITS.items():
                located += [(file, split) for file in _files(speaker / emotion_folder / subfolder)]
            for file, split in located:
                # A copy holding both layouts lists a sentence twice; the first one found is kept.
                if file.suffix.lower() != ".wav" or not name.fullmatch(file.stem) or f"esd:{file.stem}" in clips:
                    continue
                clips[f"esd:{file.stem}"] = Clip(
                    id=f"esd:{file.stem}", audio=str(file), video=None, identity=f"esd:{speaker.name}",
                    emotion=emotion, intensity=0.0 if emotion == "neutral" else 1.0,
                    text=transcript.get(file.stem), split=split if keep_splits else "train", source="esd")
    if not clips:
        raise _none_found("ESD", folder, "0011/Angry/0011_000351.wav or 0011/Angry/train/0011_000351.wav")
    return [clips[key] for key in sorted(clips)]


def _esd_transcript(path: Path, mandarin: bool) -> dict[str, str]:
    """Utterance id -> text from one speaker's transcript, or nothing if there is none."""
    if not path.is_file():
        return {}
    text = _decode(path.read_bytes(), "gb18030" if mandarin else "latin-1")
    transcript = {}
    for line in text.splitlines():
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) < 2 or not fields[0]:
            continue
        # id, text, emotion; a few published lines lack the emotion column.
        words = " ".join(fields[1:-1]) if len(fields) > 2 else fields[1]
        if words:
            transcript[fields[0]] = words
    return transcript


def _decode(data: bytes, fallback: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if b"\x00" in data:
        return data.decode("utf-16-le", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode(fallback, errors="replace")
