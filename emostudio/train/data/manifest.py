"""The one manifest of labelled clips that training reads and writes.

A manifest is a JSONL file: one clip per line, each line a JSON object with exactly these keys.

    id         unique name of the clip, e.g. "crema-d:1001_DFA_ANG_HI"
    audio      path of the sound (.wav, .m4a, ...) or null
    video      path of the video (.mp4, .flv, ...) or null; at least one of audio and video is set
    identity   the person recorded, "<corpus>:<speaker>" (e.g. "mead:M003"), so corpora never collide
    emotion    one of neutral, happy, sad, angry, fearful, disgusted, surprised, contempt
    intensity  0..1; 0 for neutral. Corpora with levels map them: MEAD level 1/2/3 -> 0.33/0.67/1.0,
               CREMA-D LO/MD/HI/XX -> 0.33/0.67/1.0/0.67, RAVDESS normal/strong -> 0.5/1.0, ESD 1.0
    text       the words spoken, or null when unknown
    split      "train", "val" or "test"; identities should not cross splits (see split_by_identity)
    source     the corpus the clip comes from ("mead", "crema-d", "ravdess", "esd", or your own name)

For example:

    {"id": "crema-d:1001_DFA_ANG_XX", "audio": "AudioWAV/1001_DFA_ANG_XX.wav", "video": null,
     "identity": "crema-d:1001", "emotion": "angry", "intensity": 0.67,
     "text": "Don't forget a jacket", "split": "train", "source": "crema-d"}

(one line in the file). Paths are stored relative to the manifest's folder when the file lies inside
it, so a dataset folder moves with its manifest, and absolute otherwise, always with forward
slashes. :func:`read_manifest` returns absolute paths.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...conditioning.taxonomy import CATEGORIES, canonical_category
from ...errors import EmostudioError, invalid_lines
from ...generation.media import atomic_output

SPLITS: tuple[str, ...] = ("train", "val", "test")
KEYS: tuple[str, ...] = ("id", "audio", "video", "identity", "emotion", "intensity", "text", "split", "source")
REQUIRED_KEYS: tuple[str, ...] = ("id", "identity", "emotion", "intensity", "split", "source")

_SPLIT_ALIASES = {"training": "train", "dev": "val", "valid": "val", "validation": "val", "eval": "val",
                  "evaluation": "val", "testing": "test"}


@dataclass
class Clip:
    """One labelled recording: a sound, a video or both, of one identity showing one emotion."""

    id: str
    audio: str | None
    video: str | None
    identity: str
    emotion: str
    intensity: float
    text: str | None
    split: str
    source: str


# -- reading and writing ---------------------------------------------------------------------------


def write_manifest(clips: Iterable[Clip], path: str | os.PathLike) -> Path:
    """Write clips as a manifest atomically, after checking them as :func:`read_manifest` would."""
    target = Path(path)
    folder = Path(os.path.abspath(target.parent))
    clips = list(clips)
    if not clips:
        raise EmostudioError(f"There are no clips to write to {target}; load a corpus or build clips first.")
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    first: dict[str, int] = {}
    for number, clip in enumerate(clips, start=1):
        row = _to_row(clip, folder)
        _, row_problems = _check_row(row, folder, check_files=False)
        _check_unique(row, number, first, row_problems, "clip")
        if row_problems:
            problems.append(f"clip {number} ({clip.id!r}): " + "; ".join(row_problems))
        rows.append(row)
    if problems:
        raise invalid_lines(problems, len(clips), f"clips for {target}", "fix them first (nothing was written)")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as temporary:
        temporary.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                             encoding="utf-8")
    return target


def read_manifest(path: str | os.PathLike, check_files: bool = True) -> list[Clip]:
    """All clips of a manifest, or one EmostudioError naming the file and every bad line."""
    source = Path(path)
    if not source.is_file():
        raise EmostudioError(f"The manifest {source} does not exist; give the path of a .jsonl manifest.")
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise EmostudioError(f"The manifest {source} is not UTF-8 text ({error.reason} at byte "
                             f"{error.start}); write it with write_manifest.") from None
    folder = Path(os.path.abspath(source.parent))
    clips: list[Clip] = []
    problems: list[str] = []
    first: dict[str, int] = {}
    count = 0
    # Split on newlines only: str.splitlines would also break at U+2028 inside a JSON string.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        count += 1
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {number}: expected a JSON object with the keys {', '.join(KEYS)}")
            continue
        clip, row_problems = _check_row(row, folder, check_files)
        _check_unique(row, number, first, row_problems, "line")
        if row_problems:
            problems.append(f"line {number}: " + "; ".join(row_problems))
        elif clip is not None:
            clips.append(clip)
    if problems:
        raise invalid_lines(problems, count, f"lines in the manifest {source}", "fix them and read it again")
    if not clips:
        raise EmostudioError(f"The manifest {source} has no clips; write one clip per line.")
    return clips


def _to_row(clip: Clip, folder: Path) -> dict[str, Any]:
    intensity: Any = clip.intensity
    if isinstance(intensity, numbers.Real) and not isinstance(intensity, bool):
        intensity = float(intensity)  # NumPy scalars are not JSON serialisable
    return {"id": clip.id, "audio": _stored_path(clip.audio, folder), "video": _stored_path(clip.video, folder),
            "identity": clip.identity, "emotion": clip.emotion, "intensity": intensity, "text": clip.text,
            "split": clip.split, "source": clip.source}


def _stored_path(value: Any, folder: Path) -> Any:
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        return value  # left for the check to report
    absolute = Path(os.path.abspath(value))
    try:
        return absolute.relative_to(folder).as_posix()
    except ValueError:
        return absolute.as_posix()


def _check_unique(row: dict[str, Any], number: int, first: dict[str, int], problems: list[str],
                  unit: str) -> None:
    clip_id = row.get("id")
    if not isinstance(clip_id, str) or not clip_id.strip():
        return
    if clip_id in first:
        problems.append(f"id {clip_id!r} is already used on {unit} {first[clip_id]}")
    else:
        first[clip_id] = number


def _check_row(row: dict[str, Any], folder: Path, check_files: bool) -> tuple[Clip | None, list[str]]:
    """The clip a manifest row describes, and every problem with it."""
    problems: list[str] = []
    unknown = [key for key in row if key not in KEYS]
    if unknown:
        problems.append(f"unknown key {', '.join(map(repr, unknown))} (the keys are {', '.join(KEYS)})")
    missing = [key for key in REQUIRED_KEYS if key not in row]
    if missing:
        problems.append(f"missing key {', '.join(map(repr, missing))}")
    for key in ("id", "identity", "source"):
        if key in row and (not isinstance(row[key], str) or not row[key].strip()):
            problems.append(f"{key} must be a non-empty string, not {row[key]!r}")
    if "emotion" in row and row["emotion"] not in CATEGORIES:
        problems.append(_emotion_problem(row["emotion"]))
    intensity = row.get("intensity")
    if "intensity" in row:
        if isinstance(intensity, bool) or not isinstance(intensity, (int, float)):
            problems.append(f"intensity must be a number in 0..1, not {intensity!r}")
        elif math.isnan(intensity) or not 0.0 <= intensity <= 1.0:
            problems.append(f"intensity {intensity} is outside 0..1")
    if row.get("text") is not None and not isinstance(row["text"], str):
        problems.append(f"text must be a string or null, not {row['text']!r}")
    if "split" in row and row["split"] not in SPLITS:
        problems.append(_split_problem(row["split"]))
    media: dict[str, str | None] = {"audio": None, "video": None}
    for key in media:
        value = row.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key} must be a file path or null, not {value!r}")
            continue
        path = Path(os.path.abspath(folder / value))
        if check_files and not path.is_file():
            where = "is not a file" if path.exists() else "does not exist"
            problems.append(f"{key} file {value!r} {where}")
        media[key] = str(path)
    if row.get("audio") is None and row.get("video") is None:
        problems.append("neither audio nor video is given; set at least one of them")
    if problems:
        return None, problems
    return Clip(id=row["id"], audio=media["audio"], video=media["video"], identity=row["identity"],
                emotion=row["emotion"], intensity=float(intensity), text=row.get("text"), split=row["split"],
                source=row["source"]), []


def _emotion_problem(label: Any) -> str:
    choices = ", ".join(CATEGORIES)
    if not isinstance(label, str):
        return f"emotion must be one of {choices}, not {label!r}"
    nearest = canonical_category(label) or next(iter(difflib.get_close_matches(
        label.strip().lower(), CATEGORIES, n=1, cutoff=0.5)), None)
    hint = f"did you mean {nearest!r}? " if nearest else ""
    return f"unknown emotion {label!r} ({hint}the emotions are {choices})"


def _split_problem(split: Any) -> str:
    nearest = _SPLIT_ALIASES.get(split.strip().lower()) if isinstance(split, str) else None
    hint = f"did you mean {nearest!r}? " if nearest else ""
    return f"unknown split {split!r} ({hint}the splits are {', '.join(SPLITS)})"


# -- splits and overview ---------------------------------------------------------------------------


def check_splits(clips: Iterable[Clip], required: Iterable[str] = ("train", "val")) -> None:
    """Raise an EmostudioError naming every required split that has no clips."""
    present = {clip.split for clip in clips}
    empty = [split for split in required if split not in present]
    if empty:
        names = " and ".join(repr(split) for split in empty)
        verb = "splits have" if len(empty) > 1 else "split has"
        raise EmostudioError(f"The {names} {verb} no clips; hold out some identities with split_by_identity "
                             "or set 'split' in the manifest.")


def split_by_identity(clips: Iterable[Clip], val_identities: Iterable[str] | str,
                      test_identities: Iterable[str] | str = ()) -> list[Clip]:
    """Copies of the clips with split 'val' or 'test' for the held-out identities and 'train' for the rest."""
    clips = list(clips)
    val, test = _identity_set(val_identities), _identity_set(test_identities)
    both = sorted(val & test)
    if both:
        raise EmostudioError(f"The identities {', '.join(map(repr, both))} are held out for both val and test; "
                             "give each identity to one split.")
    known = {clip.identity for clip in clips}
    unknown = sorted((val | test) - known)
    if unknown:
        hints = []
        for identity in unknown:
            close = difflib.get_close_matches(identity, sorted(known), n=1, cutoff=0.6)
            hints.append(f"{identity!r} (did you mean {close[0]!r}?)" if close else repr(identity))
        raise EmostudioError(f"No clips have the identities {', '.join(hints)}; identities are written "
                             "'<corpus>:<speaker>', e.g. 'mead:M003' (see summary(clips) for all of them).")
    return [replace(clip, split="val" if clip.identity in val else "test" if clip.identity in test else "train")
            for clip in clips]


def _identity_set(identities: Iterable[str] | str) -> set[str]:
    # A lone string is one identity, not a sequence of one-letter identities.
    return {identities} if isinstance(identities, str) else set(identities)


def summary(clips: Iterable[Clip]) -> str:
    """A few lines counting the clips per source, split, emotion and identity."""
    clips = list(clips)
    identities = sorted({clip.identity for clip in clips})
    sources = Counter(clip.source for clip in clips)
    splits = Counter(clip.split for clip in clips)
    emotions = Counter(clip.emotion for clip in clips)
    lines = [f"{len(clips)} clips of {len(identities)} identities from "
             + (", ".join(f"{name} ({count})" for name, count in sorted(sources.items())) or "no corpus"),
             "splits: " + ", ".join(f"{split} {splits[split]}" for split in SPLITS),
             "emotions: " + ", ".join(f"{emotion} {emotions[emotion]}" for emotion in CATEGORIES)]
    extra = sorted(set(splits) - set(SPLITS)) + sorted(set(emotions) - set(CATEGORIES))
    if extra:
        lines.append("unknown labels: " + ", ".join(map(str, extra)))
    if identities:
        per_identity: dict[str, Counter[str]] = {identity: Counter() for identity in identities}
        for clip in clips:
            per_identity[clip.identity][clip.split] += 1
        width = max(map(len, identities))
        lines.append("identities:")
        for identity in identities:
            counts = per_identity[identity]
            # More than one split here means the identity leaks between them.
            where = "+".join(split for split in (*SPLITS, *sorted(set(counts) - set(SPLITS))) if counts[split])
            total = sum(counts.values())
            lines.append(f"  {identity:<{width}}  {total:>6} clip{'' if total == 1 else 's'}  {where}")
    return "\n".join(lines)
