"""The action-unit rig: a displacement field on the face mesh for every FACS action unit and viseme.

Fields are written in face-normalised coordinates (origin between the eyes, x toward the image
right, y toward the chin, unit = the distance between the eye centres) and turned into pixels
through the portrait's own frame, so one definition fits any face, any size and a tilted head.
Each field is a set of handles (landmark groups with a displacement) spread to the surrounding
landmarks with a Gaussian falloff, restricted to the region the muscle moves (the jaw moves the
lower lip and chin, never the upper lip). Fields of symmetric units are mirror images left/right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...conditioning.controls import ACTION_UNITS
from . import topology as T

# Mouth and eye shapes driven by speech and liveliness, in addition to the emotion's AUs.
ARTICULATORS: tuple[str, ...] = ("JAW", "ROUND", "SPREAD", "PRESS", "LIP_UP", "BLINK")
CONTROLS: tuple[str, ...] = ACTION_UNITS + ARTICULATORS


@dataclass(frozen=True)
class FaceFrame:
    """Face-normalised coordinates of one portrait: p_face = R^T (p_px - origin) / scale."""

    origin: np.ndarray  # (2,) pixels, midpoint of the eye centres
    rotation: np.ndarray  # (2, 2) columns: face x axis, face y axis, in pixels
    scale: float  # interocular distance in pixels

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> FaceFrame:
        right_eye = landmarks[T.RIGHT_EYE_RING, :2].mean(axis=0)  # subject's right = image left
        left_eye = landmarks[T.LEFT_EYE_RING, :2].mean(axis=0)
        axis = left_eye - right_eye
        scale = float(np.linalg.norm(axis))
        x_axis = axis / scale
        y_axis = np.array([-x_axis[1], x_axis[0]])  # x right, y down (image convention)
        return cls((left_eye + right_eye) / 2, np.stack([x_axis, y_axis], axis=1), scale)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        return (points[..., :2] - self.origin) @ self.rotation / self.scale

    def to_pixels(self, vectors: np.ndarray) -> np.ndarray:
        """Face-unit displacement vectors to pixel displacement vectors."""
        return vectors @ self.rotation.T * self.scale


def _falloff(points: np.ndarray, handles: np.ndarray, sigma: float) -> np.ndarray:
    """(V, H) Gaussian weights of every point to every handle."""
    distance2 = ((points[:, None, :] - handles[None, :, :]) ** 2).sum(-1)
    return np.exp(-distance2 / (2 * sigma**2))


def _field(face: np.ndarray, handles: list[int], displacements: np.ndarray, sigma: float,
           region: np.ndarray | None = None) -> np.ndarray:
    """Spread handle displacements (H, 2) to all points, normalised so overlapping handles average."""
    weights = _falloff(face, face[handles], sigma)
    total = weights.sum(axis=1, keepdims=True)
    field = weights @ np.broadcast_to(displacements, (len(handles), 2)) / np.maximum(total, 1.0)
    if region is not None:
        field *= region[:, None]
    return field


def _mirror_pair(face: np.ndarray, right: list[int], left: list[int],
                 displacement_right: tuple[float, float] | np.ndarray, sigma: float,
                 region: np.ndarray | None = None) -> np.ndarray:
    """A symmetric field: the subject's right side moves by d, the left by d mirrored in x.

    ``d`` is one (dx, dy) for all handles or one per handle (H, 2); ``left`` lists the mirror
    images of ``right`` in the same order.
    """
    right_moves = np.broadcast_to(np.asarray(displacement_right, dtype=np.float64), (len(right), 2))
    return (_field(face, right, right_moves, sigma, region)
            + _field(face, left, right_moves * [-1.0, 1.0], sigma, region))


def _arched(indices: list[int], floor: float = 0.0) -> np.ndarray:
    """(H, 1) weights along an ordered contour: ``floor`` at both ends rising to 1 in the middle."""
    return (floor + (1 - floor) * np.sin(np.linspace(0.0, np.pi, len(indices)))[:, None])


def _graded(face: np.ndarray, indices: list[int], start: float, end: float) -> np.ndarray:
    """Per-handle weights running from ``start`` to ``end`` along an ordered landmark list."""
    return np.linspace(start, end, len(indices))[:, None]


# AU12 at full weight draws the subject's right lip corner this far out and up (face units; the
# left mirrors it), a broad smile: at half this, the smile an outside reader saw on most faces was
# too faint to read as happy (benchmarks/face_legibility.py). The cheeks move with the corners over a
# wide falloff, so the corners do not tear from the skin beside them.
SMILE_CORNER_PULL = (-0.24, -0.22)
SMILE_SIGMA = 0.3


def build_fields(landmarks: np.ndarray) -> tuple[FaceFrame, np.ndarray]:
    """(frame, fields): fields is (len(CONTROLS), V, 2) displacements in face units at full strength."""
    frame = FaceFrame.from_landmarks(landmarks)
    face = frame.to_face(landmarks)
    count = len(face)
    y = face[:, 1]

    mouth_y = face[T.LIP_CORNERS, 1].mean()
    upper_lip_y = face[T.UPPER_LIP_INNER, 1].mean()
    lower_lip_y = face[T.LOWER_LIP_INNER, 1].mean()
    split = (upper_lip_y + lower_lip_y) / 2
    # Region below the lip line, with a soft edge: what the jaw carries.
    lower_face = np.clip((y - split) / 0.06 + 0.5, 0.0, 1.0)
    lower_face[T.LOWER_LIP_ALL] = 1.0
    lower_face[T.UPPER_LIP_ALL] = 0.0
    upper_face = np.clip((mouth_y - 0.35 - y) / 0.1, 0.0, 1.0)  # forehead, brows, lids, upper nose
    # The eyeballs never move with the muscles around them: irises and the lids' opposite edge stay.
    iris = [T.RIGHT_IRIS_CENTER, *T.RIGHT_IRIS_RING, T.LEFT_IRIS_CENTER, *T.LEFT_IRIS_RING]
    upper_lids, lower_lids = T.RIGHT_UPPER_LID + T.LEFT_UPPER_LID, T.RIGHT_LOWER_LID + T.LEFT_LOWER_LID
    # Brows and forehead: above the upper lids (the eye centres are at y = 0 in face units).
    above_eyes = np.clip((-0.10 - y) / 0.06, 0.0, 1.0)
    above_eyes[upper_lids + lower_lids + iris] = 0.0
    # What lowers the brows moves the brows and the forehead as one and presses the skin between the
    # brows' lower edge and the lids together, so the brows keep their shape and nothing is pushed
    # past the lid.
    over_lid = _height_over_upper_lids(face)
    brow_gap = _brow_gap(face, over_lid)
    brow_down = np.clip(over_lid / brow_gap, 0.0, 1.0)
    brow_down[upper_lids + lower_lids + iris] = 0.0
    # Upper lid and the skin between lid and brow.
    upper_eye = np.clip((-0.01 - y) / 0.05, 0.0, 1.0) * upper_face
    upper_eye[upper_lids] = 1.0
    upper_eye[lower_lids + iris] = 0.0
    # Lower lid and cheek, down to the nose wings.
    lower_eye = np.clip((y - 0.01) / 0.05, 0.0, 1.0) * np.clip((mouth_y - 0.25 - y) / 0.15, 0.0, 1.0)
    lower_eye[lower_lids] = 1.0
    lower_eye[upper_lids + iris] = 0.0
    lips = np.zeros(count)
    lips[T.UPPER_LIP_ALL + T.LOWER_LIP_ALL] = 1.0
    near_mouth = np.clip(1.0 - np.abs(y - mouth_y) / 0.55, 0.0, 1.0) * (y > mouth_y - 0.6)
    # The red of the lips without its inner edge: what tightening (AU23) thins.
    outer_lips = lips.copy()
    outer_lips[T.UPPER_LIP_INNER + T.LOWER_LIP_INNER] = 0.0

    fields: dict[str, np.ndarray] = {}
    brow_sigma = 0.22
    # AU1: inner brow raiser (inner ends rise most), AU2: outer brow raiser.
    inner_weights = _graded(face, T.RIGHT_BROW, 1.0, 0.2)
    fields["AU1"] = (_field(face, T.RIGHT_BROW, inner_weights * np.array([0.0, -0.2]), brow_sigma, above_eyes)
                     + _field(face, T.LEFT_BROW, inner_weights * np.array([0.0, -0.2]), brow_sigma, above_eyes))
    outer_weights = _graded(face, T.RIGHT_BROW, 0.2, 1.0)
    fields["AU2"] = (_field(face, T.RIGHT_BROW, outer_weights * np.array([0.0, -0.14]), brow_sigma, above_eyes)
                     + _field(face, T.LEFT_BROW, outer_weights * np.array([0.0, -0.14]), brow_sigma, above_eyes))
    # AU4: brows down and together, the inner ends most (the oblique brows of a frown); they come
    # down at most 60% of their height over the lids.
    lowering = _graded(face, T.RIGHT_BROW, 1.0, 0.45) * np.array([0.08, 0.17])
    fields["AU4"] = _mirror_pair(face, T.RIGHT_BROW, T.LEFT_BROW, lowering, brow_sigma, brow_down)
    fields["AU4"][:, 1] *= np.minimum(1.0, 0.6 * brow_gap / 0.17)
    # AU5: upper lids up; AU7: lower lids up and upper lids slightly down; AU6: cheeks and lower lids up.
    # Lids move most in the middle and not at all at the corners, which hold the eyeball.
    fields["AU5"] = _mirror_pair(face, T.RIGHT_UPPER_LID, T.LEFT_UPPER_LID, _arched(T.RIGHT_UPPER_LID) * [0.0, -0.08],
                                 0.08, upper_eye)
    fields["AU7"] = (_mirror_pair(face, T.RIGHT_LOWER_LID, T.LEFT_LOWER_LID, _arched(T.RIGHT_LOWER_LID) * [0.0, -0.045],
                                  0.07, lower_eye)
                     + _mirror_pair(face, T.RIGHT_UPPER_LID, T.LEFT_UPPER_LID,
                                    _arched(T.RIGHT_UPPER_LID) * [0.0, 0.025], 0.06, upper_eye))
    cheek_region = np.maximum(lower_eye, np.clip((y - 0.05) / 0.1, 0.0, 1.0)) * (1.0 - lips)
    cheek_region[upper_lids + iris] = 0.0
    fields["AU6"] = (_mirror_pair(face, T.RIGHT_CHEEK, T.LEFT_CHEEK, (0.0, -0.08), 0.2, cheek_region)
                     + _mirror_pair(face, T.RIGHT_LOWER_LID, T.LEFT_LOWER_LID,
                                    _arched(T.RIGHT_LOWER_LID) * [0.0, -0.03], 0.06, lower_eye))
    # AU9: nose wrinkler lifts the nose wings and the centre of the upper lip, lowers inner brows.
    fields["AU9"] = (_mirror_pair(face, T.RIGHT_NOSE_WING, T.LEFT_NOSE_WING, (0.0, -0.09), 0.12)
                     + _field(face, T.UPPER_LIP_CENTER, np.array([0.0, -0.06]), 0.1, 1.0 - lower_face)
                     + _mirror_pair(face, T.RIGHT_BROW[:2], T.LEFT_BROW[:2], (0.02, 0.05), 0.12, brow_down))
    fields["AU9"][iris] = 0.0
    # AU10: upper lip raiser lifts the upper lip, its middle most, and a little of the nose wings.
    upper_lip = T.UPPER_LIP_OUTER[1:-1] + T.UPPER_LIP_INNER[1:-1]
    fields["AU10"] = (_field(face, upper_lip, np.concatenate([_arched(T.UPPER_LIP_OUTER[1:-1], 0.4),
                                                              _arched(T.UPPER_LIP_INNER[1:-1], 0.4)]) * [0.0, -0.08],
                             0.08, 1.0 - lower_face)
                      + _mirror_pair(face, T.RIGHT_NOSE_WING, T.LEFT_NOSE_WING, (0.0, -0.025), 0.08, 1.0 - lower_face))
    fields["AU10"][iris] = 0.0
    # Lip corners: AU12 pull out and up, AU15 down, AU20 out, AU14R right corner in and back.
    corner_sigma = 0.22
    fields["AU12"] = _mirror_pair(face, [T.RIGHT_LIP_CORNER], [T.LEFT_LIP_CORNER], SMILE_CORNER_PULL, SMILE_SIGMA,
                                  near_mouth)
    fields["AU15"] = _mirror_pair(face, [T.RIGHT_LIP_CORNER], [T.LEFT_LIP_CORNER], (0.04, 0.18), corner_sigma,
                                  near_mouth)
    fields["AU20"] = _mirror_pair(face, [T.RIGHT_LIP_CORNER], [T.LEFT_LIP_CORNER], (-0.22, 0.05), corner_sigma,
                                  near_mouth)
    fields["AU14R"] = _field(face, [T.RIGHT_LIP_CORNER], np.array([-0.07, -0.04]), 0.16, near_mouth)
    # AU16: lower lip down (centre most); AU23: lips thinned and tightened.
    fields["AU16"] = _field(face, T.LOWER_LIP_CENTER, np.array([0.0, 0.08]), 0.14, lower_face)
    fields["AU23"] = (_field(face, T.UPPER_LIP_OUTER_CENTER, np.array([0.0, 0.03]), 0.12,
                             outer_lips * (1.0 - lower_face))
                      + _field(face, T.LOWER_LIP_OUTER_CENTER, np.array([0.0, -0.03]), 0.12, outer_lips * lower_face)
                      + _mirror_pair(face, [T.RIGHT_LIP_CORNER], [T.LEFT_LIP_CORNER], (0.03, 0.0), 0.12, near_mouth))
    # AU17: chin raiser pushes the chin boss and the lower lip up (the lower lip pouts).
    fields["AU17"] = (_field(face, T.CHIN_BOSS, np.array([0.0, -0.09]), 0.16, lower_face)
                      + _field(face, T.LOWER_LIP_CENTER, np.array([0.0, -0.04]), 0.12, lower_face))
    # AU24: lip pressor presses the lips together and thins their red.
    fields["AU24"] = (_field(face, T.UPPER_LIP_OUTER_CENTER, np.array([0.0, 0.035]), 0.14,
                             outer_lips * (1.0 - lower_face))
                      + _field(face, T.LOWER_LIP_OUTER_CENTER, np.array([0.0, -0.045]), 0.14, outer_lips * lower_face)
                      + _field(face, T.UPPER_LIP_INNER, np.array([0.0, 0.02]), 0.06, 1.0 - lower_face)
                      + _field(face, T.LOWER_LIP_INNER, np.array([0.0, -0.02]), 0.06, lower_face))
    # AU26 / JAW: the jaw rotates open about the joints in front of the ears; everything below the
    # lip line follows. A point drops by how far in front of the joints it lies, so the chin drops
    # most and the jaw's sides least: the lower face lengthens into a taper, not a box.
    jaw = np.zeros((count, 2))
    ahead_of_joints = np.clip(1.0 - 0.75 * (face[:, 0] / 0.95) ** 2, 0.3, 1.0)
    jaw[:, 1] = 0.32 * lower_face * np.clip((y - split) / 0.5 + 0.6, 0.6, 1.0) * ahead_of_joints
    fields["AU26"] = jaw
    fields["JAW"] = jaw
    # AU27: mouth stretch, the jaw pulled far down with the lips stretched open and the corners
    # drawn in and down rather than up.
    fields["AU27"] = (1.5 * jaw
                      + _mirror_pair(face, [T.RIGHT_LIP_CORNER], [T.LEFT_LIP_CORNER], (0.05, 0.06), 0.14, near_mouth))
    # AU64: the eyes look down; the upper lids follow the gaze and the lower lids drop a little, so
    # the eyes look downcast rather than rolled down under a fixed lid.
    fields["AU64"] = (_mirror_pair(face, T.RIGHT_UPPER_LID, T.LEFT_UPPER_LID, _arched(T.RIGHT_UPPER_LID) * [0.0, 0.04],
                                   0.06, upper_eye)
                      + _mirror_pair(face, T.RIGHT_LOWER_LID, T.LEFT_LOWER_LID,
                                     _arched(T.RIGHT_LOWER_LID) * [0.0, 0.012], 0.05, lower_eye))
    fields["AU64"][iris] = [0.0, 0.06]
    # Visemes: rounding draws the corners in and opens the lips a little; spreading pulls them out;
    # pressing closes the lips; LIP_UP tucks the lower lip under the upper teeth (f, v).
    fields["ROUND"] = (_mirror_pair(face, [T.RIGHT_LIP_CORNER], [T.LEFT_LIP_CORNER], (0.10, 0.0), 0.16, near_mouth)
                       + _field(face, T.UPPER_LIP_OUTER_CENTER, np.array([0.0, -0.03]), 0.1, 1.0 - lower_face)
                       + _field(face, T.LOWER_LIP_OUTER_CENTER, np.array([0.0, 0.03]), 0.1, lower_face))
    fields["SPREAD"] = _mirror_pair(face, [T.RIGHT_LIP_CORNER], [T.LEFT_LIP_CORNER], (-0.07, -0.01), 0.16,
                                    near_mouth)
    fields["PRESS"] = (_field(face, T.UPPER_LIP_INNER, np.array([0.0, 0.02]), 0.06, 1.0 - lower_face)
                       + _field(face, T.LOWER_LIP_INNER, np.array([0.0, -0.02]), 0.06, lower_face))
    fields["LIP_UP"] = _field(face, T.LOWER_LIP_ALL, np.array([0.0, -0.04]), 0.08, lower_face)
    # BLINK: upper lids travel down onto the lower lids, point by point, and draw the lid's skin up
    # to the crease after them (less the higher it sits), so the whole lid stretches, not its rim.
    blink = np.zeros((count, 2))
    # The lashes just above the rim travel with it (so they stay a thin line); the skin above them
    # stretches.
    lid_skin = np.clip(1.0 - (over_lid - 0.035) / 0.12, 0.0, 1.0) * (over_lid > 0) * upper_eye
    for upper, lower in ((T.RIGHT_UPPER_LID, T.RIGHT_LOWER_LID), (T.LEFT_UPPER_LID, T.LEFT_LOWER_LID)):
        target = _resample(face[lower], len(upper))
        blink[upper] = target - face[upper]
        blink[upper] *= 0.95  # leave a hairline so the closed lid reads as a lid, not a fold
        order = np.argsort(face[upper, 0])
        span = (face[:, 0] >= face[upper, 0].min()) & (face[:, 0] <= face[upper, 0].max())
        skin = np.flatnonzero(span & (lid_skin > 0))
        skin = np.setdiff1d(skin, upper)
        travel = np.interp(face[skin, 0], face[upper, 0][order], blink[upper, 1][order])
        blink[skin, 1] = lid_skin[skin] * travel
    fields["BLINK"] = blink
    return frame, np.stack([fields[name] for name in CONTROLS])


def _height_over_upper_lids(face: np.ndarray) -> np.ndarray:
    """(V,) how far each point sits above the upper lids' line (face units; negative below it)."""
    lids = face[T.RIGHT_UPPER_LID + T.LEFT_UPPER_LID]
    order = np.argsort(lids[:, 0])
    return np.interp(face[:, 0], lids[order, 0], lids[order, 1]) - face[:, 1]


def _brow_gap(face: np.ndarray, over_lid: np.ndarray) -> np.ndarray:
    """(V,) the height of the brows' lower edge over the upper lids at each point's x (face units)."""
    edge = T.RIGHT_BROW_LOWER + T.LEFT_BROW_LOWER
    order = np.argsort(face[edge, 0])
    return np.maximum(np.interp(face[:, 0], face[edge, 0][order], over_lid[edge][order]), 0.05)


def _resample(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly along a polyline (to pair lid landmarks of different counts)."""
    segment = np.linalg.norm(np.diff(points, axis=0), axis=1)
    position = np.concatenate([[0.0], np.cumsum(segment)])
    targets = np.linspace(0.0, position[-1], count)
    return np.stack([np.interp(targets, position, points[:, k]) for k in range(2)], axis=1)


class FaceRig:
    """A portrait's landmarks with its fields in pixels: control weights in, landmark positions out."""

    def __init__(self, landmarks: np.ndarray, neutralise: bool = True) -> None:
        self.landmarks = landmarks[:, :2].astype(np.float64)
        self.frame, face_fields = build_fields(landmarks)
        self.fields = self.frame.to_pixels(face_fields)  # (C, V, 2) pixels
        self.index = {name: i for i, name in enumerate(CONTROLS)}
        # The portrait's own expression, countered so that every emotion starts from a neutral face.
        face = self.frame.to_face(landmarks)
        self.neutralising = neutralising_weights(face) if neutralise else {}
        # Undoing the portrait's smile moves the mouth only: the nose and the face's outline, which
        # make the person, stay where the portrait has them.
        self.rest = self.landmarks + (self.displacement(self.weights(**self.neutralising))
                                      * neutralising_region(face)[:, None])

    def weights(self, **values: float) -> np.ndarray:
        vector = np.zeros(len(CONTROLS))
        for name, value in values.items():
            vector[self.index[name]] = value
        return vector

    def displacement(self, weights: np.ndarray) -> np.ndarray:
        """(V, 2) pixel displacement for control weights (C,) or (C,) per frame -> (F, V, 2)."""
        return np.tensordot(weights, self.fields, axes=([-1], [0]))

    def deform(self, weights: np.ndarray) -> np.ndarray:
        return self.rest + self.displacement(weights)


# A face at rest holds its lip corners about level with the middle of the lips and its lips
# closed; a portrait beyond these (face units) smiles or shows its teeth, which a viewer reads as
# happy whatever else the face does.
REST_CORNER_RAISE = 0.04
REST_LIP_GAP = 0.03


def neutralising_weights(face: np.ndarray) -> dict[str, float]:
    """Control weights that undo a portrait's own smile and parted lips (face-unit landmarks in).

    The corners' raise above the middle of the lips beyond a resting face's is countered with a
    negative AU12 (its field lifts the corners by -SMILE_CORNER_PULL[1] at full weight), and parted lips
    are pressed together (PRESS closes the gap by 0.04 face units per unit weight).
    """
    middle = (face[T.UPPER_LIP_INNER[5], 1] + face[T.LOWER_LIP_INNER[5], 1]) / 2
    corner_raise = middle - face[T.LIP_CORNERS, 1].mean()
    gap = float(np.max(face[T.LOWER_LIP_INNER[3:8], 1] - face[T.UPPER_LIP_INNER[3:8], 1]))
    weights = {}
    if corner_raise > REST_CORNER_RAISE:
        weights["AU12"] = -float(min((corner_raise - REST_CORNER_RAISE) / -SMILE_CORNER_PULL[1], 1.0))
    if gap > REST_LIP_GAP:
        weights["PRESS"] = float(min((gap - REST_LIP_GAP) / 0.04, 5.0))
    return weights


def neutralising_region(face: np.ndarray) -> np.ndarray:
    """(V,) where undoing the portrait's own expression may move points: the mouth and the skin around it.

    Full weight from a little below the nose wings down, none on the nose and the face's outline.
    """
    nose_bottom = face[T.RIGHT_NOSE_WING + T.LEFT_NOSE_WING, 1].max()
    region = np.clip((face[:, 1] - nose_bottom) / 0.12, 0.0, 1.0)
    region[T.FACE_OVAL] = 0.0
    return region
