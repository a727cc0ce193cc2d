"""The talking head's animation as ARKit blendshape weights, for 3D characters.

Game and avatar tools animate faces through Apple ARKit's 52 blendshape coefficients (each 0..1),
the common interface of face capture apps and of rigs such as MetaHuman's and Ready Player Me's.
Each rig control maps to the blendshapes that produce the same movement, following Apple's
description of each coefficient (ARFaceAnchor.BlendShapeLocation) and the FACS action unit each
one is modelled on (Melinda Ozel's published ARKit-to-FACS cheat sheet):

==========  =========================================================================
AU1         browInnerUp
AU2         browOuterUpLeft, browOuterUpRight
AU4         browDownLeft, browDownRight
AU5         eyeWideLeft, eyeWideRight
AU6         cheekSquintLeft, cheekSquintRight
AU7         eyeSquintLeft, eyeSquintRight
AU9         noseSneerLeft, noseSneerRight
AU10        mouthUpperUpLeft, mouthUpperUpRight
AU12        mouthSmileLeft, mouthSmileRight
AU14R       mouthDimpleRight (the subject's right only)
AU15        mouthFrownLeft, mouthFrownRight
AU16        mouthLowerDownLeft, mouthLowerDownRight
AU17        mouthShrugLower
AU20        mouthStretchLeft, mouthStretchRight
AU23        mouthPressLeft, mouthPressRight (0.5), mouthRollLower, mouthRollUpper (0.3)
AU24        mouthPressLeft, mouthPressRight
AU26, JAW   jawOpen (AU26 is carried by JAW in the animation)
AU27        jawOpen, mouthStretchLeft, mouthStretchRight (0.3)
AU64        eyeLookDownLeft, eyeLookDownRight
ROUND       mouthPucker, mouthFunnel (0.5)
SPREAD      mouthStretchLeft, mouthStretchRight (0.5)
PRESS       mouthClose (0.5), mouthPressLeft, mouthPressRight
LIP_UP      mouthRollLower (0.7), mouthUpperUpLeft, mouthUpperUpRight (0.2)
BLINK       eyeBlinkLeft, eyeBlinkRight
gaze        eyeLookIn/Out/Up/Down Left/Right, 1 at an iris offset of 0.12 interocular
==========  =========================================================================

Left and Right are the subject's own sides, as in ARKit. Head pose is not a blendshape: it is
written beside the weights as yaw, pitch and roll in degrees.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from ...errors import EmostudioError
from ..media import atomic_output, check_output_path
from .rig import CONTROLS

# Apple's order (ARFaceAnchor.BlendShapeLocation, as face capture apps export it).
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel",
    "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft",
    "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
HEAD_POSE: tuple[str, ...] = ("headYaw", "headPitch", "headRoll")
ANIMATION_SUFFIXES = (".json", ".csv")
GAZE_FULL = 0.12  # iris offset (interocular units) at which a look blendshape reaches 1


def _both(name: str, weight: float = 1.0) -> dict[str, float]:
    return {f"{name}Left": weight, f"{name}Right": weight}


CONTROL_BLENDSHAPES: dict[str, dict[str, float]] = {
    "AU1": {"browInnerUp": 1.0},
    "AU2": _both("browOuterUp"),
    "AU4": _both("browDown"),
    "AU5": _both("eyeWide"),
    "AU6": _both("cheekSquint"),
    "AU7": _both("eyeSquint"),
    "AU9": _both("noseSneer"),
    "AU10": _both("mouthUpperUp"),
    "AU12": _both("mouthSmile"),
    "AU14R": {"mouthDimpleRight": 1.0},
    "AU15": _both("mouthFrown"),
    "AU16": _both("mouthLowerDown"),
    "AU17": {"mouthShrugLower": 1.0},
    "AU20": _both("mouthStretch"),
    "AU23": {**_both("mouthPress", 0.5), "mouthRollLower": 0.3, "mouthRollUpper": 0.3},
    "AU24": _both("mouthPress"),
    "AU26": {"jawOpen": 1.0},
    "AU27": {"jawOpen": 1.0, **_both("mouthStretch", 0.3)},
    "AU64": _both("eyeLookDown"),
    "JAW": {"jawOpen": 1.0},
    "ROUND": {"mouthPucker": 1.0, "mouthFunnel": 0.5},
    "SPREAD": _both("mouthStretch", 0.5),
    "PRESS": {"mouthClose": 0.5, **_both("mouthPress")},
    "LIP_UP": {"mouthRollLower": 0.7, **_both("mouthUpperUp", 0.2)},
    "BLINK": _both("eyeBlink"),
}


def control_matrix() -> np.ndarray:
    """(len(CONTROLS), 52): blendshape weights per unit of each rig control."""
    matrix = np.zeros((len(CONTROLS), len(ARKIT_BLENDSHAPES)))
    for control, shapes in CONTROL_BLENDSHAPES.items():
        for shape, weight in shapes.items():
            matrix[CONTROLS.index(control), ARKIT_BLENDSHAPES.index(shape)] = weight
    return matrix


def blendshape_weights(controls: np.ndarray, gaze: np.ndarray) -> np.ndarray:
    """(F, 52) ARKit weights in 0..1 from rig controls (F, C) and gaze offsets (F, 2) in face units.

    Gaze x points to the image's right, which is the subject's left in a frontal portrait: the left
    eye looks out and the right eye looks in. Gaze y points down.
    """
    weights = controls @ control_matrix()
    look = np.clip(gaze / GAZE_FULL, -1.0, 1.0)
    right, down = look[:, 0], look[:, 1]
    index = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}
    for name, value in (("eyeLookOutLeft", right), ("eyeLookInRight", right), ("eyeLookInLeft", -right),
                        ("eyeLookOutRight", -right), ("eyeLookDownLeft", down), ("eyeLookDownRight", down),
                        ("eyeLookUpLeft", -down), ("eyeLookUpRight", -down)):
        weights[:, index[name]] += np.maximum(value, 0.0)
    return np.clip(weights, 0.0, 1.0)


def check_animation_path(path: str | os.PathLike) -> Path:
    return check_output_path(path, ANIMATION_SUFFIXES)


def write_animation(path: str | os.PathLike, weights: np.ndarray, head_pose: np.ndarray, fps: float,
                    audio_file: str | None = None) -> Path:
    """Write per-frame blendshape weights (F, 52) and head pose (F, 3) as .json or .csv, atomically."""
    target = check_animation_path(path)
    if len(weights) != len(head_pose):
        raise EmostudioError("Blendshape weights and head pose must have one row per frame each.")
    times = np.arange(len(weights)) / fps
    if target.suffix.lower() == ".json":
        record = {
            "format": "ARKit blendshapes",
            "fps": fps,
            "frames": len(weights),
            "audio": audio_file,
            "blendshapes": list(ARKIT_BLENDSHAPES),
            "head_pose": list(HEAD_POSE),
            "head_pose_units": "degrees",
            "weights": np.round(weights, 4).tolist(),
            "pose": np.round(head_pose, 3).tolist(),
        }
        text = json.dumps(record, separators=(",", ":"))
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["time", *ARKIT_BLENDSHAPES, *HEAD_POSE])
        for time, row, pose in zip(times, weights, head_pose):
            writer.writerow([f"{time:.4f}", *(f"{v:.4f}" for v in row), *(f"{v:.3f}" for v in pose)])
        text = buffer.getvalue()
    with atomic_output(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return target
