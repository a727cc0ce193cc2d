"""Legible expressions on the embedded talking head: the eye model, the added action units, animation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emostudio.conditioning import EmotionSpec
from emostudio.conditioning.heads import DEFAULT_EXPRESSION_TABLE, ACTION_UNITS
from emostudio.generation.face import topology as T
from emostudio.generation.face.perception import analyze_portrait
from emostudio.generation.face.render import WarpRenderer
from emostudio.generation.face.rig import CONTROLS, FaceRig
from emostudio.generation.face.talking_head import (EXPRESSION_ONSET_S, DrivingSpeech, WarpTalkingHead,
                                                    expression_curve)
from emostudio.generation.speech import SegmentTiming

SIZE = 320


@pytest.fixture(scope="module")
def face():
    return analyze_portrait(None, SIZE)


@pytest.fixture(scope="module")
def rig(face):
    return FaceRig(face.landmarks)


@pytest.fixture(scope="module")
def renderer(face):
    return WarpRenderer(face.image, face.landmarks)


def face_units(rig: FaceRig, name: str, index: int | list[int]) -> np.ndarray:
    pixels = rig.displacement(rig.weights(**{name: 1.0}))[index]
    return pixels @ rig.frame.rotation / rig.frame.scale


def region(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def disc(centre: np.ndarray, radius: float, shape: tuple[int, int]) -> np.ndarray:
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    return np.hypot(xs - centre[0], ys - centre[1]) <= radius


def luminance(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ [0.299, 0.587, 0.114]


# -- the eye model ----------------------------------------------------------------------------

def iris_geometry(face, side: T.EyeSide) -> tuple[np.ndarray, float]:
    centre = face.landmarks[side.iris_center, :2]
    radius = float(np.linalg.norm(face.landmarks[side.iris_ring, :2] - centre, axis=1).mean())
    return centre, radius


@pytest.mark.parametrize("side", T.EYES, ids=["right", "left"])
def test_widened_eyes_show_more_sclera_around_an_iris_that_keeps_its_shape(face, rig, renderer, side):
    shape = face.image.shape[:2]
    neutral = renderer.render(rig.deform(rig.weights()))
    wide_points = rig.deform(rig.weights(AU5=1.0))
    wide = renderer.render(wide_points)
    rest_open = region(face.landmarks[side.loop, :2], shape)
    wide_open = region(wide_points[side.loop], shape)
    assert wide_open.sum() > 1.3 * rest_open.sum(), "AU5 opens the eye"
    centre, radius = iris_geometry(face, side)
    iris = disc(centre, 0.8 * radius, shape)
    # The iris that showed before shows unchanged: it is not pulled taller with the lid.
    seen_before = iris & rest_open
    seen_before = cv2.erode(seen_before.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert seen_before.sum() > 20
    assert np.abs(wide[seen_before].astype(int) - neutral[seen_before].astype(int)).mean() < 12
    # What the lid uncovers beside the iris is the white of the eye, far lighter than the iris.
    uncovered = wide_open & ~cv2.dilate(rest_open.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    sclera = uncovered & ~disc(centre, 1.2 * radius, shape)
    assert sclera.sum() > 10
    assert luminance(wide)[sclera].mean() > luminance(wide)[seen_before].mean() + 30


@pytest.mark.parametrize("side", T.EYES, ids=["right", "left"])
def test_a_blink_covers_the_eyeball_with_lid(face, rig, renderer, side):
    shape = face.image.shape[:2]
    neutral = renderer.render(rig.deform(rig.weights()))
    closed = renderer.render(rig.deform(rig.weights(BLINK=1.0)))
    centre, radius = iris_geometry(face, side)
    iris_seen = disc(centre, 0.8 * radius, shape) & region(face.landmarks[side.loop, :2], shape)
    # The dark iris is gone under the lid: the area turns as light as the skin.
    skin = disc(centre + [0, -2.2 * radius], 0.6 * radius, shape)
    assert luminance(neutral)[iris_seen].mean() < luminance(neutral)[skin].mean() - 40
    assert luminance(closed)[iris_seen].mean() > luminance(neutral)[iris_seen].mean() + 30


def test_lid_units_leave_the_eye_corners_where_they_are(rig):
    for name in ("AU5", "AU7", "AU64", "BLINK"):
        for side in T.EYES:
            for corner in (side.inner, side.outer):
                assert np.linalg.norm(face_units(rig, name, corner)) < 0.01, f"{name} moves corner {corner}"


# -- the added action units -------------------------------------------------------------------

def test_upper_lip_raiser_lifts_the_upper_lip_not_the_lower(rig):
    upper = face_units(rig, "AU10", T.UPPER_LIP_OUTER_CENTER)[:, 1].mean()
    lower = face_units(rig, "AU10", T.LOWER_LIP_OUTER_CENTER)[:, 1].mean()
    assert upper < -0.05 and abs(lower) < 0.01


def test_chin_raiser_pushes_chin_and_lower_lip_up(rig):
    assert face_units(rig, "AU17", T.CHIN_BOSS)[:, 1].mean() < -0.03
    assert face_units(rig, "AU17", T.LOWER_LIP_OUTER_CENTER)[:, 1].mean() < -0.02
    assert np.abs(face_units(rig, "AU17", T.UPPER_LIP_OUTER_CENTER)).max() < 0.01


def test_lip_pressor_thins_the_lips(rig):
    upper = face_units(rig, "AU24", T.UPPER_LIP_OUTER_CENTER)[:, 1].mean()
    lower = face_units(rig, "AU24", T.LOWER_LIP_OUTER_CENTER)[:, 1].mean()
    assert upper > 0.02 and lower < -0.02


def lip_crossing_triangles(points: np.ndarray, triangles: np.ndarray) -> int:
    """Triangles joining the middle of one inner lip line to the body of the other lip, past its line."""
    upper, lower = points[T.UPPER_LIP_INNER], points[T.LOWER_LIP_INNER]
    x = points[:, 0]
    within = (x > upper[1, 0]) & (x < upper[-2, 0])
    below = within & (points[:, 1] > np.interp(x, lower[:, 0], lower[:, 1]) + 1.0)
    above = within & (points[:, 1] < np.interp(x, upper[:, 0], upper[:, 1]) - 1.0)
    upper_middle = np.isin(np.arange(len(points)), T.UPPER_LIP_INNER[2:-2])
    lower_middle = np.isin(np.arange(len(points)), T.LOWER_LIP_INNER[2:-2])
    face_triangles = triangles[(triangles < len(points)).all(axis=1)]
    return int(((upper_middle[face_triangles].any(axis=1) & below[face_triangles].any(axis=1))
                | (lower_middle[face_triangles].any(axis=1) & above[face_triangles].any(axis=1))).sum())


def test_closed_lips_are_meshed_so_an_opening_jaw_stretches_no_triangle_over_the_lower_lip():
    from scipy.spatial import Delaunay

    from emostudio.generation.face.perception import analyze_image
    from emostudio.train.synth import IDENTITIES, make_portrait

    closed = next(identity for identity in IDENTITIES if identity.name == "hopper-a")  # lips together
    face = analyze_image(make_portrait(closed, SIZE), SIZE, closed.name)
    renderer = WarpRenderer(face.image, face.landmarks)
    # A plain triangulation of the closed lips does join the lines (so the check can fail)...
    assert lip_crossing_triangles(renderer.face_points, Delaunay(renderer.vertices).simplices) > 0
    # ...the renderer's does not.
    assert lip_crossing_triangles(renderer.face_points, renderer.triangles) == 0


def test_a_fold_shows_no_mirrored_skin(face, renderer):
    """A point pushed past its neighbours turns triangles over; none of them is painted mirrored."""
    positions = face.landmarks[:, :2].astype(np.float64).copy()
    positions[T.NOSE_TIP, 0] += 0.25 * renderer.interocular
    vertices = renderer.vertices.copy()
    vertices[: renderer.face_count] = positions
    source = renderer.backward_map(vertices)
    d_source_x = np.gradient(source[..., 0])  # (d/dy, d/dx)
    d_source_y = np.gradient(source[..., 1])
    jacobian = d_source_x[1] * d_source_y[0] - d_source_x[0] * d_source_y[1]
    assert (jacobian < -0.05).sum() == 0


def test_mouth_stretch_opens_wider_than_a_jaw_drop_with_corners_not_raised(rig):
    def opening(name: str) -> float:
        return float(face_units(rig, name, T.LOWER_LIP_INNER[5])[1] - face_units(rig, name, T.UPPER_LIP_INNER[5])[1])

    assert opening("AU27") > 1.3 * opening("AU26") > 0.2
    for corner in T.LIP_CORNERS:
        assert face_units(rig, "AU27", corner)[1] > 0.0, "the corners go down, not up"


def test_an_opening_jaw_drops_the_chin_most_and_its_sides_least(rig):
    """The jaw turns about joints beside the face: the chin drops, the outline tapers down to it."""
    drop = face_units(rig, "JAW", T.FACE_OVAL)[:, 1]
    across = np.abs(rig.frame.to_face(rig.rest)[T.FACE_OVAL, 0])
    lower = drop > 0.01
    chin = T.FACE_OVAL.index(T.CHIN)
    assert drop[chin] == pytest.approx(drop.max(), rel=0.05)
    # Along the lower outline, the farther out from the middle, the less it drops.
    assert np.corrcoef(across[lower], drop[lower])[0, 1] < -0.8
    assert drop[lower].min() < 0.5 * drop[chin]


def test_brow_lowerer_draws_the_brows_down_and_together_without_passing_the_lids(rig):
    right, left = face_units(rig, "AU4", T.RIGHT_BROW[0]), face_units(rig, "AU4", T.LEFT_BROW[0])
    assert right[0] > 0.02 and left[0] < -0.02 and right[1] > 0.04 and left[1] > 0.04
    moved = rig.frame.to_face(rig.deform(rig.weights(AU4=1.0, AU7=1.0)))
    rest = rig.frame.to_face(rig.landmarks)
    above = [i for i in range(468) if rest[i, 1] < rest[T.RIGHT_UPPER_LID[4], 1] - 0.02
             and abs(rest[i, 0] - rest[T.RIGHT_UPPER_LID[4], 0]) < 0.02]
    assert above, "points above the lid's middle"
    assert (moved[above, 1] < moved[T.RIGHT_UPPER_LID[4], 1]).all(), "skin folded past the lid"


def test_lip_stretcher_pulls_the_corners_out_more_than_down(rig):
    right, left = face_units(rig, "AU20", T.RIGHT_LIP_CORNER), face_units(rig, "AU20", T.LEFT_LIP_CORNER)
    widening = left[0] - right[0]
    assert widening > 0.3, "the mouth stretches sideways"
    assert 0.0 < right[1] < 0.5 * widening / 2 and 0.0 < left[1] < 0.5 * widening / 2


@pytest.mark.parametrize("side", T.EYES, ids=["right", "left"])
def test_downcast_eyes_lower_the_iris_with_the_upper_lid_following(face, rig, renderer, side):
    iris = face_units(rig, "AU64", [side.iris_center, *side.iris_ring])
    assert (iris[:, 1] > 0.04).all() and np.abs(iris[:, 0]).max() < 1e-6, "the iris turns straight down"
    lid = face_units(rig, "AU64", side.upper[len(side.upper) // 2])
    assert 0.02 < lid[1] < iris[0, 1], "the upper lid follows the gaze, less far"
    # On the rendered frame the dark iris sits lower: its darkness shifts below the rest centre.
    shape = face.image.shape[:2]
    centre, radius = iris_geometry(face, side)
    above, below = disc(centre - [0, 0.6 * radius], 0.35 * radius, shape), disc(centre + [0, 0.6 * radius],
                                                                                0.35 * radius, shape)
    rest, down = renderer.render(rig.deform(rig.weights())), renderer.render(rig.deform(rig.weights(AU64=1.0)))
    assert luminance(down)[above].mean() > luminance(rest)[above].mean() + 5
    assert luminance(down)[below].mean() <= luminance(rest)[below].mean() + 2


def test_lowered_brows_keep_their_shape_and_lower_most_at_the_inner_ends(rig):
    for upper, lower in ((T.RIGHT_BROW_UPPER, T.RIGHT_BROW_LOWER), (T.LEFT_BROW_UPPER, T.LEFT_BROW_LOWER)):
        top, bottom = face_units(rig, "AU4", upper)[:, 1], face_units(rig, "AU4", lower)[:, 1]
        # The brow moves as a band: its upper and lower edges come down alike (it is not squashed).
        assert np.abs(top - bottom).max() < 0.25 * bottom.max()
        # The inner end comes down more than the outer end.
        assert bottom[0] > 1.5 * bottom[-1] > 0.0


def test_emotions_use_their_action_units():
    row = {name: dict(zip(ACTION_UNITS, DEFAULT_EXPRESSION_TABLE[name])) for name in DEFAULT_EXPRESSION_TABLE}
    assert row["happy"]["AU12"] > 0.5
    assert row["sad"]["AU15"] > 0.3 and row["sad"]["AU12"] == 0.0
    assert row["angry"]["AU4"] > 0.3
    assert max(row["surprised"]["AU26"], row["surprised"]["AU27"]) > 0.3 and row["surprised"]["AU12"] == 0.0
    assert row["surprised"]["AU5"] > 0.3 and row["fearful"]["AU5"] > 0.3
    assert max(row["disgusted"]["AU9"], row["disgusted"]["AU10"]) > 0.3
    assert row["contempt"]["AU14R"] > 0.5
    assert not any(DEFAULT_EXPRESSION_TABLE["neutral"])


def test_disgust_raises_the_upper_lip_toward_the_nose_and_wrinkles_the_nose(rig):
    """Its two defining units show on the deformed face, whatever else disgust's row moves."""
    units = {au: value for au, value in zip(ACTION_UNITS, DEFAULT_EXPRESSION_TABLE["disgusted"]) if value}

    def gaps(points: np.ndarray) -> np.ndarray:
        face = rig.frame.to_face(points)
        lip = np.linalg.norm(face[T.UPPER_LIP_OUTER_CENTER].mean(axis=0) - face[T.NOSE_TIP])
        corners = face[[T.RIGHT_EYE_INNER, T.LEFT_EYE_INNER]].mean(axis=0)
        wings = np.linalg.norm(face[T.RIGHT_NOSE_WING + T.LEFT_NOSE_WING].mean(axis=0) - corners)
        return np.array([lip, wings])

    nearer = gaps(rig.deform(rig.weights())) - gaps(rig.deform(rig.weights(**units)))
    assert (nearer > 0.06).all(), f"upper lip / nose wings nearer by {nearer} interocular distances"


# -- animation --------------------------------------------------------------------------------

def test_expression_sets_in_from_neutral_and_changes_gradually():
    fps = 25.0
    times = np.arange(int(3.0 * fps)) / fps
    units = np.zeros((2, len(ACTION_UNITS)))
    units[0, ACTION_UNITS.index("AU12")] = 0.8
    units[1, ACTION_UNITS.index("AU15")] = 0.8
    loud = np.ones(len(times))
    curve = expression_curve(times, [1.5], units, loud, np.random.default_rng(0))
    smile, frown = curve[:, ACTION_UNITS.index("AU12")], curve[:, ACTION_UNITS.index("AU15")]
    assert smile[0] == 0.0 and 0.0 < smile[int(0.5 * EXPRESSION_ONSET_S * fps)] < 0.6
    assert smile[int(1.0 * fps)] > 0.6
    # The change at 1.5 s takes a few hundred milliseconds: no jump from one frame to the next.
    assert np.abs(np.diff(smile[int(fps):])).max() < 0.15
    assert frown[int(2.5 * fps)] > 0.6 and smile[int(2.5 * fps)] < 0.05
    # It is alive: the held expression is not one frozen value.
    held = smile[int(0.6 * fps):int(1.2 * fps)]
    assert held.std() > 0.002


def test_expression_apex_follows_the_speech_emphasis():
    fps = 25.0
    times = np.arange(int(4.0 * fps)) / fps
    units = np.zeros((1, len(ACTION_UNITS)))
    units[0, ACTION_UNITS.index("AU1")] = 0.8
    loudness = np.where((times > 2.0) & (times < 3.0), 1.0, 0.2)
    # Over several seeds, so the slow random drift does not decide.
    curve = np.mean([expression_curve(times, [], units, loudness, np.random.default_rng(seed))[:, ACTION_UNITS.index("AU1")]
                     for seed in range(8)], axis=0)
    stressed, quiet = curve[(times > 2.2) & (times < 2.8)].mean(), curve[(times > 0.8) & (times < 1.6)].mean()
    assert stressed > quiet + 0.05


def test_talking_face_moves_while_holding_an_emotion(face):
    rate = 16000
    t = np.arange(int(2.0 * rate)) / rate
    audio = (0.2 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    speech = DrivingSpeech(audio, rate, [SegmentTiming("", EmotionSpec.parse("surprised"), 0.0, 2.0)])
    controls = WarpTalkingHead().animate(speech, 25, seed=0).controls
    # Surprise's mouth stretch is held, and not at one value: it moves by a few percent of its level.
    stretch = controls[10:, CONTROLS.index("AU27")]
    assert stretch.max() > 0.3 and np.ptp(stretch) > 0.02 * stretch.mean()


@pytest.mark.parametrize("emotion", ["surprised", "fearful"])
def test_a_dropped_jaw_still_follows_the_syllables(emotion):
    from emostudio.generation.face.lipsync import loudness_envelope

    rate = 16000
    t = np.arange(int(3.0 * rate)) / rate
    audio = (0.2 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    speech = DrivingSpeech(audio, rate, [SegmentTiming("", EmotionSpec.parse(emotion), 0.0, 3.0)])
    animation = WarpTalkingHead().animate(speech, 25, seed=0)
    # The jaw's opening: its own control and the mouth stretch, whose field drops the jaw 1.5 times as far.
    jaw = animation.controls[:, CONTROLS.index("JAW")] + 1.5 * animation.controls[:, CONTROLS.index("AU27")]
    loud = loudness_envelope(audio, rate, animation.times)
    assert jaw.min() > 0.05, "held a little open"
    assert np.corrcoef(jaw[10:], loud[10:])[0, 1] > 0.8


# -- expression shading ------------------------------------------------------------------------

def test_lowered_brows_darken_a_furrow_between_them_and_leave_the_cheeks(face, rig, renderer):
    shape = face.image.shape[:2]
    controls = rig.weights(AU4=1.0)
    points = rig.deform(controls)
    plain = luminance(renderer.render(points))
    shaded = luminance(renderer.render(points, controls=controls))
    brows = (face.landmarks[T.RIGHT_BROW_LOWER[0], :2] + face.landmarks[T.LEFT_BROW_LOWER[0], :2]) / 2
    between = disc(brows + [0, 0.03 * rig.frame.scale], 0.12 * rig.frame.scale, shape)
    cheek = disc(face.landmarks[T.RIGHT_CHEEK[0], :2], 0.1 * rig.frame.scale, shape)
    assert (plain - shaded)[between].mean() > 3, "the furrow between lowered brows is darker"
    assert np.abs(plain - shaded)[cheek].mean() < 1, "the cheeks keep their light"
    # Without the unit there is no shading at all.
    rest = rig.weights()
    assert np.array_equal(renderer.render(rig.deform(rest)), renderer.render(rig.deform(rest), controls=rest))


def test_creases_have_lit_ridges_beside_them(face, rig, renderer):
    """A raised brow's forehead lines are dark lines with lighter skin between them, not drawn strokes."""
    controls = rig.weights(AU1=1.0)
    points = rig.deform(controls)
    change = luminance(renderer.render(points, controls=controls)) - luminance(renderer.render(points))
    brows = (face.landmarks[T.RIGHT_BROW_UPPER[0], :2] + face.landmarks[T.LEFT_BROW_UPPER[0], :2]) / 2
    forehead = disc(brows + [0, -0.3 * rig.frame.scale], 0.3 * rig.frame.scale, face.image.shape[:2])
    assert change[forehead].min() < -8, "dark lines"
    assert change[forehead].max() > 3, "lit ridges"


def test_creases_that_overlap_saturate_into_a_warm_shadow(face, rig, renderer):
    """The nasolabial folds of AU9, AU10 and AU12 together deepen, but not into a black smear."""
    controls = rig.weights(AU9=1.0, AU10=1.0, AU12=1.0)
    points = rig.deform(controls)
    plain = renderer.render(points).astype(np.float64)
    shaded = renderer.render(points, controls=controls).astype(np.float64)
    lit_skin = (luminance(plain) > 80) & (luminance(shaded) < luminance(plain) - 10)
    assert lit_skin.sum() > 50, "the folds show"
    kept = luminance(shaded)[lit_skin] / luminance(plain)[lit_skin]
    assert kept.min() > 0.5, "no fold takes more than half the light"
    # Skin's shadow is warm: red loses the least, blue the most.
    red, green, blue = (shaded[lit_skin, c].sum() / plain[lit_skin, c].sum() for c in range(3))
    assert red > green > blue


def test_a_grey_portrait_gets_grey_creases(face, rig):
    grey = np.repeat(luminance(face.image).round().astype(np.uint8)[..., None], 3, axis=2)
    renderer = WarpRenderer(grey, face.landmarks)
    controls = rig.weights(AU9=1.0, AU10=1.0, AU12=1.0)
    shaded = renderer.render(rig.deform(controls), controls=controls).astype(np.int16)
    folds = np.abs(shaded - renderer.render(rig.deform(controls)).astype(np.int16)).max(axis=2) > 10
    assert folds.sum() > 50
    assert np.abs(shaded[folds, 0] - shaded[folds, 2]).max() <= 1, "no colour cast on a black-and-white photo"


# -- the portrait's own expression -------------------------------------------------------------

def corner_raise_and_gap(rig: FaceRig, points: np.ndarray) -> tuple[float, float]:
    face = rig.frame.to_face(points)
    middle = (face[T.UPPER_LIP_INNER[5], 1] + face[T.LOWER_LIP_INNER[5], 1]) / 2
    gap = float(np.max(face[T.LOWER_LIP_INNER[3:8], 1] - face[T.UPPER_LIP_INNER[3:8], 1]))
    return float(middle - face[T.LIP_CORNERS, 1].mean()), gap


def test_a_smiling_portrait_with_parted_lips_is_brought_back_to_a_resting_mouth(face):
    # The default portrait smiles broadly and shows its teeth.
    plain = FaceRig(face.landmarks, neutralise=False)
    smile_raise, smile_gap = corner_raise_and_gap(plain, face.landmarks[:, :2])
    rig = FaceRig(face.landmarks)
    assert set(rig.neutralising) == {"AU12", "PRESS"}
    raise_, gap = corner_raise_and_gap(rig, rig.deform(rig.weights()))
    assert raise_ < smile_raise - 0.08, "the corners come down"
    assert gap < 0.3 * smile_gap, "the lips close"
    # The neutralised face is a resting one: a portrait of it would need no more correction.
    resting = face.landmarks.copy()
    resting[:, :2] = rig.deform(rig.weights())
    again = FaceRig(resting).neutralising
    assert abs(again.get("AU12", 0.0)) < 0.15 and again.get("PRESS", 0.0) < 0.5
    # Smiling on purpose still smiles.
    smiling, _ = corner_raise_and_gap(rig, rig.deform(rig.weights(AU12=1.0)))
    assert smiling > raise_ + 0.08


def test_undoing_the_portraits_smile_leaves_nose_and_outline_in_place(face):
    """The person stays: only the mouth and the skin around it move to the resting face."""
    rig = FaceRig(face.landmarks)
    moved = np.linalg.norm(rig.frame.to_face(rig.rest) - rig.frame.to_face(face.landmarks), axis=1)
    assert moved[T.UPPER_LIP_ALL + T.LOWER_LIP_ALL].max() > 0.1, "the mouth is neutralised"
    person = T.FACE_OVAL + T.RIGHT_NOSE_WING + T.LEFT_NOSE_WING + [T.NOSE_TIP]
    assert moved[person].max() < 0.01
