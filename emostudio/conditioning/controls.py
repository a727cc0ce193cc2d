"""The controls the heads give generators, their published per-category defaults, and their mixture.

Speech prosody, facial expression and the grading of footage are set by a per-category table
each, mixed by an emotion's weights and scaled by its intensity (``heads.ProsodyHead``,
``heads.ExpressionHead`` and ``heads.GradingHead`` learn on top of these tables). Everything here
is plain numpy, so speaking, animating a face or grading with the published defaults runs without
torch: ``default_prosody``, ``default_expression`` and ``default_grading`` give exactly what an
untrained head gives, whose residual starts at zero.

The prosody table reproduces the prosodic correlates of vocal emotion reviewed by

    Murray, I. R. & Arnott, J. L. (1993). Toward the simulation of emotion in synthetic speech:
    a review of the literature on human vocal emotion. JASA 93(2), 1097-1108.

for the direction of each change (pitch average, pitch range, speech rate, intensity, voice
quality), with magnitudes in the range of the rule sets collected by

    Schröder, M. (2001). Emotional speech synthesis: a review. Proc. Eurospeech 2001, 561-564.

Surprise and contempt are not in Murray & Arnott; surprise follows the high-pitch, wide-range,
loud pattern Schröder's review lists for it, contempt the low-pitch, slow, quiet pattern of
Banse & Scherer (1996, JPSP 70(3)). All controls live in units where mixing is linear (semitones,
decibels, log2 factors), so a mixture interpolates, and intensity scales the displacement from
neutral, so intensity 0 is exactly neutral. The table is a parameter: it can be fitted to data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .spec import EmotionSpec
from .taxonomy import CATEGORIES, CATEGORY_VAD

PROSODY_CONTROLS: tuple[str, ...] = (
    "f0_shift_semitones",  # pitch level
    "f0_range_log2",       # pitch excursion around the speaker's median, log2 factor
    "tempo_log2",          # speech rate, log2 factor (+ = faster)
    "loudness_db",         # level
    "tilt_db",             # high-frequency emphasis above ~1 kHz (+ = tense/bright, - = soft/lax)
    "pause_log2",          # pause length between phrases, log2 factor
    "variability_log2",    # the voice's own noise scales: irregularity of timing and voicing
)

# One row per category, columns as PROSODY_CONTROLS; values at intensity 1.
DEFAULT_PROSODY_TABLE: dict[str, tuple[float, ...]] = {
    #              f0 st  range  tempo  dB    tilt  pause  var
    "neutral":   (0.0,   0.00,  0.00,  0.0,  0.0,  0.00,  0.00),
    "happy":     (3.5,   0.60,  0.12,  3.0,  2.0, -0.25,  0.20),
    "sad":       (-2.0, -0.60, -0.25, -4.0, -4.0,  0.50, -0.30),
    "angry":     (3.0,   0.70,  0.15,  5.0,  5.0, -0.30,  0.20),
    "fearful":   (5.0,   0.45,  0.30,  0.0,  1.0, -0.15,  0.50),
    "disgusted": (-3.0,  0.15, -0.35, -2.0, -1.0,  0.35,  0.00),
    "surprised": (5.0,   0.85,  0.15,  3.0,  2.0,  0.00,  0.20),
    "contempt":  (-2.0, -0.15, -0.20, -1.5, -1.0,  0.25, -0.10),
}


@dataclass(frozen=True)
class ProsodyControls:
    """Prosody controls in linear-mixing units; the properties give the factors generators apply."""

    f0_shift_semitones: float = 0.0
    f0_range_log2: float = 0.0
    tempo_log2: float = 0.0
    loudness_db: float = 0.0
    tilt_db: float = 0.0
    pause_log2: float = 0.0
    variability_log2: float = 0.0

    @classmethod
    def from_vector(cls, values: Iterable[float]) -> ProsodyControls:
        return cls(*(float(v) for v in values))

    def as_list(self) -> list[float]:
        return [getattr(self, name) for name in PROSODY_CONTROLS]

    @property
    def f0_factor(self) -> float:
        return 2.0 ** (self.f0_shift_semitones / 12.0)

    @property
    def f0_range_factor(self) -> float:
        return 2.0**self.f0_range_log2

    @property
    def tempo_factor(self) -> float:
        return 2.0**self.tempo_log2

    @property
    def pause_factor(self) -> float:
        return 2.0**self.pause_log2

    @property
    def variability_factor(self) -> float:
        return 2.0**self.variability_log2


# -- expression ------------------------------------------------------------------------------------

# FACS action units the face rig animates. AU14R is the unilateral dimpler of contempt, on the
# subject's right side.
ACTION_UNITS: tuple[str, ...] = (
    "AU1",   # inner brow raiser
    "AU2",   # outer brow raiser
    "AU4",   # brow lowerer
    "AU5",   # upper lid raiser
    "AU6",   # cheek raiser
    "AU7",   # lid tightener
    "AU9",   # nose wrinkler
    "AU10",  # upper lip raiser
    "AU12",  # lip corner puller
    "AU14R",  # dimpler, subject's right only
    "AU15",  # lip corner depressor
    "AU16",  # lower lip depressor
    "AU17",  # chin raiser
    "AU20",  # lip stretcher
    "AU23",  # lip tightener
    "AU24",  # lip pressor
    "AU26",  # jaw drop
    "AU27",  # mouth stretch
    "AU64",  # eyes turned down (the lids follow the gaze)
)

# Ekman & Friesen's EMFACS prototypes (as listed for the MEAD categories): 1.0 = the AU at full
# strength for that emotion at intensity 1. They are where the legibility fit starts.
_EMFACS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 1.0, "AU12": 1.0},
    "sad": {"AU1": 1.0, "AU4": 0.7, "AU15": 1.0},
    "angry": {"AU4": 1.0, "AU5": 0.7, "AU7": 1.0, "AU23": 1.0},
    "fearful": {"AU1": 1.0, "AU2": 0.8, "AU4": 0.6, "AU5": 1.0, "AU20": 1.0, "AU26": 0.5},
    "disgusted": {"AU9": 1.0, "AU15": 0.8, "AU16": 0.6},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 0.8},
    "contempt": {"AU14R": 1.0},
}
# The shipped table: the prototypes' intensities fitted so that an outside observer (a FER2013
# expression classifier) reads each emotion on many faces, by benchmarks/fit_expression_table.py.
EXPRESSION_TABLE_PATH = Path(__file__).resolve().parents[1] / "assets" / "expression_table.json"


def load_expression_table(path: Path | None) -> dict[str, dict[str, float]]:
    """Action units per category from a table file written by the fit; the EMFACS prototype for a
    category the file lacks, and for every category without a file."""
    fitted = json.loads(path.read_text())["table"] if path is not None else {}
    return {name: fitted.get(name, _EMFACS[name]) for name in _EMFACS}


def expression_rows(units: dict[str, dict[str, float]]) -> dict[str, tuple[float, ...]]:
    """One intensity per ACTION_UNITS entry, per category."""
    return {name: tuple(row.get(au, 0.0) for au in ACTION_UNITS) for name, row in units.items()}


EXPRESSION_UNITS: dict[str, dict[str, float]] = load_expression_table(
    EXPRESSION_TABLE_PATH if EXPRESSION_TABLE_PATH.exists() else None)
DEFAULT_EXPRESSION_TABLE: dict[str, tuple[float, ...]] = expression_rows(EXPRESSION_UNITS)


# -- grading ---------------------------------------------------------------------------------------

GRADING_CONTROLS: tuple[str, ...] = (
    "exposure_ev",        # overall brightness, photographic stops
    "contrast",           # + steeper tone curve, - flatter; fraction of the tonal range moved at each end
    "saturation_log2",    # colourfulness, log2 factor
    "warmth",             # colour temperature: + warmer (amber), - cooler (blue), in units of ~1500 K
    "tint",               # + magenta, - green
    "shadows",            # + lifted (faded) blacks, - crushed blacks; fraction of the range
    "highlights",         # + brighter whites, - rolled-off whites; fraction of the range
    "vignette",           # darkening of the corners, 0..1
    "grain",              # film grain, 0..1
    "softness",           # blur, 0..1 (1 = a soft-focus look)
    "shake",              # hand-held shake amplitude, fraction of the frame's short side
    "shake_hz",           # how fast the shake moves, Hz (a control of the shake, not an effect alone)
    "push_in",            # slow zoom: + push in, - pull out; log2 scale change per 10 s
    "drift",              # slow sideways travel, fraction of the frame's width per 10 s
)

# Colour and tone of the look are linear in the category's valence-arousal-dominance point (the
# coordinates in taxonomy.CATEGORY_VAD), with signs and relative sizes from:
#
#   Valdez, P. & Mehrabian, A. (1994). Effects of color on emotions. J. Exp. Psychol. Gen. 123(4),
#   394-409: pleasure rises with brightness and saturation; arousal rises with saturation and falls
#   with brightness; dominance rises with saturation and falls with brightness.
#   Yang, J. et al. (2023). EmoSet: a large-scale visual emotion dataset. ICCV: positive images are
#   brighter and more colourful; high-arousal images more colourful but darker.
#   EmoVid (2025, emotion-labelled video): the same valence and arousal trends hold for film and
#   short-form video; negative, high-arousal clips carry more camera shake and closer framing.
#
# Warmth follows valence (warm amber for pleasant, cool blue for unpleasant scenes, the colour
# grading convention the same datasets show), grain and vignette follow negative, aroused affect,
# softness follows low arousal, and camera energy follows arousal. The coefficients set the look at
# intensity 1; they are the defaults of a trainable table.
_GRADING_FROM_VAD: dict[str, tuple[float, float, float]] = {
    #                valence arousal dominance
    "exposure_ev":   (0.45, -0.25, -0.15),
    "contrast":      (0.00, 0.10, 0.06),
    "saturation_log2": (0.45, 0.30, 0.10),
    "warmth":        (0.80, 0.15, 0.00),
    "tint":          (0.00, 0.00, 0.00),
    "shadows":       (0.04, -0.03, 0.00),
    "highlights":    (0.05, 0.00, 0.00),
    "vignette":      (-0.35, 0.20, 0.00),
    "grain":         (-0.25, 0.25, 0.00),
    "softness":      (0.10, -0.35, 0.00),
    "shake":         (-0.004, 0.010, 0.00),
    "shake_hz":      (0.00, 0.00, 0.00),
    "push_in":       (0.00, 0.25, 0.15),
    "drift":         (0.00, 0.00, 0.00),
}
# What the VAD map cannot say: disgust's sickly green cast, sadness's slow drift and pull-out, and
# the base rate of a shake (its frequency rises with arousal from a calm 0.5 Hz).
_GRADING_EXTRA: dict[str, dict[str, float]] = {
    "disgusted": {"tint": -0.35},
    "sad": {"drift": 0.05, "push_in": -0.15},
    "fearful": {"shake_hz": 2.5},
    "angry": {"shake_hz": 2.0},
    "surprised": {"shake_hz": 1.5},
}
_NON_NEGATIVE_GRADING = ("vignette", "grain", "softness", "shake", "shake_hz")
NON_NEGATIVE_GRADING_INDICES = [GRADING_CONTROLS.index(name) for name in _NON_NEGATIVE_GRADING]


def _default_grading_row(name: str) -> tuple[float, ...]:
    vad = CATEGORY_VAD[name]
    row = {control: sum(c * v for c, v in zip(coefficients, vad)) for control, coefficients in _GRADING_FROM_VAD.items()}
    row.update(_GRADING_EXTRA.get(name, {}))
    for control in _NON_NEGATIVE_GRADING:
        row[control] = max(row[control], 0.0)
    return tuple(round(row[control], 4) for control in GRADING_CONTROLS)


DEFAULT_GRADING_TABLE: dict[str, tuple[float, ...]] = {name: _default_grading_row(name) for name in CATEGORIES}


@dataclass(frozen=True)
class GradingControls:
    """A look: colour, tone, texture and camera motion, in linear-mixing units (all 0 = untouched)."""

    exposure_ev: float = 0.0
    contrast: float = 0.0
    saturation_log2: float = 0.0
    warmth: float = 0.0
    tint: float = 0.0
    shadows: float = 0.0
    highlights: float = 0.0
    vignette: float = 0.0
    grain: float = 0.0
    softness: float = 0.0
    shake: float = 0.0
    shake_hz: float = 0.0
    push_in: float = 0.0
    drift: float = 0.0

    @classmethod
    def from_vector(cls, values: Iterable[float]) -> GradingControls:
        return cls(*(float(v) for v in values))

    def as_list(self) -> list[float]:
        return [getattr(self, name) for name in GRADING_CONTROLS]

    @property
    def is_identity(self) -> bool:
        return all(abs(value) < 1e-6 for value in self.as_list())

    @property
    def colour(self) -> tuple[float, ...]:
        """The controls a colour lookup table can hold (per-pixel, position-independent)."""
        return (self.exposure_ev, self.contrast, self.saturation_log2, self.warmth, self.tint, self.shadows,
                self.highlights)


def mix_table(table: dict[str, tuple[float, ...]], specs: Sequence[EmotionSpec]) -> np.ndarray:
    """(len(specs), C) rows: ``neutral + intensity * (weights @ table - neutral)``, a head without residual."""
    rows = np.array([table[name] for name in CATEGORIES], dtype=np.float64)
    weights = np.array([[spec.weights.get(name, 0.0) for name in CATEGORIES] for spec in specs], dtype=np.float64)
    intensity = np.array([spec.intensity for spec in specs], dtype=np.float64)
    neutral = rows[CATEGORIES.index("neutral")]
    return neutral + intensity[:, None] * (weights @ rows - neutral)


def default_prosody(specs: Sequence[EmotionSpec]) -> list[ProsodyControls]:
    """The prosody of each spec under the published table (what an untrained ProsodyHead gives)."""
    return [ProsodyControls.from_vector(row) for row in mix_table(DEFAULT_PROSODY_TABLE, specs)]


def default_grading(specs: Sequence[EmotionSpec]) -> list[GradingControls]:
    """The look of each spec under the published table (what an untrained GradingHead gives)."""
    rows = mix_table(DEFAULT_GRADING_TABLE, specs)
    rows[:, NON_NEGATIVE_GRADING_INDICES] = rows[:, NON_NEGATIVE_GRADING_INDICES].clip(min=0.0)
    return [GradingControls.from_vector(row) for row in rows]


def default_expression(specs: Sequence[EmotionSpec]) -> np.ndarray:
    """(len(specs), len(ACTION_UNITS)) intensities in [0, 1] under the shipped table (an untrained ExpressionHead)."""
    return mix_table(DEFAULT_EXPRESSION_TABLE, specs).clip(0.0, 1.0)
