"""EmotionSpec: what emotion the user asks for, as a mixture of categories and an intensity.

Grammar of the text form (``EmotionSpec.parse``):

* ``happy``                      one category (or alias, or vocabulary word) at full intensity
* ``happy:0.6``                  one category at intensity 0.6
* ``happy:0.7+surprised:0.3``    a mixture; each weight is an *amount*, and the amounts add up to
                                 the overall intensity, so they must sum to at most 1
* ``happy+surprised``            equal shares at full intensity
* ``0.5,0.4,0.1`` / ``vad:...``  a valence-arousal-dominance point on -1..1
* ``quietly furious``            a freestyle description (two or more words), resolved by meaning
                                 with a sentence-embedding model (see ``describe``)
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import EmostudioError
from .taxonomy import CATEGORIES, CATEGORY_VAD, VOCABULARY, canonical_category, known_words

if TYPE_CHECKING:
    from .describe import DescriptionResolver

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_VAD_RE = re.compile(rf"^(?:vad\s*[:=]\s*)?({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})$", re.I)
_TERM_RE = re.compile(rf"^([a-z][a-z_-]*)(?:\s*:\s*({_NUMBER}))?$", re.I)
_WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class EmotionSpec:
    """A mixture of emotion categories (weights summing to 1) with an overall intensity in [0, 1].

    Intensity 0 is neutral whatever the mixture; intensity 1 is the full published effect of each
    category.
    """

    weights: dict[str, float]
    intensity: float = 1.0
    source: str = "category"
    label: str = ""
    details: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        unknown = [name for name in self.weights if name not in CATEGORIES]
        if unknown:
            raise EmostudioError(f"Unknown emotion category {unknown[0]!r}; use one of {', '.join(CATEGORIES)}.")
        if not 0.0 <= self.intensity <= 1.0 or math.isnan(self.intensity):
            raise EmostudioError(f"Intensity {self.intensity:g} is out of range; give a number from 0 to 1.")
        total = sum(self.weights.values())
        if any(w < 0 for w in self.weights.values()) or abs(total - 1.0) > 1e-3:
            raise EmostudioError("Mixture weights must be non-negative and sum to 1.")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def neutral(cls) -> EmotionSpec:
        return cls({"neutral": 1.0}, 1.0, "category", "neutral")

    @classmethod
    def from_amounts(cls, amounts: dict[str, float], source: str, label: str) -> EmotionSpec:
        """Build a spec from per-category amounts whose sum is the intensity (at most 1)."""
        total = sum(amounts.values())
        if total <= _WEIGHT_TOLERANCE:
            return cls({"neutral": 1.0}, 0.0, source, label)
        weights = {name: amount / total for name, amount in amounts.items() if amount > 0}
        return cls(weights, min(total, 1.0), source, label)

    @classmethod
    def parse(cls, text: str, resolver: DescriptionResolver | None = None) -> EmotionSpec:
        """Parse any text form of the grammar above; raises :class:`EmostudioError` on bad input."""
        if not isinstance(text, str) or not text.strip():
            raise EmostudioError("The emotion is empty; give a category such as 'happy', a mixture such as "
                                 "'happy:0.7+surprised:0.3', or a description such as 'quietly furious'.")
        text = text.strip()
        vad_match = _VAD_RE.match(text)
        if vad_match:
            return cls.from_vad(*(float(g) for g in vad_match.groups()))
        if ":" in text or "+" in text or (" " not in text and "," not in text):
            return cls._parse_mixture(text)
        if text.lower().startswith("vad"):
            raise EmostudioError(f"Could not read {text!r} as a valence-arousal-dominance point; write three "
                                 "numbers from -1 to 1 such as 'vad:0.5,0.4,0.1'.")
        from .describe import default_resolver

        return (resolver or default_resolver()).resolve(text)

    @classmethod
    def _parse_mixture(cls, text: str) -> EmotionSpec:
        terms = [term.strip() for term in text.split("+")]
        parsed: list[tuple[dict[str, float], float, float | None]] = []
        seen: set[str] = set()
        for term in terms:
            match = _TERM_RE.match(term)
            if not match:
                raise EmostudioError(f"Could not read the emotion term {term!r} in {text!r}; write NAME or "
                                     "NAME:WEIGHT with a weight from 0 to 1, joined by '+' (e.g. 'happy:0.7+sad:0.3').")
            word, weight_text = match.group(1).lower(), match.group(2)
            key = canonical_category(word) or word
            if key in seen:
                raise EmostudioError(f"{key!r} appears twice in {text!r} (perhaps under another name); give each "
                                     "emotion once with its total weight.")
            seen.add(key)
            mixture, default_amount = cls._lookup_word(word)
            weight = float(weight_text) if weight_text is not None else None
            if weight is not None and not 0.0 <= weight <= 1.0:
                raise EmostudioError(f"The weight of {word!r} in {text!r} is {weight:g}; weights are amounts "
                                     "from 0 to 1.")
            parsed.append((mixture, default_amount, weight))

        weighted = [weight is not None for _, _, weight in parsed]
        if any(weighted) and not all(weighted):
            raise EmostudioError(f"Some terms of {text!r} have a weight and some do not; give every term a "
                                 "weight (e.g. 'happy:0.7+surprised:0.3') or none (equal shares).")
        if len(parsed) == 1:
            mixture, default_amount, weight = parsed[0]
            amounts_per_term = [weight if weight is not None else default_amount]
        elif all(weighted):
            amounts_per_term = [weight for _, _, weight in parsed]  # type: ignore[misc]
            total = sum(amounts_per_term)
            if total > 1.0 + _WEIGHT_TOLERANCE:
                raise EmostudioError(
                    f"The weights in {text!r} sum to {total:.2f}; they are amounts whose sum is the overall "
                    "intensity, so they must add up to at most 1 (e.g. 'happy:0.6+surprised:0.4').")
        else:
            amounts_per_term = [default_amount / len(parsed) for _, default_amount, _ in parsed]

        amounts: dict[str, float] = {}
        for (mixture, _, _), term_amount in zip(parsed, amounts_per_term):
            for name, share in mixture.items():
                amounts[name] = amounts.get(name, 0.0) + share * term_amount
        source = "mixture" if len(parsed) > 1 else ("category" if canonical_category(terms[0].split(":")[0]) else "vocabulary")
        return cls.from_amounts(amounts, source, text)

    @staticmethod
    def _lookup_word(word: str) -> tuple[dict[str, float], float]:
        category = canonical_category(word)
        if category is not None:
            return {category: 1.0}, 1.0
        if word in VOCABULARY:
            mixture, intensity = VOCABULARY[word]
            return dict(mixture), intensity
        close = difflib.get_close_matches(word, known_words(), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EmostudioError(f"Unknown emotion word {word!r}{hint}; run 'emostudio emotions' to list the known "
                             "words, or describe the feeling in a few words (e.g. 'quietly furious').")

    @classmethod
    def from_vad(cls, valence: float, arousal: float, dominance: float) -> EmotionSpec:
        """The mixture of categories near (v, a, d) whose VAD point reproduces it.

        Amounts ``a_k >= 0`` over the non-neutral categories solve ``sum_k a_k vad_k = point`` at the
        least cost ``sum_k a_k (1 + angle_k)``, where ``angle_k`` is the angle between category k and
        the point: categories in the point's direction are preferred, so a category's own point gives
        that category alone. Points no mixture reaches get the least-squares mixture. The amounts'
        sum is the intensity, capped at 1 for points beyond the categories.
        """
        from scipy.optimize import linprog, nnls

        point = np.array([valence, arousal, dominance], dtype=np.float64)
        if not np.all(np.isfinite(point)) or np.any(np.abs(point) > 1.0):
            raise EmostudioError(f"The VAD point ({valence:g}, {arousal:g}, {dominance:g}) is out of range; "
                                 "each of valence, arousal and dominance lies from -1 to 1.")
        names = [name for name in CATEGORIES if name != "neutral"]
        basis = np.array([CATEGORY_VAD[name] for name in names]).T
        label = f"vad:{valence:g},{arousal:g},{dominance:g}"
        norm = np.linalg.norm(point)
        if norm < 1e-9:
            return cls.from_amounts({}, "vad", label)
        cosine = basis.T @ point / (np.linalg.norm(basis, axis=0) * norm)
        cost = 1.0 + np.arccos(np.clip(cosine, -1.0, 1.0))
        solution = linprog(cost, A_eq=basis, b_eq=point, bounds=(0, None), method="highs")
        amounts = solution.x if solution.status == 0 else nnls(basis, point)[0]
        total = float(amounts.sum())
        if total > 1.0:
            amounts = amounts / total
        return cls.from_amounts({n: float(a) for n, a in zip(names, amounts) if a > 1e-4}, "vad", label)

    # -- use -----------------------------------------------------------------------------------

    def with_intensity(self, intensity: float) -> EmotionSpec:
        return EmotionSpec(dict(self.weights), float(intensity), self.source, self.label, dict(self.details))

    def weight_vector(self) -> np.ndarray:
        """Weights as a vector ordered like ``CATEGORIES``."""
        return np.array([self.weights.get(name, 0.0) for name in CATEGORIES], dtype=np.float32)

    @property
    def vad(self) -> tuple[float, float, float]:
        """The VAD point this spec stands for: the weighted category point scaled by intensity."""
        point = sum(np.array(CATEGORY_VAD[n]) * w for n, w in self.weights.items())
        return tuple(float(x) for x in np.asarray(point) * self.intensity)  # type: ignore[return-value]

    @property
    def is_neutral(self) -> bool:
        return self.intensity == 0.0 or set(self.weights) == {"neutral"}

    def dominant(self) -> str:
        return max(self.weights, key=self.weights.__getitem__)

    def __str__(self) -> str:
        if self.is_neutral:
            return "neutral"
        mixture = "+".join(f"{n}:{w * self.intensity:.2f}" for n, w in
                           sorted(self.weights.items(), key=lambda item: -item[1]))
        return mixture

    def describe(self) -> str:
        """A human-readable account: mixture, intensity and VAD point."""
        parts = ", ".join(f"{n} {w:.0%}" for n, w in sorted(self.weights.items(), key=lambda item: -item[1]))
        v, a, d = self.vad
        return f"{parts} at intensity {self.intensity:.2f} (valence {v:+.2f}, arousal {a:+.2f}, dominance {d:+.2f})"
