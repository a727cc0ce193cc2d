"""Reading a portrait, finding and framing the face, and MediaPipe face-mesh landmarks.

:func:`analyze_portrait` loads a photo, finds the face with MediaPipe face detection, frames it in
a square (face a little above the middle, chin and some shoulders showing) and measures the 478
face-mesh landmarks (468 mesh points and 10 iris points) on the framed square.
:class:`LandmarkTracker` measures the same landmarks on consecutive rendered video frames.

Side convention: ``RIGHT`` and ``LEFT`` are the SUBJECT's sides, as in MediaPipe's own names, so
in an unmirrored frontal photo the subject's right eye (``RIGHT_EYE_*``) is on the image's left.
Ordered lists of a feature run from the midline outward (inner corner to outer corner); lips run
from the image's left corner to its right corner. Closed loops list each point once (the last
point joins the first) and run clockwise on screen, so their shoelace area in image coordinates
(y pointing down) is positive.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ...errors import EmostudioError
from .topology import LEFT_EYE_INNER, LEFT_EYE_OUTER, NOSE_TIP, RIGHT_EYE_INNER, RIGHT_EYE_OUTER

# Decompression-bomb guard: a tiny compressed file can decode to gigabytes, so anything with more
# pixels than this is refused before it is decoded (a 60-megapixel photo needs ~180 MB as RGB).
MAX_IMAGE_PIXELS = 60_000_000
# Larger photos are shrunk to this longest side before analysis: detection gains nothing above it.
MAX_ANALYSIS_SIDE = 2048
# Faces narrower than this (detected box, in pixels of the photo as analysed, i.e. after the
# downscale to MAX_ANALYSIS_SIDE) carry too little detail to animate.
MIN_FACE_PIXELS = 48
MIN_PORTRAIT_SIZE = 128
MAX_PORTRAIT_SIZE = 1024
# The framed square's side, in face-box heights, and the height of the face's centre in it
# (fraction of the side from the top): 0.45 leaves room for the chin, neck and some shoulders.
FRAME_SCALE = 2.4
FACE_CENTRE_HEIGHT = 0.45
# How far (fraction of the side) the square may slide off-centre to stay inside the photo
# before its missing part is filled by repeating edge pixels instead.
MAX_FRAME_SLIDE = 0.1
MIN_DETECTION_CONFIDENCE = 0.5
# The portrait used when no photo is given: NASA's public-domain portrait of astronaut Eileen
# Collins, shipped inside scikit-image (no download).
DEFAULT_PORTRAIT = "skimage.data.astronaut"
NUM_LANDMARKS = 478


# protobuf warns about its own deprecated call on every MediaPipe result; it is not ours to fix.
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


# ---- Loading ------------------------------------------------------------------------------------

def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as RGB uint8 (H, W, 3), upright, over white, at most MAX_ANALYSIS_SIDE long."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    source = Path(path)
    if source.is_dir():
        raise EmostudioError(f"{source} is a folder; give the path of a photo file.")
    if not source.exists():
        raise EmostudioError(f"The image {source} does not exist; check the path.")
    try:
        with Image.open(source) as opened:
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _too_large(source, width, height)
            scale = min(1.0, MAX_ANALYSIS_SIDE / max(width, height))
            # JPEGs can decode straight at 1/2, 1/4 or 1/8 scale, which saves time and memory.
            opened.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            opened.load()
            try:
                image = ImageOps.exif_transpose(opened)
            except (OSError, SyntaxError, ValueError, TypeError, KeyError):
                image = opened.copy()  # a broken EXIF block should not cost an otherwise good photo
    except EmostudioError:
        raise
    except UnidentifiedImageError as error:
        raise EmostudioError(f"{source} is not an image Pillow can read; use a JPEG, PNG or WebP "
                             "photo.") from error
    except Image.DecompressionBombError as error:
        raise EmostudioError(f"{source} is far too large to decode safely (more than "
                             f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels); resize it first.") from error
    except PermissionError as error:
        raise EmostudioError(f"{source} cannot be read (permission denied); check its "
                             "permissions.") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise EmostudioError(f"{source} is truncated or damaged and could not be decoded; export or "
                             "download it again.") from error
    image = _to_rgb(image, source)
    longest = max(image.size)
    if longest > MAX_ANALYSIS_SIDE:
        factor = MAX_ANALYSIS_SIDE / longest
        target = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.array(image, dtype=np.uint8)


def _too_large(source: Path, width: int, height: int) -> EmostudioError:
    return EmostudioError(f"{source} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), "
                          f"more than the {MAX_IMAGE_PIXELS / 1e6:g}-megapixel limit; resize it first.")


def _to_rgb(image, source: Path):
    """Convert any Pillow mode to RGB: 16-bit and float scaled down, transparency over white."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image).astype(np.float64)
        peak = float(values.max(initial=0.0))
        if mode.startswith("I;16") or peak > 255:
            values = values * (255.0 / 65535.0)
        elif mode == "F" and peak <= 1.0:
            values = values * 255.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    try:
        if "A" in mode or "a" in mode or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")
    except ValueError as error:
        raise EmostudioError(f"{source} uses the colour mode {mode}, which cannot be converted to RGB; save "
                             "it as an ordinary RGB JPEG or PNG.") from error


def default_portrait() -> np.ndarray:
    """The default portrait (see DEFAULT_PORTRAIT) as RGB uint8, 512x512."""
    return _astronaut().copy()


@functools.lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3], dtype=np.uint8)


# ---- MediaPipe graphs, created once and shared ------------------------------------------------

_GRAPHS: dict[str, object] = {}


@contextlib.contextmanager
def _native_logs_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while MediaPipe's C++ (TFLite, absl) runs.

    Its graphs log to the process's stderr from native threads when they start and on their first
    inference, ignoring Python's logging and absl's flags, so only the descriptor can quiet them.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
# Guards both creating the shared graphs and running them: a MediaPipe graph is not thread-safe.
_GRAPH_LOCK = threading.Lock()


def _graph(kind: str):
    """The shared graph ``"detect-0"``, ``"detect-1"`` (short, full range) or ``"mesh"``; lock held."""
    if kind not in _GRAPHS:
        from mediapipe.python.solutions import face_detection, face_mesh

        if kind == "mesh":
            _GRAPHS[kind] = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                                               min_detection_confidence=MIN_DETECTION_CONFIDENCE)
        else:
            _GRAPHS[kind] = face_detection.FaceDetection(model_selection=int(kind[-1]),
                                                         min_detection_confidence=MIN_DETECTION_CONFIDENCE)
    return _GRAPHS[kind]


def _detect(rgb: np.ndarray, kind: str) -> list[tuple[float, np.ndarray]]:
    """(score, box as x0, y0, x1, y1 in pixels) for every face one detector finds."""
    height, width = rgb.shape[:2]
    with _GRAPH_LOCK, _native_logs_silenced():
        result = _graph(kind).process(np.ascontiguousarray(rgb))
    found = []
    for detection in result.detections or []:
        box = detection.location_data.relative_bounding_box
        x0, y0 = box.xmin * width, box.ymin * height
        found.append((float(detection.score[0]),
                      np.array([x0, y0, x0 + box.width * width, y0 + box.height * height])))
    return found


def _landmarks(result, width: int, height: int) -> list[np.ndarray]:
    faces = []
    for face in result.multi_face_landmarks or []:
        points = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
        faces.append(points * np.array([width, height, width], dtype=np.float32))
    return faces


# ---- Finding and framing the face -----------------------------------------------------------

@dataclass
class FaceAnalysis:
    """A framed portrait and its face-mesh landmarks.

    ``image`` is the (S, S, 3) uint8 RGB square; ``landmarks`` is (478, 3) float32 with x and y in
    pixels of ``image`` and z (depth, smaller is nearer the camera) in the same pixel scale;
    ``warnings`` holds one sentence per thing the user may want to know; ``source_box`` is the
    detected face as (x0, y0, x1, y1) in the photo as loaded (after any downscale).
    """

    image: np.ndarray
    landmarks: np.ndarray
    warnings: list[str] = field(default_factory=list)
    source_box: tuple[float, float, float, float] | None = None

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    @property
    def eye_centers(self) -> np.ndarray:
        """(2, 2) x, y of the subject's right then left eye: the midpoint of each eye's corners."""
        points = self.landmarks[:, :2]
        return np.stack([(points[RIGHT_EYE_INNER] + points[RIGHT_EYE_OUTER]) / 2,
                         (points[LEFT_EYE_INNER] + points[LEFT_EYE_OUTER]) / 2])

    @property
    def interocular(self) -> float:
        """Distance between the eye centres, in pixels."""
        right, left = self.eye_centers
        return float(np.linalg.norm(left - right))

    @property
    def face_box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) around the 468 mesh landmarks, in pixels."""
        points = self.landmarks[:468, :2]
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


def analyze_portrait(path: str | os.PathLike | None = None, size: int = 512) -> FaceAnalysis:
    """Load a photo (the default portrait when ``path`` is None), frame its face and measure it."""
    _check_size(size)
    if path is None:
        return analyze_image(default_portrait(), size, name="the default portrait")
    return analyze_image(load_image(path), size, name=str(path))


def analyze_image(rgb: np.ndarray, size: int = 512, name: str = "the image") -> FaceAnalysis:
    """Frame and measure the largest face of an RGB uint8 (H, W, 3) photo; ``name`` is for messages."""
    _check_size(size)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"Expected an RGB uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}.")
    no_face = EmostudioError(f"No face was found in {name}; use a photo in which one face looks roughly "
                             "toward the camera.")
    faces = _find_faces(rgb)
    if not faces:
        raise no_face
    messages = []
    if len(faces) > 1:
        messages.append(f"Found {len(faces)} faces in {name}; animating the largest one.")
    box = max(faces, key=lambda found: _area(found[1]))[1]
    face_width = box[2] - box[0]
    if face_width < MIN_FACE_PIXELS:
        raise EmostudioError(f"The face in {name} is only {face_width:.0f} pixels wide, too small to animate "
                             f"(at least {MIN_FACE_PIXELS} are needed); use a closer or larger photo.")
    framed, padded, side = _frame(rgb, box, size)
    if padded:
        messages.append(f"The face in {name} is close to the photo's edge, so the frame was filled in by "
                        "repeating edge pixels; a photo with more room around the head looks better.")
    if size / side > 2.5:
        messages.append(f"The face in {name} is small, so the {size}-pixel portrait is enlarged "
                        f"{size / side:.1f}x and will look soft; use a larger or closer photo.")
    with _GRAPH_LOCK, _native_logs_silenced():
        result = _graph("mesh").process(framed)
    meshes = _landmarks(result, size, size)
    if not meshes:
        raise no_face
    landmarks = meshes[0]
    if _turned_away(landmarks):
        messages.append(f"The face in {name} is turned well away from the camera, so the animation may "
                        "distort it; a photo facing the camera works best.")
    return FaceAnalysis(framed, landmarks, messages, tuple(float(v) for v in box))


def _check_size(size: int) -> None:
    valid = isinstance(size, (int, np.integer)) and not isinstance(size, bool)
    if not (valid and MIN_PORTRAIT_SIZE <= size <= MAX_PORTRAIT_SIZE and size % 2 == 0):
        raise EmostudioError(f"The portrait size must be an even number of pixels from {MIN_PORTRAIT_SIZE} to "
                             f"{MAX_PORTRAIT_SIZE}, not {size!r}; use 512, for example.")


def _area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def _find_faces(rgb: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """All faces the short- and full-range detectors find, duplicates merged.

    Both detectors run because each misses faces the other finds (the short-range one misses
    smaller second faces). Neither finds a face under ~5% of the photo's width, so when they find
    nothing in a large photo, overlapping tiles of it are searched too.
    """
    found = _detect(rgb, "detect-0") + _detect(rgb, "detect-1")
    height, width = rgb.shape[:2]
    if not found and max(height, width) > 800:
        tile = round(max(height, width) / 2.5)
        for top in _tile_starts(height, tile):
            for left in _tile_starts(width, tile):
                for score, box in _detect(rgb[top:top + tile, left:left + tile], "detect-1"):
                    found.append((score, box + np.array([left, top, left, top])))
    kept: list[tuple[float, np.ndarray]] = []
    for score, box in sorted(found, key=lambda item: -item[0]):
        if all(_overlap(box, other) < 0.3 for _, other in kept):
            kept.append((score, box))
    return kept


def _tile_starts(length: int, tile: int) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile / 2)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box, so a partial face cut by a tile edge counts as the same face."""
    inter = np.concatenate([np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])])
    smaller = min(_area(a), _area(b))
    return _area(inter) / smaller if smaller > 0 else 0.0


def _frame(rgb: np.ndarray, box: np.ndarray, size: int) -> tuple[np.ndarray, bool, int]:
    """Crop the square around the face, fill any part outside the photo, resize to ``size``.

    Returns the framed image, whether any part had to be filled, and the square's side in photo pixels.
    """
    height, width = rgb.shape[:2]
    side = FRAME_SCALE * max(box[2] - box[0], box[3] - box[1])
    left = _slide((box[0] + box[2]) / 2 - side / 2, side, width)
    top = _slide((box[1] + box[3]) / 2 - FACE_CENTRE_HEIGHT * side, side, height)
    side_px, left_px, top_px = max(2, round(side)), round(left), round(top)
    crop = rgb[max(top_px, 0):max(0, min(top_px + side_px, height)),
               max(left_px, 0):max(0, min(left_px + side_px, width))]
    pads = (max(0, -top_px), max(0, top_px + side_px - height),
            max(0, -left_px), max(0, left_px + side_px - width))
    padded = any(pads)
    if padded:
        # Repeating edge pixels rather than mirroring, which could mirror half a face into the frame.
        crop = cv2.copyMakeBorder(crop, *pads, borderType=cv2.BORDER_REPLICATE)
    interpolation = cv2.INTER_AREA if side_px > size else cv2.INTER_CUBIC
    framed = cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interpolation)
    return framed, padded, side_px


def _slide(start: float, side: float, limit: int) -> float:
    """Move a window start toward lying inside [0, limit], by at most MAX_FRAME_SLIDE of its side."""
    low, high = sorted((0.0, limit - side))
    shift = min(max(start, low), high) - start
    return start + max(-MAX_FRAME_SLIDE * side, min(MAX_FRAME_SLIDE * side, shift))


def _turned_away(landmarks: np.ndarray) -> bool:
    """Whether the nose tip sits far nearer one side of the face outline than the other (strong yaw)."""
    right, left, nose = landmarks[234, :2], landmarks[454, :2], landmarks[NOSE_TIP, :2]  # 234/454: the cheeks
    # Measured across the face rather than along x, so a tilted head raises no false alarm.
    across = (left - right) / max(float(np.linalg.norm(left - right)), 1e-6)
    right_side, left_side = float((nose - right) @ across), float((left - nose) @ across)
    return min(right_side, left_side) < 0.3 * max(right_side, left_side)


# ---- Tracking rendered frames ---------------------------------------------------------------

class LandmarkTracker:
    """Face-mesh landmarks of consecutive video frames, tracked from frame to frame.

    Feed the frames of one video in order; use one tracker per video and close it (or use it as a
    context manager) to release the graph. Not thread-safe.
    """

    def __init__(self, max_faces: int = 1, min_confidence: float = MIN_DETECTION_CONFIDENCE) -> None:
        from mediapipe.python.solutions import face_mesh

        # Tracking reruns detection only while fewer than max_faces are tracked, so more costs time.
        with _native_logs_silenced():
            self._mesh = face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=max_faces,
                                                min_detection_confidence=min_confidence,
                                                min_tracking_confidence=min_confidence)

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """(478, 3) float32 pixel landmarks of the largest face in an RGB uint8 frame, or None."""
        if self._mesh is None:
            raise RuntimeError("This LandmarkTracker is closed.")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"Expected an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}.")
        height, width = frame.shape[:2]
        with _native_logs_silenced():
            result = self._mesh.process(np.ascontiguousarray(frame))
        faces = _landmarks(result, width, height)
        if not faces:
            return None
        return max(faces, key=lambda points: float(np.ptp(points[:, 0]) * np.ptp(points[:, 1])))

    def close(self) -> None:
        """Release the MediaPipe graph."""
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> LandmarkTracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
