"""What costs the talking head's identity? The quality benchmark's identity measure with rig features switched off.

Renders every emotion on the quality benchmark's three portraits (``talking_head_quality.py``) once
per variant and gives the identity ratio (Procrustes disparity of the tracked landmarks to the own
portrait over that to the nearest other person; < 1 keeps the person) on all 468 points and on the
points expressions leave in place, over the steady frames and over the resting first frames.

Variants (combine with '+'): ``base``; ``no-neutralise`` (the portrait's own smile and parted lips
kept); ``no-shading`` (no expression shading); ``no-drift`` (no slow per-unit fluctuation);
``table=PATH`` (another expression table, e.g. one from an earlier commit; ``table=emfacs``: the unfitted prototypes).

    python benchmarks/identity_ablation.py base no-neutralise no-shading no-drift [--size 384]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import talking_head_quality as Q
from emostudio.conditioning import CATEGORIES
from emostudio.generation.face import talking_head
from emostudio.generation.face.render import WarpRenderer
from emostudio.generation.face.rig import FaceRig

PLAIN_RENDER = WarpRenderer.render
PLAIN_DRIFT = talking_head.DRIFT_DEPTH


def switch(variant: str) -> None:
    """Set the rig up as ``variant`` asks, starting from the shipped rig each time."""
    talking_head.FaceRig = FaceRig
    WarpRenderer.render = PLAIN_RENDER
    talking_head.DRIFT_DEPTH = PLAIN_DRIFT
    Q.use_expression_table("shipped")
    for part in variant.split("+"):
        if part == "no-neutralise":
            talking_head.FaceRig = lambda landmarks: FaceRig(landmarks, neutralise=False)
        elif part == "no-shading":
            WarpRenderer.render = lambda self, positions, rings=None, controls=None: PLAIN_RENDER(self, positions, rings)
        elif part == "no-drift":
            talking_head.DRIFT_DEPTH = 0.0
        elif part.startswith("table="):
            Q.use_expression_table(part[len("table="):])
        elif part != "base":
            raise SystemExit(f"Unknown variant part {part!r}; use base, no-neutralise, no-shading, no-drift or "
                             "table=PATH, joined with '+'.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--size", type=int, default=384)
    args = parser.parse_args()
    for variant in args.variants:  # check every name before anything renders
        switch(variant)
    print(f"Identity ablation, {args.size} px, {Q.EXPRESSION_SECONDS:g} s of quiet speech per emotion, seed {Q.SEED}; "
          "ratio < 1 keeps the person. Shared machine.")
    portraits = Q.load_portraits(args.size)
    readings = {"all": (None, Q.MESH), "stable": (None, Q.STABLE_POINTS),
                "rest, all": (np.arange(Q.REST_FRAMES), Q.MESH), "rest, stable": (np.arange(Q.REST_FRAMES),
                                                                                   Q.STABLE_POINTS)}
    for variant in args.variants:
        switch(variant)
        started = time.perf_counter()
        head = talking_head.WarpTalkingHead()
        ratios: dict[str, list[float]] = {name: [] for name in readings}
        for portrait in portraits:
            others = [q for q in portraits if q.person != portrait.person]
            for emotion in CATEGORIES:
                points, _ = Q.render(head, portrait.face, Q.quiet_speech(Q.emotion_spec(emotion), Q.EXPRESSION_SECONDS))
                values = Q.measure_clip(points)
                clip = Q.ExpressionClip(points, values, Q.steady_frames(values), [])
                for name, (frames, points_used) in readings.items():
                    own = Q.clip_disparity(clip, portrait.face.landmarks, frames, points_used)
                    other = min(Q.clip_disparity(clip, q.face.landmarks, frames, points_used) for q in others)
                    ratios[name].append(own / other)
        print(f"\n{variant} ({time.perf_counter() - started:.0f} s); per clip: portraits x {', '.join(CATEGORIES)}")
        for name, values in ratios.items():
            values = np.array(values)
            print(f"  {name:<13} {np.sum(values < 1):2d}/{len(values)} median {np.median(values):.2f} | "
                  + " ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
