"""Can an outside observer read the talking head's emotions? An independent classifier decides.

Renders a short spoken clip per emotion (neutral and the seven categories, intensity 1) on every
portrait of the given folders (the development portraits; portraits of people the project has
never seen, drawn by ``heldout_portraits.py``) and on faces of the synthetic corpus
(``emostudio.train.synth``), and hands the MP4s to an outside facial-expression reader: a script
that prints one JSON line per file with the mean FER2013 class probabilities over sampled frames
(``--reader``; run as ``python READER FILE ...`` by the Python that runs this script). The reader
was trained on data unrelated to this project, so it judges as a viewer would; it is never a
dependency of the package. ``fer_cnn_reader.py`` is a second reader, one no fit has used.

Per emotion and portrait the table gives the reader's top class and the probability of the asked
class, identity (Procrustes disparity of the tracked landmarks to the own portrait, as a ratio to
the nearest other portrait, as ``talking_head_quality.py`` measures it) and lip sync (Pearson r of
the measured mouth opening against the loudness envelope at the best lag within +-3 frames).
Contempt, which FER2013 does not have, is checked by its action unit: the subject's right lip
corner rises above the left. Disgust, which FER2013 readers find in almost no photograph of real
disgust (``reader_on_photos.py``), is checked by its two units as well: the upper lip comes nearer
the nose tip (AU10) and the nose wings nearer the inner eye corners (AU9). A contact sheet of the
apex frames goes to docs/face_legibility.jpg.

    python benchmarks/face_legibility.py --portraits DIR --reader READER.py [--size 320] [--synthetic 4]

For quick checks while tuning, ``--faces NAME ...`` keeps only those faces and ``--no-variants``
skips the weaker and mixed versions; ``--table`` renders with another expression table (``emfacs``:
the prototypes before any fit), the same faces with the fit switched off. Such a run writes its
sheet and table under benchmarks/results/ instead of docs/.

Renders are cached (``--cache``, default ~/.cache/emostudio/face_legibility) by a hash of the face
code, so a run after a rig change renders again and a repeated run only reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from talking_head_quality import (MEASURES, STABLE_POINTS, disparity, lagged, measure_clip,  # noqa: E402
                                  use_expression_table)

from emostudio.conditioning import CATEGORIES, EmotionSpec, controls  # noqa: E402
from emostudio.generation.face import topology as T  # noqa: E402
from emostudio.generation.face.lipsync import loudness_envelope  # noqa: E402
from emostudio.generation.face.perception import FaceAnalysis, LandmarkTracker, analyze_image, analyze_portrait  # noqa: E402
from emostudio.generation.face.rig import FaceFrame  # noqa: E402
from emostudio.generation.face.talking_head import DrivingSpeech, WarpTalkingHead  # noqa: E402
from emostudio.generation.media import VideoWriter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHEET = ROOT / "docs" / "face_legibility.jpg"
FPS = 25.0
SEED = 0
SENTENCE = "I really did not think it would turn out like this."
READER_CLASSES = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
MAX_LAG_FRAMES = 3
TILE = 160
# Weaker and mixed versions: (name, spec string, intensity, the classes that count as a right reading).
VARIANTS: tuple[tuple[str, str, float, tuple[str, ...]], ...] = tuple(
    (f"{name}@0.5", name, 0.5, (name, "neutral")) for name in ("happy", "sad", "angry", "fearful", "disgusted",
                                                               "surprised")
) + (
    ("happy+surprised", "happy:0.5+surprised:0.5", 1.0, ("happy", "surprised")),
    ("sad+angry", "sad:0.5+angry:0.5", 1.0, ("sad", "angry")),
    ("fearful+surprised", "fearful:0.5+surprised:0.5", 1.0, ("fearful", "surprised")),
    ("sad+disgusted", "sad:0.5+disgusted:0.5", 1.0, ("sad", "disgusted")),
)


@dataclass
class Face:
    name: str
    person: str  # faces of the same person are never compared as "another person"
    analysis: FaceAnalysis


def code_hash() -> str:
    """Hash of everything that shapes a rendered face: the face package, the heads and their tables."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "emostudio" / "generation" / "face").glob("*.py")):
        digest.update(path.read_bytes())
    for path in ("conditioning/heads.py", "conditioning/controls.py", "assets/expression_table.json"):
        digest.update((ROOT / "emostudio" / path).read_bytes())
    return digest.hexdigest()[:12]


def portrait_faces(folders: list[Path], size: int) -> list[Face]:
    faces = []
    for path in sorted((path for folder in folders for path in folder.glob("*")), key=lambda path: path.name):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}:
            faces.append(Face(path.stem, path.stem, analyze_portrait(path, size)))
    return faces


def synthetic_faces(count: int, size: int) -> list[Face]:
    """Faces the synthetic corpus makes; identities from two base photos (two people)."""
    from emostudio.train.synth import IDENTITIES, make_portrait

    # Alternate the two base people so a small count still has both.
    ordered = [i for pair in zip(IDENTITIES[:4], IDENTITIES[4:]) for i in pair]
    faces = []
    for identity in ordered[:count]:
        image = make_portrait(identity, size)
        faces.append(Face(f"synth-{identity.name}", identity.portrait, analyze_image(image, size, identity.name)))
    return faces


def emotion_spec(name: str, intensity: float = 1.0) -> EmotionSpec:
    if name == "neutral":
        return EmotionSpec.neutral()
    if name in CATEGORIES:
        return EmotionSpec({name: 1.0}, intensity, "category", name)
    return EmotionSpec.parse(name).with_intensity(intensity)


def spoken_sentence() -> DrivingSpeech:
    from emostudio.generation.speech.piper import PiperSpeechBackend

    spoken = PiperSpeechBackend().speak(SENTENCE, "neutral", seed=SEED)
    return DrivingSpeech(spoken.waveform, spoken.sample_rate, spoken.segments, spoken.phonemes)


def with_emotion(speech: DrivingSpeech, spec: EmotionSpec) -> DrivingSpeech:
    """The same sound and mouth, the face told to show ``spec``."""
    segments = [type(s)(s.text, spec, s.start, s.end) for s in speech.segments]
    return DrivingSpeech(speech.audio, speech.sample_rate, segments, speech.phonemes)


@dataclass
class Clip:
    face: str
    emotion: str
    path: Path
    apex: np.ndarray  # the apex frame, RGB
    points: np.ndarray  # (F, 478, 2) tracked on the frames
    apex_index: int


def apex_index(head: WarpTalkingHead, speech: DrivingSpeech) -> int:
    """The frame where the emotion's action units are strongest with the eyes open."""
    from emostudio.conditioning.heads import ACTION_UNITS

    animation = head.animate(speech, FPS, SEED)
    strength = animation.controls[:, : len(ACTION_UNITS)].sum(axis=1) * (animation.motion.blink < 0.05)
    if not strength.any():
        strength = 1.0 - animation.motion.blink
    return int(np.argmax(strength))


def render_clip(head: WarpTalkingHead, face: Face, emotion: str, speech: DrivingSpeech, folder: Path,
                spec: EmotionSpec | None = None) -> Clip:
    path = folder / f"{face.name}_{emotion.replace('@', '-at-').replace('+', '-and-')}.mp4"
    points_path = path.with_suffix(".npz")
    driving = with_emotion(speech, spec or emotion_spec(emotion))
    apex = apex_index(head, driving)
    if path.exists() and points_path.exists():
        stored = np.load(points_path)
        return Clip(face.name, emotion, path, stored["apex"], stored["points"], apex)
    frames = list(head.frames(face.analysis, driving, FPS, SEED))
    image = face.analysis.image
    with VideoWriter(path, image.shape[1], image.shape[0], FPS, audio=driving.audio,
                     sample_rate=driving.sample_rate) as writer:
        for frame in frames:
            writer.write(frame)
    with LandmarkTracker() as tracker:
        tracked = [tracker(frame) for frame in frames]
    points = np.stack([np.full((478, 2), np.nan) if p is None else p[:, :2].astype(np.float64) for p in tracked])
    np.savez_compressed(points_path, points=points, apex=frames[apex])
    return Clip(face.name, emotion, path, frames[apex], points, apex)


def read_emotions(reader: Path, paths: list[Path]) -> dict[Path, dict]:
    """The outside reader's verdict per file (one process for all files)."""
    result = subprocess.run([sys.executable, str(reader), *map(str, paths)], capture_output=True, text=True,
                            check=True)
    verdicts = {}
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            record = json.loads(line)
            verdicts[Path(record["file"])] = record
    return verdicts


def lip_sync(clip: Clip, speech: DrivingSpeech) -> float:
    mouth = measure_clip(clip.points)[:, list(MEASURES).index("mouth_open")]
    times = np.arange(len(mouth)) / FPS
    loudness = loudness_envelope(speech.audio, speech.sample_rate, times)
    return max(lagged(mouth, loudness, lag) for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1))


def identity_ratio(clip: Clip, own: Face, others: list[Face]) -> float:
    """Disparity of the apex frame's tracked landmarks to the own portrait / to the nearest other person."""
    points = clip.points[clip.apex_index]
    if np.isnan(points).any() or not others:
        return float("nan")
    return disparity(points, own.analysis.landmarks) / min(disparity(points, o.analysis.landmarks) for o in others)


def stable_identity_ratio(clip: Clip, own: Face, others: list[Face]) -> float:
    from scipy.spatial import procrustes

    points = clip.points[clip.apex_index]
    if np.isnan(points).any() or not others:
        return float("nan")

    def gap(face: Face) -> float:
        return float(procrustes(points[STABLE_POINTS], face.analysis.landmarks[STABLE_POINTS, :2])[2])

    return gap(own) / min(gap(o) for o in others)


def contempt_lift(clip: Clip, neutral: Clip) -> float:
    """How much higher the subject's right lip corner sits than the left, vs neutral (% interocular)."""
    index = list(MEASURES).index("corner_asym")
    value = lambda c: np.nanmedian(measure_clip(c.points[len(c.points) // 3:])[:, index])  # noqa: E731
    return 100 * float(value(clip) - value(neutral))


def disgust_units(clip: Clip, neutral: Clip) -> tuple[float, float]:
    """How much nearer the upper lip comes to the nose tip (AU10) and the nose wings to the inner eye
    corners (AU9) than in the neutral clip (% interocular; > 0: nearer). Distances within the face,
    so that lids moving the eye line (the face frame's origin) do not enter."""
    def gaps(c: Clip) -> np.ndarray:
        points = c.points[len(c.points) // 3:, :468]
        scale = np.array([FaceFrame.from_landmarks(frame).scale for frame in points])  # interocular distance
        lip = np.linalg.norm(points[:, T.UPPER_LIP_OUTER_CENTER].mean(1) - points[:, T.NOSE_TIP], axis=-1)
        corners = points[:, [T.RIGHT_EYE_INNER, T.LEFT_EYE_INNER]].mean(1)
        wings = np.linalg.norm(points[:, T.RIGHT_NOSE_WING + T.LEFT_NOSE_WING].mean(1) - corners, axis=-1)
        return np.nanmedian(np.stack([lip, wings], axis=1) / scale[:, None], axis=0)

    lip, wings = 100 * (gaps(neutral) - gaps(clip))
    return float(lip), float(wings)


def face_crop(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    centre = points[T.FACE_OVAL].mean(axis=0)
    half = 0.62 * np.ptp(points[T.FACE_OVAL], axis=0).max()
    x0, y0 = np.round(centre - half).astype(int)
    x1, y1 = np.round(centre + half).astype(int)
    padded = cv2.copyMakeBorder(frame, 200, 200, 200, 200, cv2.BORDER_REFLECT)
    crop = padded[y0 + 200:y1 + 200, x0 + 200:x1 + 200]
    return cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)


def contact_sheet(faces: list[Face], clips: dict[tuple[str, str], Clip], verdicts: dict[Path, dict],
                  path: Path) -> None:
    from PIL import Image, ImageDraw

    rows = []
    for face in faces:
        tiles = []
        for emotion in CATEGORIES:
            clip = clips[face.name, emotion]
            points = face.analysis.landmarks[:, :2]
            tile = Image.fromarray(face_crop(clip.apex, points))
            draw = ImageDraw.Draw(tile)
            verdict = verdicts.get(clip.path, {})
            top = verdict.get("top", "-")
            asked = verdict.get("probs", {}).get(emotion)
            label = f"{emotion}" + ("" if asked is None else f" {asked:.2f}")
            draw.rectangle((0, 0, TILE, 24), fill=(0, 0, 0))
            draw.text((4, 1), label, fill=(255, 255, 0))
            draw.text((4, 12), f"reads {top}", fill=(120, 255, 120) if top == emotion else (255, 140, 140))
            tiles.append(np.asarray(tile))
        rows.append(np.concatenate(tiles, axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portraits", type=Path, nargs="+", required=True,
                        help="folders of portraits (development portraits, heldout_portraits.py draws)")
    parser.add_argument("--reader", type=Path, required=True, help="the outside expression reader script")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--synthetic", type=int, default=4, help="how many synthetic-corpus faces")
    parser.add_argument("--faces", nargs="+", help="only these faces (portrait stems, synth-NAME)")
    parser.add_argument("--no-variants", action="store_true", help="skip the weaker and mixed versions")
    parser.add_argument("--table", help="render with another expression table: a file written by "
                        "fit_expression_table.py (one from an earlier commit, say) or 'emfacs' for the unfitted "
                        "prototypes")
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "emostudio" / "face_legibility")
    args = parser.parse_args()
    if args.table:
        use_expression_table(args.table)  # a wrong name fails before any face is analysed

    started = time.perf_counter()
    print(f"Face legibility: {args.size} px, {FPS:g} fps, seed {SEED}; the machine was shared, times are rough.")
    faces = portrait_faces(args.portraits, args.size) + synthetic_faces(args.synthetic, args.size)
    subset = bool(args.faces) or args.no_variants or bool(args.table)
    if args.faces:
        unknown = sorted(set(args.faces) - {face.name for face in faces})
        if unknown:
            parser.error(f"no face named {', '.join(unknown)}; the faces are {', '.join(f.name for f in faces)}")
        faces = [face for face in faces if face.name in args.faces]
    sheet = args.sheet or (RESULTS / "face_legibility_subset.jpg" if subset else SHEET)
    table = args.json or RESULTS / ("face_legibility_subset.json" if subset else "face_legibility.json")
    variant_list = () if args.no_variants else VARIANTS
    speech = spoken_sentence()
    print(f"{len(faces)} faces; sentence {speech.duration:.1f} s: {SENTENCE!r}")
    folder = args.cache / f"{code_hash()}_{args.size}"
    if args.table:
        rows = json.dumps(controls.DEFAULT_EXPRESSION_TABLE, sort_keys=True).encode()
        folder = folder.with_name(f"{folder.name}_table-{hashlib.sha256(rows).hexdigest()[:8]}")
    folder.mkdir(parents=True, exist_ok=True)
    head = WarpTalkingHead()
    clips = {(face.name, emotion): render_clip(head, face, emotion, speech, folder)
             for face in faces for emotion in CATEGORIES}
    variants = {(face.name, name): render_clip(head, face, name, speech, folder, emotion_spec(spec, intensity))
                for face in faces for name, spec, intensity, _ in variant_list}
    print(f"rendered/loaded {len(clips) + len(variants)} clips in {time.perf_counter() - started:.0f} s")
    verdicts = read_emotions(args.reader, [c.path for c in [*clips.values(), *variants.values()]])

    rows = []
    print("ident: Procrustes disparity of the apex frame's 468 tracked points to the own portrait / to the nearest "
          "other person's; stable: the same on the points expressions leave in place (nose, eye corners, upper outline)")
    print(f"\n{'face':<20} {'emotion':<10} {'reads':<10} {'p(top)':>6} {'p(asked)':>8} {'ident':>6} {'stable':>6} "
          f"{'sync r':>6}")
    for face in faces:
        others = [f for f in faces if f.person != face.person]
        for emotion in CATEGORIES:
            clip = clips[face.name, emotion]
            verdict = verdicts.get(clip.path, {"faces": 0})
            probs = verdict.get("probs", {})
            top = verdict.get("top", "-")
            asked = probs.get(emotion, float("nan"))
            row = {"face": face.name, "synthetic": face.name.startswith("synth-"), "emotion": emotion,
                   "top": top, "p_top": probs.get(top, float("nan")), "p_asked": asked,
                   "identity": identity_ratio(clip, face, others),
                   "identity_stable": stable_identity_ratio(clip, face, others), "sync": lip_sync(clip, speech),
                   "probs": probs}
            if emotion == "contempt":
                row["contempt_lift"] = contempt_lift(clip, clips[face.name, "neutral"])
                top_note = f"{top} (AU14R lift {row['contempt_lift']:+.1f}%)"
            elif emotion == "disgusted":
                row["disgust_units"] = disgust_units(clip, clips[face.name, "neutral"])
                top_note = f"{top} (AU10/AU9 {row['disgust_units'][0]:+.1f}%/{row['disgust_units'][1]:+.1f}%)"
            else:
                top_note = top
            rows.append(row)
            print(f"{face.name:<20} {emotion:<10} {top_note:<10} {row['p_top']:6.2f} {asked:8.2f} "
                  f"{row['identity']:6.2f} {row['identity_stable']:6.2f} {row['sync']:6.2f}")

    print("\nPer emotion: clips where the reader's top class is the asked one (contempt: right corner rises "
          ">= 1% of the interocular distance)")
    print(f"{'emotion':<10} {'portraits':>12} {'synthetic':>10} {'all':>8} {'mean p':>7}")
    summary = {}
    for emotion in CATEGORIES:
        picked = [r for r in rows if r["emotion"] == emotion]

        def hit(r: dict) -> bool:
            return r.get("contempt_lift", 0) >= 1.0 if emotion == "contempt" else r["top"] == emotion

        dev = [hit(r) for r in picked if not r["synthetic"]]
        syn = [hit(r) for r in picked if r["synthetic"]]
        mean_p = float(np.nanmean([r["p_asked"] for r in picked])) if emotion != "contempt" else float("nan")
        summary[emotion] = {"development": [sum(dev), len(dev)], "synthetic": [sum(syn), len(syn)], "mean_p": mean_p}
        print(f"{emotion:<10} {sum(dev):>5}/{len(dev):<6} {sum(syn):>4}/{len(syn):<5} "
              f"{(sum(dev) + sum(syn)) / max(len(dev) + len(syn), 1):8.0%} {mean_p:7.2f}")
    shown = [r["disgust_units"] for r in rows if r["emotion"] == "disgusted"]
    both = sum(lip >= 1.0 and wings >= 1.0 for lip, wings in shown)
    summary["disgusted"]["action_units"] = [both, len(shown)]
    print(f"disgusted, by its action units instead (FER2013 readers find disgust in almost no photograph of it): "
          f"upper lip nearer the nose tip (AU10) and nose wings nearer the eyes (AU9), each by >= 1% of the "
          f"interocular distance, in {both}/{len(shown)} clips (median {np.median([u[0] for u in shown]):+.1f}% "
          f"and {np.median([u[1] for u in shown]):+.1f}%)")
    identity = np.array([r["identity"] for r in rows])
    stable = np.array([r["identity_stable"] for r in rows])
    sync = np.array([r["sync"] for r in rows])
    print(f"identity: {np.sum(identity < 1)}/{np.isfinite(identity).sum()} apex frames nearer their own portrait "
          f"than another person's (median ratio {np.nanmedian(identity):.2f}); on the stable points "
          f"{np.sum(stable < 1)}/{np.isfinite(stable).sum()} (median {np.nanmedian(stable):.2f}); "
          f"lip sync mean r {np.nanmean(sync):.2f}")
    print("\nWeaker and mixed versions: clips whose top class is one of the right ones (half intensity: the "
          "emotion or neutral; a mixture: either component), and the mean probability of the asked emotions")
    print(f"{'version':<18} {'right':>8} {'reads as (count)'}")
    variant_summary = {}
    for name, _, _, right in variant_list:
        tops = [verdicts.get(variants[face.name, name].path, {}).get("top", "-") for face in faces]
        counts = {top: tops.count(top) for top in sorted(set(tops))}
        good = sum(top in right for top in tops)
        variant_summary[name] = {"right": [good, len(tops)], "tops": counts}
        print(f"{name:<18} {good:>3}/{len(tops):<4} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    contact_sheet(faces, clips, verdicts, sheet)
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(json.dumps({"size": args.size, "rows": rows, "summary": summary,
                                 "variants": variant_summary}, indent=1))
    print(f"contact sheet: {sheet}; table: {table}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
