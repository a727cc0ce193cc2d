"""A synthetic corpus of labelled talking-head clips, made with the embedded generators.

    emostudio data synth --out corpus/ [--identities 8] [--sentences 3] [--size 192] [--audio-sentences 4] [--threads 1]

Identities are variations of the bundled public-domain portraits (scikit-image's astronaut and
matplotlib's Grace Hopper): mirrored or not, face widened or narrowed, skin tone shifted, each
with its own voice (the Piper voice shifted in pitch and timbre). Every identity speaks every
sentence in all eight emotions at several intensities. Identities are split so that validation
and test speakers never appear in training. The result is an MP4 per clip and a manifest.
``--audio-sentences`` adds further sentences as sound only (a WAV per clip, far quicker to make),
so the audio branch hears more words than the faces need. Each clip is small work for the voice,
the face rig and the encoder, so one CPU thread (``--threads``, the default) makes the corpus as
fast as the libraries' default pools do, with less CPU time, and leaves the other cores free.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..conditioning import CATEGORIES, EmotionSpec, Timeline
from ..errors import EmostudioError
from ..generation.face.perception import analyze_image, default_portrait
from ..generation.face.render import WarpRenderer
from ..generation.face.talking_head import WarpTalkingHead, talk
from ..generation.speech.piper import PiperSpeechBackend, PiperVoice, default_voice_path
from ..generation.speech.variant import VoiceVariant
from .common import limit_cpu_threads
from .data.manifest import Clip, split_by_identity, write_manifest

SENTENCES = (
    "I did not expect to see you here today.",
    "The results came in this morning.",
    "We will have to talk about this later.",
    "Please put the box on the table.",
    "That is the last train of the night.",
    "Nobody told me that the door would be open.",
    "She opened the letter and read it twice.",
    "Tomorrow we are going back to the old house.",
    "The children are playing in the garden.",
    "I have been waiting here for an hour.",
)


@dataclass(frozen=True)
class Identity:
    name: str
    portrait: str  # "astronaut" or "grace_hopper"
    mirror: bool
    face_width: float  # horizontal scale of the face around its centre
    skin: float  # -1 darker .. +1 lighter
    voice_semitones: float
    voice_tilt_db: float


IDENTITIES = (
    Identity("astro-a", "astronaut", False, 1.00, 0.0, 0.0, 0.0),
    Identity("astro-b", "astronaut", True, 1.08, -0.6, -3.0, -2.0),
    Identity("astro-c", "astronaut", False, 0.93, 0.4, 3.0, 2.0),
    Identity("astro-d", "astronaut", True, 0.97, -0.9, -5.0, 1.0),
    Identity("hopper-a", "grace_hopper", False, 1.00, 0.0, 4.0, -1.0),
    Identity("hopper-b", "grace_hopper", True, 1.07, -0.7, 1.0, 3.0),
    Identity("hopper-c", "grace_hopper", False, 0.94, 0.5, 6.0, -3.0),
    Identity("hopper-d", "grace_hopper", True, 1.03, -0.3, -1.5, 0.0),
)


def base_portrait(name: str) -> np.ndarray:
    if name == "astronaut":
        return default_portrait()
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def make_portrait(identity: Identity, size: int) -> np.ndarray:
    """The identity's face: the base portrait framed, mirrored, reshaped and re-toned."""
    face = analyze_image(base_portrait(identity.portrait), size, identity.portrait)
    image, landmarks = face.image, face.landmarks.copy()
    if identity.mirror:
        image = np.ascontiguousarray(image[:, ::-1])
        face = analyze_image(image, size, identity.name)
        landmarks = face.landmarks.copy()
    renderer = WarpRenderer(image, landmarks)
    centre = landmarks[:, :2].mean(axis=0)
    reshaped = landmarks[:, :2].copy()
    reshaped[:, 0] = centre[0] + (reshaped[:, 0] - centre[0]) * identity.face_width
    image = renderer.render(reshaped)
    if identity.skin:
        import cv2

        mask = np.zeros(image.shape[:2], np.float32)
        from ..generation.face import topology

        cv2.fillPoly(mask, [np.round(reshaped[topology.FACE_OVAL]).astype(np.int32)], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), size / 40)[..., None]
        tone = np.array([1.0, 0.93, 0.85]) if identity.skin < 0 else np.array([1.0, 1.02, 1.04])
        toned = image * (1 + 0.3 * identity.skin) * (tone if identity.skin < 0 else 1.0)
        image = np.clip(image * (1 - mask) + toned * mask, 0, 255).astype(np.uint8)
    return image


def synthesize_corpus(out: str | Path, identities: int = 8, sentences: int = 3,
                      intensities: tuple[float, ...] = (0.5, 1.0), size: int = 192, seed: int = 0,
                      val_identities: int = 1, test_identities: int = 1, audio_sentences: int = 0,
                      threads: int = 1) -> Path:
    """Render the corpus into ``out`` and return its manifest path (``threads``: the voice's CPU threads, 0 = all)."""
    from tqdm import tqdm

    if not 1 <= identities <= len(IDENTITIES):
        raise EmostudioError(f"--identities must be between 1 and {len(IDENTITIES)}.")
    if not 1 <= sentences <= len(SENTENCES):
        raise EmostudioError(f"--sentences must be between 1 and {len(SENTENCES)}.")
    if not 0 <= audio_sentences <= len(SENTENCES) - sentences:
        raise EmostudioError(f"--audio-sentences must be between 0 and {len(SENTENCES) - sentences} with "
                             f"--sentences {sentences}.")
    if val_identities + test_identities >= identities:
        raise EmostudioError("Keep at least one identity for training: lower the held-out identities or add more.")
    if threads < 0:
        raise EmostudioError("--threads must be 0 (the libraries' defaults) or more.")
    folder = Path(out)
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    (folder / "portraits").mkdir(exist_ok=True)
    chosen = IDENTITIES[:identities]
    voice = PiperSpeechBackend(PiperVoice(default_voice_path(), threads=threads or None))
    head = WarpTalkingHead()
    jobs = []
    for identity in chosen:
        for emotion in CATEGORIES:
            for intensity in ((1.0,) if emotion == "neutral" else intensities):
                for number in range(sentences + audio_sentences):
                    jobs.append((identity, emotion, intensity, number))
    portraits: dict[str, Path] = {}
    clips: list[Clip] = []
    for index, (identity, emotion, intensity, number) in enumerate(tqdm(jobs, desc="synthetic clips", unit="clip")):
        if number >= sentences:  # sound only
            clip_id = f"{identity.name}_{emotion}_{int(intensity * 100):03d}_{number}"
            target = folder / "clips" / f"{clip_id}.wav"
            level = intensity if emotion != "neutral" else 0.0
            if not target.exists():
                spec = EmotionSpec.parse(emotion).with_intensity(level)
                speaker = VoiceVariant(voice, identity.voice_semitones, identity.voice_tilt_db)
                speaker.synthesize(Timeline.constant(SENTENCES[number], spec), seed=seed + index).save(target)
            clips.append(Clip(clip_id, str(target), None, f"synthetic:{identity.name}", emotion, level,
                              SENTENCES[number], "train", "synthetic"))
            continue
        if identity.name not in portraits:
            from PIL import Image

            path = folder / "portraits" / f"{identity.name}.png"
            Image.fromarray(make_portrait(identity, size)).save(path)
            portraits[identity.name] = path
        clip_id = f"{identity.name}_{emotion}_{int(intensity * 100):03d}_{number}"
        target = folder / "clips" / f"{clip_id}.mp4"
        if not target.exists():
            spec = EmotionSpec.parse(emotion).with_intensity(intensity if emotion != "neutral" else 0.0)
            talk(target, text=SENTENCES[number], emotion=spec, portrait=portraits[identity.name], size=size,
                 seed=seed + index, speech_backend=VoiceVariant(voice, identity.voice_semitones,
                                                                identity.voice_tilt_db),
                 head_backend=head)
        clips.append(Clip(clip_id, None, str(target), f"synthetic:{identity.name}", emotion,
                          intensity if emotion != "neutral" else 0.0, SENTENCES[number], "train", "synthetic"))
    names = [f"synthetic:{i.name}" for i in chosen]
    clips = split_by_identity(clips, names[len(names) - val_identities - test_identities: len(names) - test_identities],
                              names[len(names) - test_identities:])
    return write_manifest(clips, folder / "manifest.jsonl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio data synth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the clips and manifest.jsonl")
    parser.add_argument("--identities", type=int, default=8)
    parser.add_argument("--sentences", type=int, default=3)
    parser.add_argument("--intensities", default="0.5,1.0", help="comma-separated, for the non-neutral emotions")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--audio-sentences", type=int, default=0, help="further sentences as sound only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: as fast as more for these "
                        "small models; 0: the libraries' defaults)")
    args = parser.parse_args(argv)
    try:
        levels = tuple(float(x) for x in args.intensities.split(","))
        limit_cpu_threads(args.threads)
        path = synthesize_corpus(args.out, args.identities, args.sentences, levels, args.size, args.seed,
                                 audio_sentences=args.audio_sentences, threads=args.threads)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
