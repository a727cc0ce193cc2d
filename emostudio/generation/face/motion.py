"""Liveliness: blinks, head motion, gaze and breathing, reproducible from a seed.

Blinks are a Poisson process whose rate rises with arousal (resting adults blink about 17 times a
minute; aroused or anxious speakers more). Head motion and gaze are smooth random walks scaled by
arousal, and the head nods a little with the loudness of speech. Breathing is a slow rise and
fall. Everything is computed for all frames at once from one random generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .smoothing import gaussian_smooth

BASE_BLINKS_PER_MINUTE = 17.0
BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.07, 0.04, 0.14
BREATHS_PER_MINUTE = 14.0


@dataclass
class Motion:
    """Per-frame liveliness: blink closure, head pose (degrees, face units) and gaze (face units)."""

    blink: np.ndarray  # (F,) 0 open .. 1 closed
    roll: np.ndarray  # (F,) degrees, in the image plane
    yaw: np.ndarray  # (F,) degrees
    pitch: np.ndarray  # (F,) degrees, + = nod down
    shift: np.ndarray  # (F, 2) translation, interocular units
    gaze: np.ndarray  # (F, 2) iris offset, interocular units
    breath: np.ndarray  # (F,) vertical rise, interocular units


def _smooth_noise(rng: np.random.Generator, frames: int, fps: float, seconds: float, size: int = 1) -> np.ndarray:
    """Unit-variance noise smoothed over ``seconds``."""
    noise = rng.standard_normal((frames + int(4 * seconds * fps), size))
    smooth = gaussian_smooth(noise, sigma=max(seconds * fps, 1.0), axis=0, mode="wrap")[: frames]
    return smooth / max(float(smooth.std()), 1e-9)


def blink_curve(frames: int, fps: float, arousal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rate = BASE_BLINKS_PER_MINUTE / 60.0 * (1.0 + 0.6 * np.clip(arousal, -1.0, 1.0))
    times = np.arange(frames) / fps
    closure = np.zeros(frames)
    t = rng.uniform(0.3, 2.0)
    while t < frames / fps:
        local = (times - t)
        closing = np.clip(local / BLINK_CLOSE_S, 0, 1)
        opening = np.clip(1 - (local - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S, 0, 1)
        closure = np.maximum(closure, np.where(local < BLINK_CLOSE_S, closing, opening) * (local >= 0))
        frame = min(int(t * fps), frames - 1)
        t += max(rng.exponential(1.0 / max(rate[frame], 0.05)), 0.6)
    return closure


def liveliness(frames: int, fps: float, arousal: np.ndarray, loudness: np.ndarray | None,
               seed: int | None) -> Motion:
    """Liveliness for ``frames`` frames; ``arousal`` (F,) in -1..1, ``loudness`` (F,) in 0..1."""
    rng = np.random.default_rng(seed)
    energy = 1.0 + 0.8 * np.clip(arousal, 0.0, 1.0)
    head = _smooth_noise(rng, frames, fps, 0.9, 3) * energy[:, None]
    nod = np.zeros(frames) if loudness is None else gaussian_smooth(loudness, sigma=0.12 * fps) * 2.0
    shift = _smooth_noise(rng, frames, fps, 1.2, 2) * 0.012 * energy[:, None]
    # Gaze: mostly steady, with small jumps every second or two toward a new target.
    gaze = np.zeros((frames, 2))
    target, next_jump = np.zeros(2), 0
    for frame in range(frames):
        if frame >= next_jump:
            target = rng.normal(0.0, [0.012, 0.006])
            next_jump = frame + int(fps * rng.uniform(0.8, 2.5))
        gaze[frame] = target
    gaze = gaussian_smooth(gaze, sigma=max(0.03 * fps, 0.5), axis=0)
    phase = rng.uniform(0, 2 * np.pi)
    breath = 0.012 * np.sin(2 * np.pi * BREATHS_PER_MINUTE / 60.0 * np.arange(frames) / fps + phase)
    return Motion(
        blink=blink_curve(frames, fps, arousal, rng),
        roll=1.2 * head[:, 0],
        yaw=2.0 * head[:, 1],
        pitch=1.2 * head[:, 2] + nod,
        shift=shift,
        gaze=gaze,
        breath=breath,
    )
