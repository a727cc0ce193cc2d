"""Face perception on real images: loading, finding, framing, landmarks and tracking."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from mediapipe.python.solutions import face_mesh_connections as mesh
from PIL import Image
from skimage import data

from emostudio.errors import EmostudioError
from emostudio.generation.face import perception as P
from emostudio.generation.face import topology as T

# protobuf's deprecation notice on every MediaPipe result is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype")

LOOPS = {
    "LIPS_OUTER_LOOP": mesh.FACEMESH_LIPS, "LIPS_INNER_LOOP": mesh.FACEMESH_LIPS,
    "RIGHT_EYE_LOOP": mesh.FACEMESH_RIGHT_EYE, "LEFT_EYE_LOOP": mesh.FACEMESH_LEFT_EYE,
    "FACE_OVAL": mesh.FACEMESH_FACE_OVAL,
    "RIGHT_IRIS_RING": mesh.FACEMESH_RIGHT_IRIS, "LEFT_IRIS_RING": mesh.FACEMESH_LEFT_IRIS,
}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def default() -> P.FaceAnalysis:
    return P.analyze_portrait(size=256)


def _save(tmp_path, name: str, image: Image.Image | np.ndarray, **options) -> str:
    path = tmp_path / name
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(path, **options)
    return str(path)


def _area(points: np.ndarray) -> float:
    """Shoelace area, positive for loops that run clockwise on screen (y down)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_default_portrait_is_framed_with_478_landmarks(default):
    image, points = default.image, default.landmarks
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert points.shape == (478, 3) and points.dtype == np.float32
    assert (points[:, :2] >= 0).all() and (points[:, :2] < 256).all()
    assert default.warnings == []
    x0, y0, x1, y1 = default.face_box
    assert abs((x0 + x1) / 2 - 128) < 0.1 * 256  # centred across
    assert 0.3 * 256 < (y0 + y1) / 2 < 0.6 * 256  # a little above the middle
    assert 0.3 * 256 < y1 - y0 < 0.6 * 256
    assert 30 < default.interocular < 70


def test_features_sit_where_a_face_has_them(default):
    p = default.landmarks
    nose_x = p[T.NOSE_TIP, 0]
    eyes_y = p[[T.RIGHT_IRIS_CENTER, T.LEFT_IRIS_CENTER], 1]
    assert eyes_y.max() < p[T.NOSE_TIP, 1] < p[list(T.LIPS_OUTER_LOOP), 1].min()
    assert p[list(T.LIPS_OUTER_LOOP), 1].max() < p[T.CHIN, 1]
    # Subject's right is the image's left.
    assert p[T.RIGHT_IRIS_CENTER, 0] < nose_x < p[T.LEFT_IRIS_CENTER, 0]
    assert p[T.MOUTH_CORNERS[0], 0] < nose_x < p[T.MOUTH_CORNERS[1], 0]
    for upper, lower, brow in ((T.RIGHT_UPPER_LID, T.RIGHT_LOWER_LID, T.RIGHT_BROW),
                               (T.LEFT_UPPER_LID, T.LEFT_LOWER_LID, T.LEFT_BROW)):
        assert upper[0] == lower[0] and upper[-1] == lower[-1]  # shared corners
        assert abs(p[upper[0], 0] - nose_x) < abs(p[upper[-1], 0] - nose_x)  # inner corner first
        assert p[upper[len(upper) // 2], 1] < p[lower[len(lower) // 2], 1]
        assert abs(p[brow[0], 0] - nose_x) < abs(p[brow[-1], 0] - nose_x)
        assert p[list(brow), 1].mean() < p[list(upper), 1].mean()
    assert p[list(T.UPPER_LIP_INNER), 1].mean() < p[list(T.LOWER_LIP_INNER), 1].mean()
    nose = sorted({i for edge in mesh.FACEMESH_NOSE for i in edge})
    assert nose[int(np.argmin(p[nose, 2]))] == T.NOSE_TIP  # the most forward point


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_ordered_loops_follow_mediapipe_edges_clockwise(default, name):
    loop = getattr(T, name)
    edges = {frozenset(edge) for edge in LOOPS[name]}
    assert len(set(loop)) == len(loop) >= 4
    assert all(frozenset(pair) in edges for pair in zip(loop, loop[1:] + loop[:1]))
    assert _area(default.landmarks[list(loop), :2]) > 5


def test_tessellation_covers_the_face_around_eyes_and_mouth(default):
    triangles = T.TRIANGLES
    assert triangles.shape == (852, 3) and set(np.unique(triangles)) == set(range(468))
    edges = {frozenset(edge) for edge in mesh.FACEMESH_TESSELATION}
    assert all(frozenset((a, b)) in edges for a, b, _ in triangles)
    corners = default.landmarks[triangles][:, :, :2]
    first, second = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    covered = 0.5 * np.abs(first[:, 0] * second[:, 1] - first[:, 1] * second[:, 0]).sum()
    holes = sum(_area(default.landmarks[list(getattr(T, n)), :2])
                for n in ("RIGHT_EYE_LOOP", "LEFT_EYE_LOOP", "LIPS_INNER_LOOP"))
    assert covered == pytest.approx(_area(default.landmarks[list(T.FACE_OVAL), :2]) - holes, rel=0.03)


@pytest.mark.parametrize("make", [data.coffee, data.chelsea])
def test_photo_without_a_face_is_refused(tmp_path, make):
    path = _save(tmp_path, "scene.jpg", make())
    with pytest.raises(EmostudioError, match="No face was found in .*scene.jpg"):
        P.analyze_portrait(path, 256)


def test_two_faces_use_the_larger_with_a_warning(tmp_path, astronaut):
    head = astronaut[30:330, 80:380]
    canvas = np.full((420, 720, 3), 200, np.uint8)
    canvas[110:310, 20:220] = cv2.resize(head, (200, 200), interpolation=cv2.INTER_AREA)
    canvas[10:410, 300:700] = cv2.resize(head, (400, 400), interpolation=cv2.INTER_CUBIC)
    result = P.analyze_portrait(_save(tmp_path, "two.png", canvas), 256)
    assert any("2 faces" in w and "largest" in w for w in result.warnings)
    x0, _, x1, _ = result.source_box
    assert (x0 + x1) / 2 > 300 and x1 - x0 > 100


def test_a_small_face_in_a_large_photo_is_still_found(tmp_path, astronaut):
    canvas = np.full((1500, 2000, 3), 180, np.uint8)
    # A face ~64 px wide, under the ~5% of the width that the detectors find in one pass.
    canvas[300:660, 900:1260] = cv2.resize(astronaut, (360, 360), interpolation=cv2.INTER_AREA)
    result = P.analyze_portrait(_save(tmp_path, "wide.jpg", canvas, quality=92), 512)
    assert 900 < result.source_box[0] < result.source_box[2] < 1260
    assert any("soft" in w for w in result.warnings)


def test_a_tiny_face_is_refused(tmp_path, astronaut):
    tiny = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)  # face ~30 px
    with pytest.raises(EmostudioError, match="too small"):
        P.analyze_portrait(_save(tmp_path, "tiny.png", tiny), 256)


def test_face_at_the_photo_edge_is_framed_without_black_bars(tmp_path, astronaut):
    result = P.analyze_portrait(_save(tmp_path, "edge.png", astronaut[60:, 150:330]), 256)
    assert any("edge" in w for w in result.warnings)
    image = result.image.astype(float)
    assert min(image[:, :3].mean(), image[:, -3:].mean(), image[:3].mean(), image[-3:].mean()) > 40
    x0, _, x1, _ = result.face_box
    assert abs((x0 + x1) / 2 - 128) < 0.15 * 256


def _modes(astronaut: np.ndarray) -> dict[str, Image.Image]:
    rgba = np.zeros((640, 640, 4), np.uint8)
    rgba[64:576, 64:576, :3], rgba[64:576, 64:576, 3] = astronaut, 255
    return {
        "gray.png": Image.fromarray(astronaut).convert("L"),
        "rgba.png": Image.fromarray(rgba),
        "palette.png": Image.fromarray(astronaut).convert("P", palette=Image.Palette.ADAPTIVE),
        "gray16.png": Image.fromarray((astronaut.mean(axis=2) * 257).astype(np.uint16)),
        "cmyk.jpg": Image.fromarray(astronaut).convert("CMYK"),
    }


@pytest.mark.parametrize("name", ["gray.png", "rgba.png", "palette.png", "gray16.png", "cmyk.jpg"])
def test_image_modes_load_as_rgb_and_work(tmp_path, astronaut, name):
    path = _save(tmp_path, name, _modes(astronaut)[name])
    image = P.load_image(path)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    if name == "rgba.png":
        assert image.shape == (640, 640, 3) and (image[:64] == 255).all()  # transparency over white
    else:
        assert image.shape == (512, 512, 3)
        assert abs(float(image.mean()) - float(astronaut.mean())) < 8  # 16-bit scaled, not clipped
    assert P.analyze_portrait(path, 256).landmarks.shape == (478, 3)


def test_sixteen_bit_colour_png_loads(tmp_path, astronaut):
    path = str(tmp_path / "colour16.png")
    cv2.imwrite(path, astronaut[:, :, ::-1].astype(np.uint16) * 257)
    assert np.abs(P.load_image(path).astype(int) - astronaut).max() <= 1


def test_exif_orientation_is_applied(tmp_path, astronaut):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(tmp_path, "phone.jpg", np.rot90(astronaut), exif=exif, quality=95)
    assert np.abs(P.load_image(path).astype(float) - astronaut).mean() < 4


def test_large_photo_is_downscaled(tmp_path, astronaut):
    big = cv2.resize(astronaut, (3000, 3000), interpolation=cv2.INTER_LINEAR)
    image = P.load_image(_save(tmp_path, "big.jpg", big, quality=85))
    assert image.shape == (P.MAX_ANALYSIS_SIDE, P.MAX_ANALYSIS_SIDE, 3)


def test_truncated_jpeg_is_reported(tmp_path, astronaut):
    whole = tmp_path / "whole.jpg"
    Image.fromarray(astronaut).save(whole, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(EmostudioError, match="truncated or damaged"):
        P.analyze_portrait(cut)


def test_text_file_named_png_is_not_an_image(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("just some notes\n")
    with pytest.raises(EmostudioError, match="not an image"):
        P.load_image(fake)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(EmostudioError, match="does not exist"):
        P.load_image(tmp_path / "missing.jpg")
    with pytest.raises(EmostudioError, match="is a folder"):
        P.analyze_portrait(tmp_path)


def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path, astronaut, monkeypatch):
    path = _save(tmp_path, "face.png", astronaut)
    monkeypatch.setattr(P, "MAX_IMAGE_PIXELS", 200_000)
    with pytest.raises(EmostudioError, match="megapixel limit"):
        P.load_image(path)


def test_a_real_decompression_bomb_is_refused(tmp_path):
    path = _save(tmp_path, "bomb.png", Image.new("1", (8000, 8000)))  # 64 megapixels in a few kB
    with pytest.raises(EmostudioError, match="megapixel limit"):
        P.load_image(path)


@pytest.mark.parametrize("size", [100, 513, 2048, 256.0, True])
def test_bad_sizes_are_refused(size):
    with pytest.raises(EmostudioError, match="even number of pixels"):
        P.analyze_portrait(size=size)


def test_tracker_follows_the_framed_face(default):
    still = cv2.resize(data.coffee(), (256, 256))
    with P.LandmarkTracker() as tracker:
        assert tracker(still) is None
        for _ in range(3):
            points = tracker(default.image)
            assert points is not None and points.shape == (478, 3)
            assert np.abs(points[:, :2] - default.landmarks[:, :2]).mean() < 2.0
    with pytest.raises(RuntimeError):
        tracker(default.image)
