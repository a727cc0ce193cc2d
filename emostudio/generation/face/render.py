"""The warp renderer: the portrait, densely warped by the deformed mesh, plus a mouth interior.

The mesh is the 478 face landmarks, two rings of anchors around the face (so motion fades into
the surroundings) and fixed anchors on the image border (so the background never tears); it is
triangulated once, on the portrait with its lips slightly parted (``_lips_parted``). Each frame,
the deformed triangles are rasterised at half resolution into a triangle-index image (painted
back to front by MediaPipe depth, so a fold shows the nearer surface; a triangle turned over is
not painted), every pixel gets the source position of its triangle's affine map, the map is
upsampled, and one ``cv2.remap`` warps the portrait. This is the exact piecewise-affine
inverse, so lids and lips that move far relative to their neighbours stay clean. Where the lips
part beyond their rest opening, a mouth interior (cavity, teeth, tongue) is painted inside the
deformed inner-lip contour.

Eyes are lids over a fixed eyeball. Each eye's eyeball is a texture made once from the portrait:
its own pixels where the eye is open in the photo, and beyond them (under the lids) a continuation
of the same sclera and a round iris with limbus and pupil, so widened eyes (AU5) show more white
around an iris that keeps its shape. Each frame the eyeball moves rigidly with the eye's corners
(and the gaze), is clipped to the deformed lid contour, and gets a soft shadow under the upper
lid. The warp's own eye interior, stretched between the lids, is never seen.

Expressions also shade the skin (``ExpressionShading``): furrows, forehead lines and folds as soft
multiplicative maps of the rest portrait, mixed by the frame's control weights and warped with the
same backward map, so they ride on the skin the muscles move.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from . import topology as T

RING_SCALES = (1.35, 1.9)  # anchor rings around the face, as multiples of the face's radius
RING_FOLLOW = (0.6, 0.15)  # how much of the head's rigid motion each ring follows
BORDER_POINTS = 8  # anchors per image side
# Closed lips lay the inner lip lines on top of each other, and a triangulation of them then joins
# upper-lip points to lower-lip points past the inner lower lip; when the jaw opens, such a triangle
# stretches over the lower lip and paints specks of the lip line onto it. Triangulating with the
# lower lip moved down by this much (of the interocular distance) keeps every triangle on its side.
LIP_PARTING = 0.03
MAP_DOWNSCALE = 2  # the backward map is built at 1/2 resolution and upsampled
# A crease only gets so dark and a ridge so bright: where several units shade the same skin (AU9's,
# AU10's and AU12's folds and the cheeks over them), what goes beyond one crease's or one ridge's
# saturates instead of adding up to a black smear or a white band.
ONE_CREASE_SHADE, DEEPEST_SHADE = 0.3, 0.45
ONE_RIDGE_LIFT, BRIGHTEST_LIFT = 0.12, 0.18
# Shadow on skin is warm (light scattered under the skin comes back red), so red is taken away
# least; the weights keep the luminance a grey shading would have. A grey portrait gets grey shade.
_SKIN_SHADOW = np.array([0.8, 1.0, 1.15], np.float32)
SKIN_SHADOW_TINT = _SKIN_SHADOW / float(np.dot([0.299, 0.587, 0.114], _SKIN_SHADOW))


class WarpRenderer:
    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.image = np.ascontiguousarray(image)
        self.height, self.width = image.shape[:2]
        self.face_points = landmarks[:, :2].astype(np.float64)
        self.face_count = len(self.face_points)
        oval = self.face_points[T.FACE_OVAL]
        self.face_center = oval.mean(axis=0)
        rings = [self.face_center + scale * (oval - self.face_center) for scale in RING_SCALES]
        self.ring_points = np.concatenate(rings)
        self.ring_follow = np.repeat(RING_FOLLOW, len(oval))
        border = _border_points(self.width, self.height, BORDER_POINTS)
        self.vertices = np.concatenate([self.face_points, self.ring_points, border])
        self.border_start = self.face_count + len(self.ring_points)
        self.interocular = float(np.linalg.norm(self.face_points[T.LEFT_IRIS_CENTER] - self.face_points[T.RIGHT_IRIS_CENTER]))
        parted = self.vertices.copy()
        parted[: self.face_count] = _lips_parted(self.face_points, self.interocular)
        self.triangles = Delaunay(parted).simplices
        depth = np.zeros(len(self.vertices))
        depth[: self.face_count] = landmarks[:, 2] if landmarks.shape[1] > 2 else 0.0
        depth[self.face_count:] = depth[: self.face_count].max() + 1.0  # anchors lie behind the face
        # Back to front: MediaPipe z grows away from the camera, so larger mean z is painted first.
        self.triangles = self.triangles[np.argsort(-depth[self.triangles].mean(axis=1), kind="stable")]
        self._orientation = np.sign(np.linalg.det(_homogeneous(self.vertices[self.triangles])))
        self.map_size = (self.width // MAP_DOWNSCALE, self.height // MAP_DOWNSCALE)
        ys, xs = np.mgrid[0:self.map_size[1], 0:self.map_size[0]].astype(np.float32)
        # Pixel centres of the coarse map, in full-resolution coordinates.
        self._coarse = np.stack([(xs + 0.5) * MAP_DOWNSCALE - 0.5, (ys + 0.5) * MAP_DOWNSCALE - 0.5], axis=-1)
        self._teeth_color = _teeth_color(image, self.face_points)
        self._colourfulness = _colourfulness(image, self.face_points)
        self._shadow_tint = (1.0 + self._colourfulness * (SKIN_SHADOW_TINT - 1.0)).astype(np.float32)
        self.rest_gap = _mouth_gap(self.face_points)
        self.eyes = [_eyeball(self.image, self.face_points, side, self.interocular) for side in T.EYES]
        self.shading = ExpressionShading(self.face_points, self.width, self.height, MAP_DOWNSCALE)

    def backward_map(self, vertices: np.ndarray) -> np.ndarray:
        """(H, W, 2) float32 source coordinates for every output pixel, given deformed vertices."""
        dest = vertices[self.triangles]  # (N, 3, 2)
        source = self.vertices[self.triangles]
        dest_h = _homogeneous(dest)
        determinant = np.linalg.det(dest_h)
        # A triangle turned over (a sliver whose corners pass each other) would show its skin mirrored;
        # the neighbours it folded onto cover its place.
        valid = (np.abs(determinant) > 1e-6) & (np.sign(determinant) == self._orientation)
        # One affine map per triangle, and the identity last: pixels no triangle covers (index -1) keep
        # their own position.
        affine = np.zeros((len(dest) + 1, 2, 3))
        affine[:-1][valid] = source.transpose(0, 2, 1)[valid] @ np.linalg.inv(dest_h[valid])
        affine[-1, :, :2] = np.eye(2)
        index = np.full((self.map_size[1], self.map_size[0]), -1, np.int32)
        coarse = (dest + 0.5) / MAP_DOWNSCALE - 0.5
        fixed = np.round(coarse * 16).astype(np.int32)  # 4 bits of sub-pixel precision
        for number in np.flatnonzero(valid).tolist():
            cv2.fillConvexPoly(index, fixed[number], number, lineType=cv2.LINE_8, shift=4)
        chosen = affine[index]  # (h, w, 2, 3)
        xs, ys = self._coarse[..., 0:1], self._coarse[..., 1:2]
        coarse_map = (chosen[..., 0] * xs + chosen[..., 1] * ys + chosen[..., 2]).astype(np.float32)
        return cv2.resize(coarse_map, (self.width, self.height), interpolation=cv2.INTER_LINEAR)

    def render(self, face_positions: np.ndarray, ring_positions: np.ndarray | None = None,
               mouth_light: float = 1.0, controls: np.ndarray | None = None) -> np.ndarray:
        """One frame: warp the portrait so the landmarks sit at ``face_positions`` (478, 2).

        ``controls`` (the rig's control weights) add the skin's shading of the expression.
        """
        vertices = self.vertices.copy()
        vertices[: self.face_count] = face_positions
        for eye in self.eyes:
            vertices[eye.side.interior] = self._between_lids(eye, face_positions)
        if ring_positions is not None:
            vertices[self.face_count: self.border_start] = ring_positions
        source = self.backward_map(vertices)
        frame = cv2.remap(self.image, source[..., 0], source[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        if controls is not None:
            self._shade(frame, source, face_positions, controls)
        for eye in self.eyes:
            self._paint_eye(frame, eye, face_positions)
        self._paint_mouth(frame, face_positions, mouth_light)
        return frame

    def _shade(self, frame: np.ndarray, source: np.ndarray, face_positions: np.ndarray,
               controls: np.ndarray) -> None:
        """Darken the frame by the expression's shading, looked up through the frame's backward map."""
        darkening = self.shading.darkening(controls)
        if darkening is None:
            return
        shade_map, (left, top) = darkening
        margin = 0.5 * self.interocular  # the forehead lines sit above the mesh
        x0, y0 = np.maximum(np.floor(face_positions.min(axis=0) - margin).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(face_positions.max(axis=0) + margin).astype(int), [self.width, self.height])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        where = source[y0:y1, x0:x1]
        map_x = (where[..., 0] + 0.5) / MAP_DOWNSCALE - 0.5 - left
        map_y = (where[..., 1] + 0.5) / MAP_DOWNSCALE - 0.5 - top
        # The light per colour channel is made on the coarse window and warped, not made per pixel.
        light_map = np.ascontiguousarray(1.0 - shade_map[..., None] * self._shadow_tint)
        light = cv2.remap(light_map, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(1.0, 1.0, 1.0))
        frame[y0:y1, x0:x1] = cv2.multiply(frame[y0:y1, x0:x1], light, dtype=cv2.CV_8U)

    def _between_lids(self, eye: Eyeball, positions: np.ndarray) -> np.ndarray:
        """Warp positions for the points inside an eye: carried along between the moving lids.

        They keep their place between the upper and the lower lid, so the warp never folds the eye
        (the eyeball painted over the opening is what shows there).
        """
        rest = self.face_points
        interior = rest[eye.side.interior]
        upper_moved = positions[eye.side.upper] - rest[eye.side.upper]
        lower_moved = positions[eye.side.lower] - rest[eye.side.lower]
        upper_x, lower_x = rest[eye.side.upper, 0], rest[eye.side.lower, 0]
        up_order, low_order = np.argsort(upper_x), np.argsort(lower_x)
        top = np.interp(interior[:, 0], upper_x[up_order], rest[eye.side.upper, 1][up_order])
        bottom = np.interp(interior[:, 0], lower_x[low_order], rest[eye.side.lower, 1][low_order])
        share = np.clip((interior[:, 1] - top) / np.maximum(bottom - top, 1e-6), 0.0, 1.0)[:, None]
        moved_top = np.stack([np.interp(interior[:, 0], upper_x[up_order], upper_moved[up_order, k])
                              for k in range(2)], axis=1)
        moved_bottom = np.stack([np.interp(interior[:, 0], lower_x[low_order], lower_moved[low_order, k])
                                 for k in range(2)], axis=1)
        return interior + (1 - share) * moved_top + share * moved_bottom

    def _paint_eye(self, frame: np.ndarray, eye: Eyeball, positions: np.ndarray) -> None:
        contour = positions[eye.side.loop]
        x0, y0 = np.floor(contour.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(contour.max(axis=0)).astype(int) + 3
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.width), min(y1, self.height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        # A nearly closed eye shows lid, not a sliver of eyeball.
        opening = _eye_opening(positions, eye.side) / max(_eye_opening(self.face_points, eye.side), 1e-6)
        alpha = _polygon_alpha(contour - [x0, y0], x1 - x0, y1 - y0) * float(np.clip(opening / 0.35 - 0.3, 0.0, 1.0))
        if not alpha.any():
            return  # closed
        # The eyeball's pose: the similarity that carries the rest corners onto the current ones,
        # then shifted so the iris centre lands where the gaze put it.
        corners = [eye.side.inner, eye.side.outer]
        pose = _similarity(self.face_points[corners], positions[corners])
        iris_rest = np.append(self.face_points[eye.side.iris_center], 1.0)
        pose[:, 2] += positions[eye.side.iris_center] - pose @ iris_rest
        to_roi = pose.copy()
        to_roi[:, 2] += pose[:, :2] @ eye.origin - [x0, y0]
        ball = cv2.warpAffine(eye.texture, to_roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        # Shadow of the upper lid and lashes on the eyeball, deepest right under the lid.
        upper = positions[eye.side.upper]
        order = np.argsort(upper[:, 0])
        xs = np.arange(x0, x1, dtype=np.float32)
        lid = np.interp(xs, upper[order, 0], upper[order, 1])[None, :]
        below = np.maximum(np.arange(y0, y1, dtype=np.float32)[:, None] - lid, 0.0)
        shade = 1.0 - 0.45 * np.exp(-below / max(eye.shadow_px, 0.5))
        region = frame[y0:y1, x0:x1].astype(np.float32)
        painted = ball * shade[..., None]
        frame[y0:y1, x0:x1] = np.clip(region * (1 - alpha[..., None]) + painted * alpha[..., None], 0,
                                      255).astype(np.uint8)

    def following_rings(self, head_offset: np.ndarray) -> np.ndarray:
        """Ring anchors following a rigid head motion given as (R, 2) offsets of the ring points."""
        return self.ring_points + head_offset * self.ring_follow[:, None]

    def _paint_mouth(self, frame: np.ndarray, face_positions: np.ndarray, light: float) -> None:
        opening = face_positions[T.MOUTH_OPENING]
        upper = face_positions[T.UPPER_LIP_INNER]
        lower = face_positions[T.LOWER_LIP_INNER]
        gap = _mouth_gap(face_positions)
        # A portrait photographed with parted lips already shows its own mouth; paint only the
        # opening beyond that, fading in.
        strength = float(np.clip((gap - self.rest_gap) / (0.05 * self.interocular), 0.0, 1.0))
        if strength <= 0.0:
            return
        x0, y0 = np.floor(opening.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(opening.max(axis=0)).astype(int) + 3
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.width), min(y1, self.height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        # Supersampled mask of the opening for anti-aliased edges.
        scale = 4
        mask = np.zeros(((y1 - y0) * scale, (x1 - x0) * scale), np.uint8)
        polygon = np.round((opening - [x0, y0]) * scale).astype(np.int32)
        cv2.fillPoly(mask, [polygon], 255, lineType=cv2.LINE_AA)
        alpha = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        top = np.interp(xs[0], upper[:, 0], upper[:, 1])[None, :]
        bottom = np.interp(xs[0], lower[::-1, 0], lower[::-1, 1])[None, :] if lower[0, 0] > lower[-1, 0] else \
            np.interp(xs[0], lower[:, 0], lower[:, 1])[None, :]
        height = np.maximum(bottom - top, 1.0)
        depth = np.clip((ys - top) / height, 0.0, 1.0)  # 0 at the upper lip, 1 at the lower lip
        centre_x = (opening[:, 0].min() + opening[:, 0].max()) / 2
        half_width = max((opening[:, 0].max() - opening[:, 0].min()) / 2, 1.0)
        across = np.clip(np.abs(xs - centre_x) / half_width, 0.0, 1.0)
        # Cavity: dark red, darkest at the back and the sides.
        shade = (0.55 - 0.35 * across**2) * (0.6 + 0.4 * depth) * light
        color = np.empty((y1 - y0, x1 - x0, 3), np.float32)
        color[..., 0] = 95 * shade
        color[..., 1] = 28 * shade
        color[..., 2] = 30 * shade
        # Upper teeth: a band under the upper lip about 0.07 interocular tall with a soft lower edge,
        # shadowed by the lip at the top, receding into the mouth's shade well before the corners
        # (a bright row from corner to corner is what a broad smile shows), with faint gaps between
        # teeth about 0.075 interocular apart.
        tooth_height = 0.07 * self.interocular
        below_lip = (ys - top) / tooth_height
        teeth = np.clip((1.0 - below_lip) / 0.25, 0.0, 1.0) * (below_lip >= -0.1)
        teeth *= np.clip(1.1 - across**2 * 1.8, 0.0, 1.0)
        # Lower teeth show only when the mouth is wide open.
        lower_teeth = np.clip((1.0 - (bottom - ys) / (0.06 * self.interocular)) / 0.3, 0.0, 1.0)
        lower_teeth *= np.clip((gap / self.interocular - 0.18) / 0.1, 0.0, 1.0) * np.clip(1.0 - across**2, 0, 1)
        spacing = 0.075 * self.interocular
        offset = np.abs(((xs - centre_x) / spacing + 0.5) % 1.0 - 0.5)  # 0 on a gap between teeth
        gaps = 1.0 - 0.2 * np.exp(-((offset / 0.06) ** 2))
        lip_shadow = 0.7 + 0.3 * np.clip(below_lip / 0.2, 0.0, 1.0)
        tooth = (self._teeth_color[None, None, :] * ((0.45 + 0.35 * (1 - across**2)) * gaps * lip_shadow)[..., None]
                 * light)
        for amount in (teeth, lower_teeth):
            color = color * (1 - amount[..., None]) + tooth * amount[..., None]
        # Tongue: a soft reddish mound at the bottom of the cavity.
        tongue = np.clip(1.0 - ((xs - centre_x) / (0.75 * half_width)) ** 2 - ((ys - bottom) / (0.45 * height)) ** 2,
                         0.0, 1.0) * (depth > 0.35)
        tongue_color = np.array([150, 60, 65], np.float32) * light
        color = color * (1 - 0.85 * tongue[..., None]) + tongue_color * 0.85 * tongue[..., None]
        # As colourful as the portrait: a black-and-white photo gets a grey mouth.
        grey = color @ np.array([0.299, 0.587, 0.114], np.float32)
        color = grey[..., None] + self._colourfulness * (color - grey[..., None])
        region = frame[y0:y1, x0:x1].astype(np.float32)
        alpha = alpha * strength
        frame[y0:y1, x0:x1] = np.clip(region * (1 - alpha[..., None]) + color * alpha[..., None], 0, 255).astype(
            np.uint8)


@dataclass(frozen=True)
class Eyeball:
    side: T.EyeSide
    texture: np.ndarray  # (h, w, 3) float32 RGB: the eyeball as it would look with the lids fully open
    origin: np.ndarray  # (2,) portrait pixel position of texture[0, 0]
    shadow_px: float  # depth of the upper lid's shadow on the eyeball


def _eye_opening(points: np.ndarray, side: T.EyeSide) -> float:
    """Mean distance between the middle thirds of the upper and the lower lid."""
    upper, lower = points[side.upper], points[side.lower]
    third = slice(len(upper) // 3, len(upper) - len(upper) // 3)
    return float(np.linalg.norm(_resample_line(upper[third], 5) - _resample_line(lower[third], 5), axis=1).mean())


def _resample_line(points: np.ndarray, count: int) -> np.ndarray:
    steps = np.linspace(0, len(points) - 1, count)
    return np.stack([np.interp(steps, np.arange(len(points)), points[:, k]) for k in range(2)], axis=1)


def _polygon_alpha(polygon: np.ndarray, width: int, height: int, scale: int = 4) -> np.ndarray:
    """Anti-aliased coverage (height, width) in 0..1 of a polygon given in local pixel coordinates."""
    mask = np.zeros((height * scale, width * scale), np.uint8)
    cv2.fillPoly(mask, [np.round((polygon + 0.5) * scale - 0.5).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2, 3) rotation + uniform scale + translation taking two source points onto two target points."""
    a, b = source[1] - source[0], target[1] - target[0]
    ratio = complex(*b) / complex(*a) if np.any(a) else 1.0
    linear = np.array([[ratio.real, -ratio.imag], [ratio.imag, ratio.real]])
    return np.concatenate([linear, (target[0] - linear @ source[0])[:, None]], axis=1)


def _eyeball(image: np.ndarray, points: np.ndarray, side: T.EyeSide, interocular: float) -> Eyeball:
    """The eyeball texture of one eye: the photo's own eye where it shows, sclera and iris beyond."""
    height, width = image.shape[:2]
    contour = points[side.loop]
    centre = points[side.iris_center]
    radius = float(np.linalg.norm(points[side.iris_ring] - centre, axis=1).mean())
    margin = 0.25 * interocular
    low = np.floor(np.minimum(contour.min(axis=0), centre - radius) - margin).astype(int)
    high = np.ceil(np.maximum(contour.max(axis=0), centre + radius) + margin).astype(int)
    low = np.clip(low, 0, [width - 1, height - 1])
    high = np.clip(high, low + 2, [width, height])
    crop = image[low[1]:high[1], low[0]:high[0]].astype(np.float32)
    h, w = crop.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs += low[0]
    ys += low[1]
    opening = _polygon_alpha(contour - low, w, h)
    known = cv2.erode((opening > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    distance = np.hypot(xs - centre[0], ys - centre[1])
    sclera_pixels = crop[known & (distance > 1.15 * radius)]
    iris_pixels = crop[known & (distance < 0.85 * radius)]
    face_light = np.asarray(_teeth_color(image, points), np.float32)
    sclera = np.median(sclera_pixels, axis=0) if len(sclera_pixels) >= 6 else 0.85 * face_light
    iris = np.median(iris_pixels, axis=0) if len(iris_pixels) >= 6 else np.array([80, 60, 45], np.float32)
    # Sclera, darker toward the corners (the eyeball curves away).
    inner, outer = points[side.inner], points[side.outer]
    middle, half = (inner + outer) / 2, max(float(np.linalg.norm(outer - inner)) / 2, 1.0)
    across = np.clip(np.hypot(xs - middle[0], (ys - middle[1]) * 0.5) / half, 0.0, 1.2)
    texture = sclera[None, None, :] * (1.0 - 0.3 * across**2)[..., None]
    # Iris: a disc with a darker rim (limbus) and a pupil, edges anti-aliased over a pixel.
    ring = np.clip((distance / radius - 0.72) / 0.28, 0.0, 1.0)
    iris_colour = iris[None, None, :] * (1.0 - 0.4 * ring)[..., None]
    disc = np.clip(radius - distance + 0.5, 0.0, 1.0)[..., None]
    pupil = np.clip(0.38 * radius - distance + 0.5, 0.0, 1.0)[..., None]
    texture = texture * (1 - disc) + iris_colour * disc
    texture = texture * (1 - pupil) + (iris * 0.3)[None, None, :] * pupil
    # The photo's own eye wherever it shows, except a band under the upper lid, whose lash shadow
    # would otherwise stay on the eyeball when the lid rises (the painted shadow replaces it).
    upper = points[side.upper]
    order = np.argsort(upper[:, 0])
    below = ys - np.interp(xs, upper[order, 0], upper[order, 1])
    eye_height = float(np.ptp(contour[:, 1]))
    shadow = max(0.18 * eye_height, 1.0)
    own = cv2.GaussianBlur(known.astype(np.float32), (0, 0), 0.7) * np.clip(below / (1.5 * shadow), 0.0, 1.0)
    texture = texture * (1 - own[..., None]) + crop * own[..., None]
    return Eyeball(side, np.ascontiguousarray(texture, np.float32), low.astype(np.float64), shadow)


def _lips_parted(points: np.ndarray, interocular: float) -> np.ndarray:
    """The face points with the lower lip moved down by LIP_PARTING.

    The whole lower lip moves as one; the skin below it follows less and less, down to 0.2
    interocular distances under the lip, and beside the mouth over 0.4, so only the lip line opens
    and the chin and the face's outline keep their place among the anchors around them.
    """
    x_axis = points[T.LEFT_IRIS_CENTER] - points[T.RIGHT_IRIS_CENTER]
    x_axis = x_axis / np.linalg.norm(x_axis)
    y_axis = np.array([-x_axis[1], x_axis[0]])
    across, down = points @ x_axis / interocular, points @ y_axis / interocular
    split = (down[T.UPPER_LIP_INNER].mean() + down[T.LOWER_LIP_INNER].mean()) / 2
    lips = np.stack([across[T.LIPS_OUTER_LOOP], down[T.LIPS_OUTER_LOOP]], axis=1).astype(np.float32)
    in_lips = np.array([cv2.pointPolygonTest(lips, (float(a), float(d)), True) >= -0.02
                        for a, d in zip(across, down)])
    lip_bottom = down[T.LOWER_LIP_OUTER].max()
    lower = (down > split) * np.clip(1.0 - (down - lip_bottom) / 0.2, 0.0, 1.0)
    lower[in_lips & (down > split)] = 1.0
    lower[T.LOWER_LIP_ALL] = 1.0
    lower[T.UPPER_LIP_ALL] = 0.0
    middle = across[T.MOUTH_CORNERS].mean()
    half_width = abs(across[T.MOUTH_CORNERS[1]] - across[T.MOUTH_CORNERS[0]]) / 2
    beside = np.clip(1.0 - (np.abs(across - middle) - half_width) / 0.4, 0.0, 1.0)
    return points + (LIP_PARTING * interocular * lower * beside)[:, None] * y_axis


def _homogeneous(corners: np.ndarray) -> np.ndarray:
    """(N, 3, 3) per triangle: its corners' x and y as rows, and a row of ones (its determinant's sign
    is the triangle's orientation)."""
    return np.concatenate([corners.transpose(0, 2, 1), np.ones((len(corners), 1, 3))], axis=1)


def _mouth_gap(points: np.ndarray) -> float:
    """Largest vertical distance between the inner lips near the middle of the mouth."""
    upper = points[T.UPPER_LIP_INNER[3:8]]
    lower = points[T.LOWER_LIP_INNER[3:8]]
    return float(np.max(lower[:, 1] - upper[:, 1]))


def _border_points(width: int, height: int, per_side: int) -> np.ndarray:
    xs = np.linspace(0, width - 1, per_side)
    ys = np.linspace(0, height - 1, per_side)
    top = np.stack([xs, np.zeros_like(xs)], 1)
    bottom = np.stack([xs, np.full_like(xs, height - 1)], 1)
    left = np.stack([np.zeros_like(ys[1:-1]), ys[1:-1]], 1)
    right = np.stack([np.full_like(ys[1:-1], width - 1), ys[1:-1]], 1)
    return np.concatenate([top, bottom, left, right])


def _colourfulness(image: np.ndarray, landmarks: np.ndarray) -> float:
    """0 for a grey face, 1 for ordinary skin colour or more: how much colour painted parts may carry."""
    oval = landmarks[T.FACE_OVAL].astype(np.int32)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [oval], 1)
    if not mask.any():
        return 1.0
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    return float(np.clip(np.median(hsv[..., 1][mask > 0]) / 60.0, 0.0, 1.0))


def _teeth_color(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Off-white teeth tinted toward the portrait's light (mean colour of the face, brightened)."""
    oval = landmarks[T.FACE_OVAL].astype(np.int32)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [oval], 1)
    face_mean = image[mask > 0].reshape(-1, 3).mean(axis=0) if mask.any() else np.array([200, 180, 170])
    tint = face_mean / max(face_mean.max(), 1.0)
    return (np.array([236, 228, 210], np.float32) * (0.88 + 0.12 * tint)).astype(np.float32)


# Expression shading: what a muscle does to the skin's light besides moving it. Each entry is a set
# of soft strokes (polylines in face units, from landmarks of the rest face) that deepen with the
# control's weight: (darkening at full weight, stroke width as a Gaussian sigma in face units). A
# negative darkening lightens: the bulge of skin beside a crease catches the light, which is what
# makes a crease read as relief rather than a drawn line. Widths are a few hundredths of the
# interocular distance or more, so a furrow still shows on a face reduced to a few dozen pixels.
class ExpressionShading:
    """Per-control multiplicative darkening maps of the rest portrait, made once, mixed per frame.

    The maps live in the portrait's pixel space at the backward map's resolution; a frame's mix is
    warped with the same backward map as the portrait, so the furrows ride on the deforming skin.
    """

    def __init__(self, landmarks: np.ndarray, width: int, height: int, downscale: int) -> None:
        from .rig import CONTROLS, FaceFrame

        frame = FaceFrame.from_landmarks(landmarks)
        face = frame.to_face(landmarks)
        self.size = (width // downscale, height // downscale)
        ys, xs = np.mgrid[0:self.size[1], 0:self.size[0]].astype(np.float64)
        pixels = np.stack([(xs + 0.5) * downscale - 0.5, (ys + 0.5) * downscale - 0.5], axis=-1)
        grid = frame.to_face(pixels)
        self.index = {name: i for i, name in enumerate(CONTROLS)}
        self.maps: dict[int, np.ndarray] = {}
        for name, strokes in _shading_strokes(face).items():
            darkness, lightness = np.zeros(grid.shape[:2]), np.zeros(grid.shape[:2])
            for points, depth, sigma in strokes:
                if depth > 0:
                    darkness = np.maximum(darkness, depth * _stroke(grid, points, sigma))
                else:
                    lightness = np.maximum(lightness, -depth * _stroke(grid, points, sigma))
            self.maps[self.index[name]] = (darkness - lightness).astype(np.float32)
        # Only the part of the map that any stroke reaches is mixed per frame.
        support = np.flatnonzero(np.any(np.abs(np.stack(list(self.maps.values()))) > 0.005, axis=0).ravel())
        rows, columns = np.unravel_index(support, grid.shape[:2])
        top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
        self.origin = (int(left), int(top))
        self.maps = {index: np.ascontiguousarray(m[top:bottom, left:right]) for index, m in self.maps.items()}

    def darkening(self, controls: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
        """(share of light taken away, negative where added, on a window of the rest portrait's coarse
        grid, the window's top-left (x, y) on that grid), or None when nothing shows."""
        total = None
        for index, darkness in self.maps.items():
            weight = float(controls[index])
            if weight > 0.01:
                total = darkness * np.float32(weight) if total is None else total + darkness * np.float32(weight)
        if total is None:
            return None
        shade = (_saturate(np.maximum(total, 0.0), ONE_CREASE_SHADE, DEEPEST_SHADE)
                 - _saturate(np.maximum(-total, 0.0), ONE_RIDGE_LIFT, BRIGHTEST_LIFT))
        return shade.astype(np.float32), self.origin


def _saturate(amount: np.ndarray, linear_up_to: float, ceiling: float) -> np.ndarray:
    """``amount`` as it is up to ``linear_up_to``, then rising ever more slowly towards ``ceiling``."""
    headroom = ceiling - linear_up_to
    return np.minimum(amount, linear_up_to) + headroom * np.tanh(np.maximum(amount - linear_up_to, 0.0) / headroom)


def _stroke(grid: np.ndarray, points: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian of the distance to a polyline (face units), tapering off over its first and last tenth."""
    best = np.full(grid.shape[:2], np.inf)
    along = np.zeros(grid.shape[:2])
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    total = max(float(lengths.sum()), 1e-6)
    start = 0.0
    for a, b, length in zip(points[:-1], points[1:], lengths):
        direction = (b - a) / max(length, 1e-9)
        t = np.clip((grid - a) @ direction, 0.0, length)
        distance = np.linalg.norm(grid - (a + t[..., None] * direction), axis=-1)
        closer = distance < best
        best[closer] = distance[closer]
        along[closer] = (start + t[closer]) / total
        start += length
    taper = np.clip(np.minimum(along, 1.0 - along) / 0.15, 0.0, 1.0)
    return np.exp(-best**2 / (2 * sigma**2)) * (0.3 + 0.7 * taper)


def _shading_strokes(face: np.ndarray) -> dict[str, list[tuple[np.ndarray, float, float]]]:
    """The strokes of each control, placed on the rest face (face units, x right, y down)."""
    def p(index: int) -> np.ndarray:
        return face[index]

    inner_right, inner_left = p(T.RIGHT_BROW_LOWER[0]), p(T.LEFT_BROW_LOWER[0])
    brow_y = (inner_right[1] + inner_left[1]) / 2
    mid_x = (inner_right[0] + inner_left[0]) / 2
    brow_gap = abs(inner_left[0] - inner_right[0])
    top_y = min(face[T.RIGHT_BROW_UPPER, 1].min(), face[T.LEFT_BROW_UPPER, 1].min())
    strokes: dict[str, list[tuple[np.ndarray, float, float]]] = {}

    def line(*xy: tuple[float, float]) -> np.ndarray:
        return np.array(xy, dtype=np.float64)

    # AU4: two vertical furrows between the lowered brows, and the brows' shadow over the lids.
    # The furrows stop above the skin that the lowered brows press together over the lids, where a
    # dark stroke would be squeezed into a bar.
    furrow = [(line((mid_x + side * 0.2 * brow_gap, brow_y - 0.14), (mid_x + side * 0.14 * brow_gap, brow_y + 0.03)),
               0.35, 0.04) for side in (-1, 1)]
    lid_shadow = [(line((p(T.RIGHT_EYE_INNER)[0] - 0.05, brow_y + 0.05), (p(T.RIGHT_EYE_OUTER)[0], brow_y + 0.08)),
                   0.12, 0.05),
                  (line((p(T.LEFT_EYE_INNER)[0] + 0.05, brow_y + 0.05), (p(T.LEFT_EYE_OUTER)[0], brow_y + 0.08)),
                   0.12, 0.05)]
    # Between the furrows the skin bunches into a lit bulge.
    bulge = [(line((mid_x, brow_y - 0.14), (mid_x, brow_y)), -0.12, 0.03)]
    strokes["AU4"] = furrow + lid_shadow + bulge
    # AU1 raises the middle of the forehead into horizontal lines; AU2 its sides. The skin between
    # two lines bulges and catches the light.
    strokes["AU1"] = [(line((mid_x - 0.35, top_y - step), (mid_x, top_y - step - 0.03), (mid_x + 0.35, top_y - step)),
                       depth, 0.03) for step, depth in ((0.1, 0.3), (0.16, -0.12), (0.22, 0.3), (0.28, -0.12), (0.34, 0.3))]
    strokes["AU2"] = [(line((mid_x + side * 0.25, top_y - step - 0.02), (mid_x + side * 0.7, top_y - step + 0.04)),
                       depth, 0.03) for side in (-1, 1) for step, depth in ((0.1, 0.25), (0.16, -0.1), (0.22, 0.25))]
    # Nasolabial folds: from above the nose wing, around it, to beyond the lip corner; AU12 and
    # AU10 deepen them, AU9 most, and AU9 also wrinkles the bridge of the nose.
    def fold(wing: list[int], corner: int, side: float) -> np.ndarray:
        outer = face[wing][np.argmax(side * face[wing, 0])]
        lip = p(corner)
        return line((outer[0] - side * 0.02, outer[1] - 0.08), (outer[0] + side * 0.05, outer[1] + 0.02),
                    (lip[0] + side * 0.1, lip[1] - 0.02), (lip[0] + side * 0.12, lip[1] + 0.14))

    folds = [fold(T.RIGHT_NOSE_WING, T.RIGHT_LIP_CORNER, -1.0), fold(T.LEFT_NOSE_WING, T.LEFT_LIP_CORNER, 1.0)]
    # The cheek bulging over each fold, lit.
    cheeks = [f + [side * 0.07, -0.01] for f, side in zip(folds, (-1.0, 1.0))]
    strokes["AU12"] = [(f, 0.3, 0.04) for f in folds] + [(c, -0.12, 0.035) for c in cheeks]
    strokes["AU10"] = [(f, 0.15, 0.04) for f in folds] + [(c, -0.06, 0.035) for c in cheeks]
    # AU9 wrinkles the root of the nose into short horizontal creases with lit ridges between them,
    # and draws oblique lines down the sides of the bridge.
    root_y = brow_y + 0.08
    root = [(line((mid_x - 0.08, root_y + step), (mid_x + 0.08, root_y + step)), depth, 0.018)
            for step, depth in ((0.0, 0.3), (0.0225, -0.15), (0.045, 0.3), (0.0675, -0.15), (0.09, 0.25))]
    sides = [(line((mid_x + side * 0.07, root_y + 0.02), (mid_x + side * 0.12, root_y + 0.16)), 0.28, 0.022)
             for side in (-1.0, 1.0)]
    strokes["AU9"] = [(f, 0.4, 0.04) for f in folds] + [(c, -0.15, 0.035) for c in cheeks] + root + sides
    # AU15 draws lines down from the lip corners; AU17 deepens the groove above the chin boss.
    strokes["AU15"] = [(line((p(c)[0] + s * 0.03, p(c)[1] + 0.03), (p(c)[0] + s * 0.08, p(c)[1] + 0.25)), 0.3, 0.04)
                       for c, s in ((T.RIGHT_LIP_CORNER, -1.0), (T.LEFT_LIP_CORNER, 1.0))]
    chin_top = face[T.LOWER_LIP_OUTER, 1].max() + 0.06
    strokes["AU17"] = [(line((mid_x - 0.2, chin_top + 0.02), (mid_x, chin_top), (mid_x + 0.2, chin_top + 0.02)),
                        0.3, 0.04),
                       (line((mid_x - 0.15, chin_top + 0.1), (mid_x + 0.15, chin_top + 0.1)), -0.12, 0.05)]
    # AU6: crow's feet at the outer eye corners.
    strokes["AU6"] = [(line(p(c) + [s * 0.08, dy], p(c) + [s * 0.2, dy * 2.2]), 0.25, 0.025)
                      for c, s in ((T.RIGHT_EYE_OUTER, -1.0), (T.LEFT_EYE_OUTER, 1.0)) for dy in (-0.05, 0.0, 0.06)]
    return strokes
