"""Quality of the embedded (warp) talking head, measured with MediaPipe on the rendered frames.

Three portraits: the bundled default (NASA's astronaut Eileen Collins), matplotlib's sample photo
of Grace Hopper, and a VARIATION of the astronaut (mirrored left-right, skin shifted darker) that
is the same person and is never used as "another person". Sections:

1. Lip sync: mouth opening measured on every frame against the speech loudness envelope.
2. Expression: landmark proxies of the FACS action units, each emotion against neutral.
3. Identity: Procrustes shape disparity to the own portrait vs to another person, and SSIM of the
   rendered face against the portrait.

All landmark measures are in face units (interocular distance = 1) of a FaceFrame built from the
landmarks MEASURED on each frame, so the head's motion is factored out. That frame hangs on the
eyes, so it is only as steady as the eyes themselves: section 2 also reports how far the eyes move
within the face, which biases every proxy. A figure is saved to
benchmarks/results/talking_head_quality.png. MediaPipe logs to stderr; ``2>/dev/null`` hides it.

    python benchmarks/talking_head_quality.py [--size 384] [--quick]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import procrustes

from emostudio.conditioning import CATEGORIES, EmotionSpec, controls
from emostudio.conditioning.heads import EXPRESSION_UNITS
from emostudio.errors import EmostudioError
from emostudio.generation.face import topology as T
from emostudio.generation.face.lipsync import loudness_envelope
from emostudio.generation.face.perception import (FaceAnalysis, LandmarkTracker, analyze_image,
                                                  analyze_portrait, default_portrait)
from emostudio.generation.face.rig import FaceFrame, FaceRig
from emostudio.generation.face.talking_head import DrivingSpeech, WarpTalkingHead
from emostudio.generation.speech.base import SegmentTiming
from emostudio.generation.speech.piper import PiperSpeechBackend

FPS = 25.0
SEED = 0
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please put the boxes in the kitchen and close the door behind you.",
    "Nobody expected the results to arrive so early in the week.",
)
MAX_LAG_FRAMES = 3
EXPRESSION_SECONDS = 1.5
NOISE_RMS = 0.003  # quiet but not silent: the audio-driven mouth stays at rest
BLINK_FRACTION = 0.6  # frames whose eye opening is below this share of the clip's median are blinks
# A delta must be at least this large (face units: 0.005 = 0.5% of the interocular distance,
# about 1/3 pixel at 384) to count as a movement; smaller ones are within tracking noise.
MIN_EFFECT = 0.005
MESH = slice(0, 468)
# What an expression leaves in place (nose, eye corners, the outline above the mouth): identity on
# these is not confounded by the expression itself (a smile moves half the mesh).
STABLE_POINTS = sorted({*T.FACE_OVAL[:9], *T.FACE_OVAL[-8:], T.NOSE_TIP, 1, 2, 98, 327, 168, 6, 197, 195, 5,
                        *T.RIGHT_NOSE_WING, *T.LEFT_NOSE_WING, T.RIGHT_EYE_INNER, T.RIGHT_EYE_OUTER,
                        T.LEFT_EYE_INNER, T.LEFT_EYE_OUTER})
REST_FRAMES = 2  # the first frames of a clip, before the expression sets in: the resting face
RESULTS = Path(__file__).resolve().parent / "results"


# ---- Portraits ------------------------------------------------------------------------------

@dataclass
class Portrait:
    name: str
    person: str  # portraits of the same person are never compared as "different people"
    face: FaceAnalysis


def darker_mirrored_astronaut() -> np.ndarray:
    """The default portrait mirrored left-right, with the skin of face and neck made darker.

    A variation of the same person (not a new identity): in CIELAB, skin pixels (YCrCb skin
    range, within an ellipse around the detected face) get L* x 0.58 and slightly more red and
    yellow (a* +3, b* +7 on OpenCV's 8-bit scale), which keeps the photo's shading and texture.
    """
    rgb = np.ascontiguousarray(default_portrait()[:, ::-1])
    x0, y0, x1, y1 = analyze_image(rgb, 256, "the mirrored portrait").source_box
    skin = cv2.inRange(cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb), (40, 135, 85), (255, 175, 130))
    kernel = np.ones((5, 5), np.uint8)
    skin = cv2.morphologyEx(cv2.morphologyEx(skin, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    # The ellipse keeps the orange suit, the flag and the wall out of the mask.
    around_face = np.zeros_like(skin)
    width, height = x1 - x0, y1 - y0
    centre = (round((x0 + x1) / 2), round((y0 + y1) / 2 + 0.15 * height))
    cv2.ellipse(around_face, centre, (round(0.8 * width), round(height)), 0, 0, 360, 255, -1)
    mask = cv2.GaussianBlur((skin & around_face).astype(np.float32) / 255, (0, 0), 3)[..., None]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    darker = lab * np.array([0.58, 1.0, 1.0], np.float32) + np.array([0.0, 3.0, 7.0], np.float32)
    mixed = np.clip(lab * (1 - mask) + darker * mask, 0, 255).astype(np.uint8)
    return cv2.cvtColor(mixed, cv2.COLOR_LAB2RGB)


def load_portraits(size: int) -> list[Portrait]:
    """The three portraits, framed at ``size``; one that fails detection is reported and skipped."""
    import matplotlib.cbook

    loaders = [
        ("astronaut", "Collins", lambda: analyze_portrait(None, size)),
        ("hopper", "Hopper",
         lambda: analyze_portrait(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), size)),
        ("astro-mirror-dark", "Collins",
         lambda: analyze_image(darker_mirrored_astronaut(), size, "the darker mirrored astronaut")),
    ]
    portraits = []
    for name, person, load in loaders:
        try:
            face = load()
        except (EmostudioError, OSError) as error:
            print(f"  {name}: SKIPPED, detection failed ({error})")
            continue
        note = "; ".join(face.warnings) or "ok"
        print(f"  {name:<18} person={person:<8} interocular {face.interocular:5.1f} px  {note}")
        portraits.append(Portrait(name, person, face))
    return portraits


# ---- Rendering and tracking -----------------------------------------------------------------

def use_expression_table(table: str) -> None:
    """Render with another expression table from here on: a file written by
    ``fit_expression_table.py`` (one from an earlier commit, say), ``emfacs`` for the unfitted
    prototypes, or ``shipped``. The embedded backend reads the default table at each render."""
    path = {"emfacs": None, "shipped": controls.EXPRESSION_TABLE_PATH}.get(table, Path(table))
    if path is not None and not path.is_file():
        raise SystemExit(f"No expression table {table!r}: give a table file written by fit_expression_table.py "
                         "(e.g. git show COMMIT:emostudio/assets/expression_table.json > old.json), emfacs or shipped.")
    rows = controls.expression_rows(controls.load_expression_table(path))
    controls.DEFAULT_EXPRESSION_TABLE.clear()
    controls.DEFAULT_EXPRESSION_TABLE.update(rows)


def emotion_spec(name: str) -> EmotionSpec:
    return EmotionSpec.neutral() if name == "neutral" else EmotionSpec({name: 1.0}, 1.0, "category", name)


def quiet_speech(spec: EmotionSpec, seconds: float, rate: int = 22050) -> DrivingSpeech:
    """Constant quiet noise (the same samples every time) carrying one emotion, no phonemes."""
    noise = NOISE_RMS * np.random.default_rng(SEED).standard_normal(round(seconds * rate))
    return DrivingSpeech(noise.astype(np.float32), rate, [SegmentTiming("", spec, 0.0, seconds)], None)


def render(head: WarpTalkingHead, face: FaceAnalysis, speech: DrivingSpeech,
           keep_frames: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """(F, 478, 2) landmarks tracked on the rendered frames (NaN where none found), and the frames if kept."""
    points, kept = [], []
    with LandmarkTracker() as tracker:
        for frame in head.frames(face, speech, fps=FPS, seed=SEED):
            found = tracker(frame)
            points.append(np.full((478, 2), np.nan) if found is None else found[:, :2].astype(np.float64))
            if keep_frames:
                kept.append(frame)
    return np.stack(points), kept


# ---- Landmark proxies -----------------------------------------------------------------------

MEASURES: dict[str, str] = {
    "inner_brow": "inner-brow height",
    "outer_brow": "outer-brow height",
    "brow": "brow height",
    "brow_gap": "inner-brow distance",
    "eye_open": "eye opening",
    "lower_lid": "lower-lid height",
    "upper_lip": "upper-lip height",
    "nose_wing": "nose-wing height",
    "corner_lift": "corner lift",
    "corner_asym": "R-L corner lift",
    "mouth_width": "mouth width",
    "lip_thick": "lip thickness",
    "lower_lip": "lower-lip drop",
    "mouth_open": "mouth opening",
}
_BROWS = T.RIGHT_BROW + T.LEFT_BROW
_INNER_BROWS = T.RIGHT_BROW[:4] + T.LEFT_BROW[:4]  # two innermost points of each edge
_OUTER_BROWS = T.RIGHT_BROW[-4:] + T.LEFT_BROW[-4:]
_UPPER_LIDS = T.RIGHT_UPPER_LID[3:6] + T.LEFT_UPPER_LID[3:6]  # the middle third of each lid
_LOWER_LIDS = T.RIGHT_LOWER_LID[3:6] + T.LEFT_LOWER_LID[3:6]
_UPPER_INNER, _LOWER_INNER = T.UPPER_LIP_INNER[4:7], T.LOWER_LIP_INNER[4:7]  # 82 13 312 / 87 14 317
_UPPER_OUTER, _LOWER_OUTER = T.UPPER_LIP_OUTER[4:7], T.LOWER_LIP_OUTER[4:7]


def measure(points: np.ndarray) -> np.ndarray:
    """All MEASURES of one frame's (478, 2) pixel landmarks, in face units; heights are upward."""
    if np.isnan(points).any():
        return np.full(len(MEASURES), np.nan)
    p = FaceFrame.from_landmarks(points).to_face(points)
    x, y = p[:, 0], p[:, 1]  # origin between the eyes, x toward the image right, y toward the chin
    centre = (y[_UPPER_INNER].mean() + y[_LOWER_INNER].mean()) / 2  # where the lips meet
    right, left = T.RIGHT_LIP_CORNER, T.LEFT_LIP_CORNER
    values = {
        "inner_brow": -y[_INNER_BROWS].mean(),
        "outer_brow": -y[_OUTER_BROWS].mean(),
        "brow": -y[_BROWS].mean(),
        "brow_gap": x[T.LEFT_BROW[:4]].mean() - x[T.RIGHT_BROW[:4]].mean(),
        "eye_open": y[_LOWER_LIDS].mean() - y[_UPPER_LIDS].mean(),
        "lower_lid": -y[_LOWER_LIDS].mean(),
        "upper_lip": -y[_UPPER_OUTER].mean(),
        "nose_wing": -y[T.RIGHT_NOSE_WING + T.LEFT_NOSE_WING].mean(),
        "corner_lift": centre - y[[right, left]].mean(),
        "corner_asym": y[left] - y[right],  # > 0: the subject's right corner sits higher
        "mouth_width": float(np.linalg.norm(p[left] - p[right])),
        "lip_thick": (y[_UPPER_INNER].mean() - y[_UPPER_OUTER].mean())
                     + (y[_LOWER_OUTER].mean() - y[_LOWER_INNER].mean()),
        "lower_lip": y[_LOWER_OUTER].mean(),
        "mouth_open": y[_LOWER_INNER].mean() - y[_UPPER_INNER].mean(),
    }
    return np.array([values[name] for name in MEASURES])


def measure_clip(points: np.ndarray) -> np.ndarray:
    """(F, len(MEASURES)), NaN rows where tracking failed."""
    return np.stack([measure(frame) for frame in points])


def steady_frames(values: np.ndarray) -> np.ndarray:
    """Indices of the last 2/3 of a clip, tracked, and not in a blink."""
    eye = values[:, list(MEASURES).index("eye_open")]
    open_enough = eye >= BLINK_FRACTION * np.nanmedian(eye)  # NaN compares False
    keep = np.zeros(len(values), bool)
    keep[len(values) // 3:] = True
    return np.flatnonzero(keep & open_enough)


# ---- 1. Lip sync ----------------------------------------------------------------------------

def pearson(a: np.ndarray, b: np.ndarray) -> float:
    valid = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[valid], b[valid])[0, 1]) if valid.sum() > 2 else float("nan")


def lagged(mouth: np.ndarray, loudness: np.ndarray, lag: int) -> float:
    """Correlation with the mouth ``lag`` frames after the loudness (negative: the mouth leads)."""
    if lag >= 0:
        return pearson(mouth[lag:], loudness[: len(loudness) - lag])
    return pearson(mouth[:lag], loudness[-lag:])


@dataclass
class LipSyncClip:
    times: np.ndarray
    mouth: np.ndarray  # measured on the frames
    intended: np.ndarray  # the rig's own deformed landmarks, before rendering and tracking
    loudness: np.ndarray


def intended_opening(head: WarpTalkingHead, face: FaceAnalysis, speech: DrivingSpeech) -> np.ndarray:
    """Mouth opening of the rig's deformed landmarks for every frame (what the renderer is asked to show)."""
    rig = FaceRig(face.landmarks)
    column = list(MEASURES).index("mouth_open")
    return np.array([measure(rig.deform(controls))[column] for controls in head.animate(speech, FPS, SEED).controls])


def lip_sync_section(portraits: list[Portrait], head: WarpTalkingHead, sentences: tuple[str, ...]) -> LipSyncClip:
    print("\n== 1. Lip sync: mouth opening on the rendered frames vs the speech loudness ==")
    print("Mouth opening: inner-lip gap at 82/13/312 vs 87/14/317, / interocular; loudness: "
          "lipsync.loudness_envelope (80 ms windows, 0..1, log-energy scaled).")
    print(f"Lag > 0: the mouth follows the sound; searched within +-{MAX_LAG_FRAMES} frames "
          f"({MAX_LAG_FRAMES * 1000 / FPS:.0f} ms). Neutral, seed {SEED}, {FPS:g} fps.")
    backend = PiperSpeechBackend()
    speeches = [backend.speak(sentence, "neutral", seed=SEED) for sentence in sentences]
    print("'r rig': measured opening vs the opening the rig asks for (fidelity of render + tracking); 'rig~loud': "
          "the rig's own opening vs loudness at lag 0 (what the phoneme-driven mouth itself achieves).")
    print(f"\n{'portrait':<18} {'sentence':<9} {'dur s':>6} {'tracked':>8} {'r lag0':>7} {'best r':>7} {'lag ms':>7} "
          f"{'r rig':>6} {'rig~loud':>9}")
    example = None
    per_portrait: dict[str, list[tuple[float, float, float]]] = {}
    for portrait in portraits:
        for number, spoken in enumerate(speeches, start=1):
            speech = DrivingSpeech(spoken.waveform, spoken.sample_rate, spoken.segments, spoken.phonemes)
            points, _ = render(head, portrait.face, speech)
            times = np.arange(len(points)) / FPS
            mouth = measure_clip(points)[:, list(MEASURES).index("mouth_open")]
            loudness = loudness_envelope(spoken.waveform, spoken.sample_rate, times)
            intended = intended_opening(head, portrait.face, speech)
            fidelity, driven = pearson(mouth, intended), pearson(intended, loudness)
            by_lag = {lag: lagged(mouth, loudness, lag) for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1)}
            best = max(by_lag, key=lambda lag: by_lag[lag])
            lag_ms = best * 1000 / FPS
            per_portrait.setdefault(portrait.name, []).append((by_lag[0], by_lag[best], lag_ms, fidelity, driven))
            tracked = np.isfinite(mouth).mean()
            print(f"{portrait.name:<18} {number:<9} {spoken.duration:6.2f} {tracked:8.0%} {by_lag[0]:7.2f} "
                  f"{by_lag[best]:7.2f} {lag_ms:+7.0f} {fidelity:6.2f} {driven:9.2f}")
            if example is None:
                example = LipSyncClip(times, mouth, intended, loudness)
    print(f"\n{'portrait':<18} {'mean r lag0':>12} {'mean best r':>12} {'mean lag ms':>12} {'mean r rig':>11} "
          f"{'rig~loud':>9}")
    for name, rows in per_portrait.items():
        r0, rb, lag, rig, driven = np.mean(rows, axis=0)
        print(f"{name:<18} {r0:12.2f} {rb:12.2f} {lag:+12.0f} {rig:11.2f} {driven:9.2f}")
    everything = np.array([row for rows in per_portrait.values() for row in rows])
    r0, rb, lag, rig, driven = everything.mean(axis=0)
    print(f"SUMMARY lip sync: mean Pearson r = {r0:.2f} at lag 0, {rb:.2f} at the best lag (mean {lag:+.0f} ms) "
          f"over {len(everything)} clips ({len(portraits)} portraits x {len(sentences)} sentences); "
          f"measured vs rig-intended opening r = {rig:.2f}; rig-intended vs loudness r = {driven:.2f}.")
    return example


# ---- 2. Expression --------------------------------------------------------------------------

# The landmark proxy of each AU and the direction FACS gives it (+1: the measure grows). AU16: the
# lower lip's middle goes down; AU23: the red of the lips thins; AU14R: the subject's right corner
# rises above the left (contempt's one-sided smirk; its horizontal pull is not tested).
AU_CHECKS: dict[str, list[tuple[str, int]]] = {
    "AU1": [("inner_brow", +1)],
    "AU2": [("outer_brow", +1)],
    "AU4": [("brow", -1), ("brow_gap", -1)],
    "AU5": [("eye_open", +1)],
    "AU6": [("lower_lid", +1)],
    "AU7": [("lower_lid", +1)],
    "AU9": [("nose_wing", +1)],
    "AU12": [("corner_lift", +1), ("mouth_width", +1)],
    "AU14R": [("corner_asym", +1)],
    "AU15": [("corner_lift", -1)],
    "AU16": [("lower_lip", +1)],
    "AU20": [("mouth_width", +1)],
    "AU23": [("lip_thick", -1)],
    "AU26": [("mouth_open", +1)],
    "AU10": [("upper_lip", +1)],
    "AU17": [("lower_lip", -1)],
    "AU24": [("lip_thick", -1)],
    "AU27": [("mouth_open", +1)],
    "AU64": [("eye_open", -1)],  # the upper lids follow the lowered gaze
}
# Where one AU of a prototype hides another's proxy, only the proxy that still separates them is tested:
# in AU1+4 (sad, fearful) AU1 raises the inner brows AU4 lowers, so AU4 is "brows drawn together";
# in angry, AU5 (upper lid up) and AU7 (lid tightening) cancel on eye opening, so AU5 is not tested.
OVERRIDES: dict[tuple[str, str], list[tuple[str, int]]] = {
    ("sad", "AU4"): [("brow_gap", -1)],
    ("fearful", "AU4"): [("brow_gap", -1)],
    ("angry", "AU5"): [],
}


def expected_checks(emotion: str) -> list[tuple[str, str, int]]:
    """(AU, measure, direction) for every AU the emotion's row of the shipped expression table uses."""
    return [(au, name, sign) for au in EXPRESSION_UNITS[emotion]
            for name, sign in OVERRIDES.get((emotion, au), AU_CHECKS[au])]


@dataclass
class ExpressionClip:
    points: np.ndarray  # (F, 478, 2) tracked
    values: np.ndarray  # (F, len(MEASURES))
    steady: np.ndarray  # frame indices used
    frames: list[np.ndarray]  # kept for neutral only


def rig_intent(head: WarpTalkingHead, face: FaceAnalysis, emotion: str, seconds: float) -> np.ndarray:
    """MEASURES of the rig's deformed landmarks (no rendering, no tracking) at the clip's median controls."""
    controls = np.median(head.animate(quiet_speech(emotion_spec(emotion), seconds), FPS, SEED).controls, axis=0)
    return measure(FaceRig(face.landmarks).deform(controls))


def expression_section(portraits: list[Portrait], head: WarpTalkingHead, seconds: float
                       ) -> tuple[dict[tuple[str, str], ExpressionClip], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Render every emotion per portrait; returns the clips, measured deltas and rig-intended deltas."""
    print("\n== 2. Expression: landmark proxies of the action units, emotion minus neutral ==")
    print(f"{seconds:g} s of quiet noise per render (mouth at rest), seed {SEED}, intensity 1; median over the "
          f"last 2/3 of frames, blinks (eye opening < {BLINK_FRACTION:.0%} of median) skipped.")
    print("Deltas in face units x 100 (= % of the interocular distance); heights point up. 'rig' = the same "
          "measure on the rig's own deformed landmarks (mean over portraits), before rendering and tracking.")
    print(f"PASS: the expected sign and |delta| >= {MIN_EFFECT * 100:g} (% of the interocular distance).")
    clips: dict[tuple[str, str], ExpressionClip] = {}
    measured: dict[str, np.ndarray] = {}  # emotion -> (P, M) deltas
    intended: dict[str, np.ndarray] = {}
    rig_neutral = {p.name: rig_intent(head, p.face, "neutral", seconds) for p in portraits}
    for emotion in CATEGORIES:
        for portrait in portraits:
            points, frames = render(head, portrait.face, quiet_speech(emotion_spec(emotion), seconds),
                                    keep_frames=emotion == "neutral")
            values = measure_clip(points)
            clips[portrait.name, emotion] = ExpressionClip(points, values, steady_frames(values), frames)
        if emotion == "neutral":
            continue
        measured[emotion] = np.stack([_median(clips[p.name, emotion]) - _median(clips[p.name, "neutral"])
                                      for p in portraits])
        intended[emotion] = np.stack([rig_intent(head, p.face, emotion, seconds) - rig_neutral[p.name]
                                      for p in portraits])
    _print_checks(portraits, measured, intended)
    _print_matrix(measured)
    _print_eye_drift(portraits, clips)
    return clips, measured, intended


def _median(clip: ExpressionClip) -> np.ndarray:
    return np.nanmedian(clip.values[clip.steady], axis=0)


def _print_checks(portraits: list[Portrait], measured: dict[str, np.ndarray], intended: dict[str, np.ndarray]) -> None:
    names = list(MEASURES)
    header = f"{'emotion':<10} {'AU':<6} {'measure':<19} {'exp':>3} {'rig':>6}"
    print("\n" + header + "".join(f" {p.name:>19}" for p in portraits))
    passes = np.zeros(len(portraits), int)
    total = 0
    failures = []
    for emotion, deltas in measured.items():
        for au, name, sign in expected_checks(emotion):
            column = names.index(name)
            rig = intended[emotion][:, column].mean()
            cells = []
            for index, delta in enumerate(deltas[:, column]):
                ok = bool(np.sign(delta) == sign and abs(delta) >= MIN_EFFECT)
                passes[index] += ok
                cells.append(f"{delta * 100:+7.2f} {'PASS' if ok else 'FAIL':<4}")
                if not ok:
                    failures.append(f"{emotion}/{au} {MEASURES[name]} on {portraits[index].name} ({delta * 100:+.2f})")
            total += 1
            arrow = "+" if sign > 0 else "-"
            print(f"{emotion:<10} {au:<6} {MEASURES[name]:<19} {arrow:>3} {rig * 100:+6.2f}"
                  + "".join(f" {cell:>19}" for cell in cells))
    per_portrait = ", ".join(f"{p.name} {n}/{total}" for p, n in zip(portraits, passes))
    print(f"SUMMARY expression: {passes.sum()}/{total * len(portraits)} expected directions PASS "
          f"({per_portrait}).")
    if failures:
        print("  failed: " + "; ".join(failures))


def _print_matrix(measured: dict[str, np.ndarray]) -> None:
    """Every measure for every emotion, mean over portraits; * marks the checked cells."""
    print("\nAll measured deltas (x100, mean over portraits; * = checked for this emotion):")
    print(f"{'emotion':<10}" + "".join(f" {name:>11}" for name in MEASURES))
    for emotion, deltas in measured.items():
        checked = {name for _, name, _ in expected_checks(emotion)}
        cells = [f"{value * 100:+.2f}{'*' if name in checked else ' '}"
                 for name, value in zip(MEASURES, deltas.mean(axis=0))]
        print(f"{emotion:<10}" + "".join(f" {cell:>11}" for cell in cells))


def eye_geometry(points: np.ndarray) -> tuple[float, float]:
    """(interocular distance, eye line to nose tip along the face's vertical), both in pixels."""
    frame = FaceFrame.from_landmarks(points)
    return frame.scale, float((points[T.NOSE_TIP] - frame.origin) @ frame.rotation[:, 1])


def _print_eye_drift(portraits: list[Portrait], clips: dict[tuple[str, str], ExpressionClip]) -> None:
    """Whether the eyes themselves move in the face; in FACS no AU moves the eyeballs.

    Every proxy above is measured from the eye line with the interocular distance as unit, so eyes
    that shift or converge bias them all; this shows by how much.
    """
    print("\nSanity, not FACS: the eyes should stay put. Change vs neutral of the interocular distance (% of "
          "neutral) / of the eye line's height above the nose tip (% of neutral interocular; AU9 in disgusted "
          "lifts the nose tip itself). Contempt, which moves one lip corner only, shows the noise level:")
    print(f"{'emotion':<10}" + "".join(f" {p.name:>19}" for p in portraits))
    worst = 0.0
    for emotion in CATEGORIES[1:]:
        cells = []
        for portrait in portraits:
            neutral, clip = clips[portrait.name, "neutral"], clips[portrait.name, emotion]
            iod0, nose0 = np.median([eye_geometry(neutral.points[i]) for i in neutral.steady], axis=0)
            iod, nose = np.median([eye_geometry(clip.points[i]) for i in clip.steady], axis=0)
            spread, rise = (iod / iod0 - 1) * 100, (nose - nose0) / iod0 * 100
            worst = max(worst, abs(spread), abs(rise))
            cells.append(f"{spread:+6.1f} / {rise:+5.1f}")
        print(f"{emotion:<10}" + "".join(f" {cell:>19}" for cell in cells))
    print(f"SUMMARY eye drift: largest change {worst:.1f}% of the interocular distance.")


# ---- 3. Identity ----------------------------------------------------------------------------

def disparity(a: np.ndarray, b: np.ndarray, points: slice | list[int] = MESH) -> float:
    """Procrustes disparity of two mesh shapes after similarity alignment (all 468 points unless ``points``)."""
    return float(procrustes(a[points, :2], b[points, :2])[2])


def clip_disparity(clip: ExpressionClip, reference: np.ndarray, frames: np.ndarray | None = None,
                   points: slice | list[int] = MESH) -> float:
    frames = clip.steady if frames is None else frames
    return float(np.median([disparity(clip.points[i], reference, points) for i in frames
                            if not np.isnan(clip.points[i]).any()]))


def face_ssim(portrait: FaceAnalysis, clip: ExpressionClip) -> tuple[float, float, float]:
    """Median SSIM over steady frames inside the face outline, the mouth opening (dilated) masked out.

    Returns (raw, aligned, reference): raw compares pixels as rendered, so the head's own motion
    counts against it; aligned first maps each frame back onto the portrait by the similarity
    transform of its tracked landmarks; reference is the portrait against itself shifted by half a
    pixel with bilinear interpolation, the score one resampling alone costs.
    """
    from skimage.metrics import structural_similarity

    size = portrait.image.shape[1], portrait.image.shape[0]
    reference = portrait.landmarks[:, :2].astype(np.float32)
    outline = np.zeros(portrait.image.shape[:2], np.uint8)
    cv2.fillPoly(outline, [np.round(reference[T.FACE_OVAL]).astype(np.int32)], 1)
    margin = max(2, round(0.05 * portrait.interocular))

    def score(image: np.ndarray, mouths: list[np.ndarray]) -> float:
        mouth = np.zeros_like(outline)
        cv2.fillPoly(mouth, [np.round(m[T.MOUTH_OPENING]).astype(np.int32) for m in mouths], 1)
        region = (outline > 0) & (cv2.dilate(mouth, np.ones((2 * margin + 1,) * 2, np.uint8)) == 0)
        _, similarity = structural_similarity(portrait.image, image, channel_axis=-1, data_range=255, full=True)
        return float(similarity.mean(axis=-1)[region].mean())

    raw, aligned = [], []
    for index in clip.steady:
        points = clip.points[index].astype(np.float32)
        raw.append(score(clip.frames[index], [reference, points]))
        transform, _ = cv2.estimateAffinePartial2D(points[MESH], reference[MESH])
        back = cv2.warpAffine(clip.frames[index], transform, size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
        moved = points @ transform[:, :2].T + transform[:, 2]
        aligned.append(score(back, [reference, moved]))
    half_pixel = np.float32([[1, 0, 0.5], [0, 1, 0.5]])
    shifted = cv2.warpAffine(portrait.image, half_pixel, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return float(np.median(raw)), float(np.median(aligned)), score(shifted, [reference])


def identity_section(portraits: list[Portrait], clips: dict[tuple[str, str], ExpressionClip]) -> None:
    print("\n== 3. Identity: does the rendered face keep its portrait's shape and look? ==")
    print("Procrustes disparity (scipy.spatial.procrustes: translation, scale, rotation and reflection removed; "
          "468 mesh points, x/y; median over steady frames) of "
          "the rendered landmarks vs the own portrait's analysed landmarks, and vs the nearest portrait of "
          "ANOTHER person. Ratio = own / other; < 1 means the render stays nearer its own portrait.")
    others = {p.name: [q for q in portraits if q.person != p.person] for p in portraits}
    print("\nPortrait-to-portrait disparity (analysed landmarks):")
    for index, a in enumerate(portraits):
        for b in portraits[index + 1:]:
            kind = "same person (variation)" if a.person == b.person else "different people"
            print(f"  {a.name:<18} vs {b.name:<18} {disparity(a.face.landmarks, b.face.landmarks):.5f}  {kind}")
    print("The same ratio also: 'rest' on the first frames of each clip, before the expression sets in; "
          "'stable' on the points expressions leave in place (nose, eye corners, the outline above the mouth); "
          "'vs rest' against each portrait's resting face as the rig takes it up (landmarks with the portrait's "
          "own smile and parted lips undone), which a face that is neutralised on purpose is not penalised by.")
    print(f"\n{'portrait':<18} {'emotion':<10} {'own':>8} {'other':>8} {'ratio':>6} {'rest':>6} {'stable':>6} "
          f"{'vs rest':>7}")
    rests = {p.name: FaceRig(p.face.landmarks).rest for p in portraits}
    ratios: dict[str, list[float]] = {"all": [], "rest": [], "stable": [], "vs rest": []}
    for portrait in portraits:
        if not others[portrait.name]:
            print(f"{portrait.name:<18} (no portrait of another person loaded; skipped)")
            continue
        for emotion in CATEGORIES:
            clip = clips[portrait.name, emotion]
            own = clip_disparity(clip, portrait.face.landmarks)
            other = min(clip_disparity(clip, q.face.landmarks) for q in others[portrait.name])
            row = {"all": own / other}
            for name, frames, points, references in (
                    ("rest", np.arange(REST_FRAMES), MESH, {p.name: p.face.landmarks for p in portraits}),
                    ("stable", None, STABLE_POINTS, {p.name: p.face.landmarks for p in portraits}),
                    ("vs rest", None, MESH, rests)):
                row[name] = (clip_disparity(clip, references[portrait.name], frames, points)
                             / min(clip_disparity(clip, references[q.name], frames, points)
                                   for q in others[portrait.name]))
            for name, value in row.items():
                ratios[name].append(value)
            print(f"{portrait.name:<18} {emotion:<10} {own:8.5f} {other:8.5f} {row['all']:6.2f} {row['rest']:6.2f} "
                  f"{row['stable']:6.2f} {row['vs rest']:7.2f}")
    if ratios["all"]:
        values = np.array(ratios["all"])
        print(f"SUMMARY identity shape: {np.sum(values < 1)}/{len(values)} renders nearer their own portrait than "
              f"another person's; ratio median {np.median(values):.2f}, worst {values.max():.2f}.")
        print("SUMMARY identity shape, other readings: " + "; ".join(
            f"{name} {np.sum(np.array(v) < 1)}/{len(v)} (median {np.median(v):.2f})"
            for name, v in ratios.items() if name != "all") + ".")

    print("\nAppearance: SSIM (skimage, channel_axis=-1) of the neutral render vs the framed portrait, inside the "
          "face outline with the mouth opening (dilated) masked out; median over steady frames. 'aligned': each "
          "frame mapped back onto the portrait by the similarity transform of its tracked landmarks (removes the "
          "head motion); 'half-px ref': the portrait vs itself shifted half a pixel, the cost of one resampling.")
    print(f"{'portrait':<18} {'raw':>6} {'aligned':>8} {'half-px ref':>12}")
    scores = []
    for portrait in portraits:
        raw, aligned, reference = face_ssim(portrait.face, clips[portrait.name, "neutral"])
        scores.append((raw, aligned, reference))
        print(f"{portrait.name:<18} {raw:6.3f} {aligned:8.3f} {reference:12.3f}")
    raw, aligned, reference = np.mean(scores, axis=0)
    print(f"SUMMARY identity appearance: face SSIM {aligned:.3f} aligned ({raw:.3f} raw, with head motion) vs "
          f"{reference:.3f} for a half-pixel shift of the portrait itself (mean over {len(portraits)} portraits).")


# ---- Figure ---------------------------------------------------------------------------------

def save_figure(example: LipSyncClip, measured: dict[str, np.ndarray], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 9), gridspec_kw={"height_ratios": [1, 1.3]})
    top.plot(example.times, example.mouth * 100, color="tab:red", label="measured on frames")
    top.plot(example.times, example.intended * 100, color="tab:red", ls=":", alpha=0.7, label="rig-intended")
    top.legend(loc="upper left", fontsize=8)
    top.set_xlabel("time (s)")
    top.set_ylabel("mouth opening (% interocular)", color="tab:red")
    loud = top.twinx()
    loud.plot(example.times, example.loudness, color="tab:blue", alpha=0.7, label="loudness envelope")
    loud.set_ylabel("loudness_envelope (0..1)", color="tab:blue")
    top.set_title(f"(a) {title}: mouth opening measured on the frames vs loudness")

    emotions = list(measured)
    grid = np.stack([measured[e].mean(axis=0) for e in emotions]) * 100
    limit = float(np.nanmax(np.abs(grid))) or 1.0
    image = bottom.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    bottom.set_xticks(range(len(MEASURES)), list(MEASURES.values()), rotation=35, ha="right")
    bottom.set_yticks(range(len(emotions)), emotions)
    for row, emotion in enumerate(emotions):
        signs = {name: sign for _, name, sign in expected_checks(emotion)}
        for column, name in enumerate(MEASURES):
            mark = {1: " ▲", -1: " ▼"}.get(signs.get(name, 0), "")
            bottom.text(column, row, f"{grid[row, column]:+.1f}{mark}", ha="center", va="center", fontsize=7,
                        fontweight="bold" if mark else "normal")
    figure.colorbar(image, ax=bottom, label="delta vs neutral (% interocular)")
    bottom.set_title("(b) measured AU proxies, emotion - neutral, mean over portraits "
                     "(▲/▼ = FACS-expected direction)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ---- Main -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384, help="portrait and frame size in pixels (default 384)")
    parser.add_argument("--quick", action="store_true", help="one sentence, 1 s expressions, 256 px unless --size")
    args = parser.parse_args()
    size = 256 if args.quick and args.size == 384 else args.size
    sentences = SENTENCES[:1] if args.quick else SENTENCES
    seconds = 1.0 if args.quick else EXPRESSION_SECONDS

    started = time.perf_counter()
    print(f"Talking-head quality (warp backend), {size} px, {FPS:g} fps, seed {SEED}")
    print("Portraits:")
    portraits = load_portraits(size)
    if not portraits:
        raise SystemExit("No portrait could be analysed.")
    head = WarpTalkingHead()

    section = time.perf_counter()
    example = lip_sync_section(portraits, head, sentences)
    print(f"(section 1: {time.perf_counter() - section:.0f} s)")
    section = time.perf_counter()
    clips, measured, _ = expression_section(portraits, head, seconds)
    print(f"(section 2: {time.perf_counter() - section:.0f} s)")
    section = time.perf_counter()
    identity_section(portraits, clips)
    print(f"(section 3: {time.perf_counter() - section:.0f} s)")

    figure_path = RESULTS / "talking_head_quality.png"
    save_figure(example, measured, f"{portraits[0].name}, sentence 1", figure_path)
    print(f"\nFigure: {figure_path}")
    print(f"Total time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
