"""Emotion-styled footage: the GradingHead's look applied to a video or a still with FFmpeg's filters.

The look has three parts, each done by a maintained library:

- **colour** (exposure, contrast, saturation, warmth, tint, shadows, highlights): FFmpeg's
  ``exposure``, ``colorlevels``, ``hue``, ``colortemperature`` and ``colorbalance`` filters are run
  once on an identity Hald CLUT image, and the result is applied to every frame by FFmpeg's
  ``haldclut`` filter. The same table is what ``--export-lut`` writes as a ``.cube`` file, so the
  exported look is exactly the one in the video. A timeline changes the CLUT frame by frame.
- **texture** (vignette, grain, softness): FFmpeg's ``vignette``, ``noise`` and ``gblur``.
- **camera motion** (shake, push-in or pull-out, drift), and resizing: one OpenCV affine warp per
  frame and plane, with sub-pixel precision, so slow zooms do not step.

Frames stream from decoder to encoder as FFmpeg's yuv420p pictures (memory stays flat however long
the clip) and the sound goes alongside, in sync: AAC copied as it is, anything else encoded as AAC.
At intensity 0 a video is copied untouched (the same packets); a still image becomes a clip with a
gentle push-in.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...conditioning.controls import GRADING_CONTROLS, GradingControls, default_grading
from ...conditioning.spec import EmotionSpec
from ...conditioning.timeline import TimedTimeline, smooth_steps
from ...errors import EmostudioError
from ..media import VIDEO_SUFFIXES, Provenance, VideoWriter, atomic_output, check_output_path, provenance
from ..provenance import sign, signing_credentials

if TYPE_CHECKING:
    import av

    from ...conditioning.heads import GradingHead

STILL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
TRANSITION_S = 1.0
"""How long a change of emotion takes on screen (a raised-cosine ramp centred on the change)."""
STILL_FPS = 25
DEFAULT_STILL_SECONDS = 6.0
MIN_SECONDS, MAX_SECONDS = 1.0, 120.0
MIN_SIZE, MAX_SIZE = 64, 2160
STILL_PUSH_IN = 0.08
"""The gentle move given to every still (log2 zoom per 10 s) so that it reads as footage."""
CLUT_LEVEL = 6  # a Hald CLUT of level 6 holds 36 entries per channel (216 x 216 pixels)
CUBE_SIZE = 33  # the usual size of a .cube LUT in editors
_REBUILD_STEP = 0.01  # texture settings closer than this to the graph's reuse it


@dataclass(frozen=True)
class StyleResult:
    path: Path
    frames: int
    fps: float
    width: int
    height: int
    timeline: TimedTimeline
    copied: bool  # True when intensity 0 let the input be copied untouched

    @property
    def duration(self) -> float:
        return self.frames / self.fps


# -- the look as filters ---------------------------------------------------------------------------


def colour_filters(controls: GradingControls) -> list[tuple[str, str]]:
    """FFmpeg filters (name, arguments) for the colour part of a look; empty when it is neutral."""
    filters: list[tuple[str, str]] = []
    if abs(controls.exposure_ev) > 1e-4:
        filters.append(("exposure", f"exposure={controls.exposure_ev:.4f}"))
    c, s, h = controls.contrast, controls.shadows, controls.highlights
    in_min = max(c, 0.0) + max(-s, 0.0)
    in_max = 1.0 - max(c, 0.0) - max(h, 0.0)
    out_min = max(-c, 0.0) + max(s, 0.0)
    out_max = 1.0 - max(-c, 0.0) + min(h, 0.0)
    if max(abs(in_min), abs(1 - in_max), abs(out_min), abs(1 - out_max)) > 1e-4:
        levels = {"imin": in_min, "imax": in_max, "omin": out_min, "omax": out_max}
        filters.append(("colorlevels", ":".join(f"{channel}{key}={value:.4f}" for key, value in levels.items()
                                                  for channel in "rgb")))
    if abs(controls.saturation_log2) > 1e-4:
        filters.append(("hue", f"s={2.0 ** controls.saturation_log2:.4f}"))
    if abs(controls.warmth) > 1e-4:
        # 6500 K is neutral daylight; a lower light temperature renders warmer (amber), a higher cooler.
        kelvin = float(np.clip(6500.0 * 2.0 ** (-0.35 * controls.warmth), 1000.0, 40000.0))
        filters.append(("colortemperature", f"temperature={kelvin:.0f}:mix=1:pl=0.5"))
    if abs(controls.tint) > 1e-4:
        t = 0.3 * controls.tint
        filters.append(("colorbalance", f"rm={t / 2:.4f}:gm={-t:.4f}:bm={t / 2:.4f}:pl=1"))
    return filters


def texture_filters(controls: GradingControls, height: int, seed: int) -> list[tuple[str, str]]:
    """FFmpeg filters for vignette, grain and softness."""
    filters: list[tuple[str, str]] = []
    if controls.vignette > _REBUILD_STEP:
        filters.append(("vignette", f"angle={min(controls.vignette, 1.0) * 1.1:.3f}"))
    if controls.grain > _REBUILD_STEP:
        # Grain is the same noise on each RGB channel (strength up to 30); added to the YUV planes here, that
        # is about 2/3 of it in luma and 2/9 in each chroma plane (matched on flat grey: per-channel spread
        # within 3% of RGB noise), which also keeps chroma noise from tripling the encoded size.
        strength = min(controls.grain, 1.0) * 30
        filters.append(("noise", f"c0s={round(strength * 2 / 3)}:c1s={round(strength * 2 / 9)}:"
                                  f"c2s={round(strength * 2 / 9)}:allf=t:all_seed={seed % 2**31}"))
    if controls.softness > _REBUILD_STEP:
        filters.append(("gblur", f"sigma={min(controls.softness, 1.0) * height / 160:.3f}"))
    return filters


def _run_filters(image: np.ndarray, filters: list[tuple[str, str]]) -> np.ndarray:
    """Pass one RGB image through a chain of FFmpeg filters."""
    import av

    graph = av.filter.Graph()
    previous = graph.add_buffer(width=image.shape[1], height=image.shape[0], format="rgb24",
                                time_base=Fraction(1, 25))
    for name, arguments in [*filters, ("format", "rgb24")]:
        node = graph.add(name, arguments)
        previous.link_to(node)
        previous = node
    sink = graph.add("buffersink")
    previous.link_to(sink)
    graph.configure()
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    frame.pts = 0
    graph.vpush(frame)
    return graph.vpull().to_ndarray(format="rgb24")


def _identity_hald(level: int) -> np.ndarray:
    """The identity Hald CLUT image: red fastest, then green, then blue."""
    entries, side = level * level, level**3
    index = np.arange(side * side)
    rgb = np.stack([index % entries, (index // entries) % entries, index // (entries * entries)], axis=-1)
    return np.round(rgb * 255.0 / (entries - 1)).astype(np.uint8).reshape(side, side, 3)


@functools.lru_cache(maxsize=256)
def _hald_for(colour: tuple[float, ...]) -> np.ndarray:
    controls = GradingControls(*colour)
    identity = _identity_hald(CLUT_LEVEL)
    filters = colour_filters(controls)
    return _run_filters(identity, filters) if filters else identity


def write_cube(path: str | os.PathLike, controls: GradingControls, title: str = "emostudio look") -> Path:
    """Write the colour part of a look as a 3D LUT (.cube, the format Resolve, Premiere and FFmpeg read)."""
    target = Path(path)
    if target.suffix.lower() != ".cube":
        raise EmostudioError(f"Cannot write {target.name!r}: a LUT file must end in .cube.")
    check_output_path(target, (".cube",))
    n = CUBE_SIZE
    index = np.arange(n**3)
    grid = np.stack([index % n, (index // n) % n, index // (n * n)], axis=-1)  # red fastest, as .cube lists
    identity = np.round(grid * 255.0 / (n - 1)).astype(np.uint8).reshape(n * n, n, 3)
    filters = colour_filters(controls)
    graded = _run_filters(identity, filters) if filters else identity
    values = graded.reshape(-1, 3).astype(np.float64) / 255.0
    lines = [f'TITLE "{title[:80]}"', f"LUT_3D_SIZE {n}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    lines += [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in values]
    with atomic_output(target) as temporary:
        temporary.write_text("\n".join(lines) + "\n", encoding="ascii")
    return target


# -- camera motion ---------------------------------------------------------------------------------


class CameraMotion:
    """Per-frame affine maps (output pixel -> input pixel) for shake, push-in/out and drift.

    Rates are integrated over time, so a timeline that changes the push-in changes its speed without
    a jump. The frame is always filled: the view is kept inside the source by a zoom margin.
    """

    def __init__(self, source_size: tuple[int, int], output_size: tuple[int, int], duration: float,
                 seed: int, base_push_in: float = 0.0) -> None:
        self.source_w, self.source_h = source_size
        self.out_w, self.out_h = output_size
        self.duration = max(duration, 1e-3)
        self.base_push_in = base_push_in
        rng = np.random.default_rng(seed)
        self.phases = rng.uniform(0, 2 * math.pi, size=(2, 3))
        self.zoom_log2 = 0.0
        self.offset_x = 0.0
        self.shake_phase = 0.0
        self.time = 0.0

    def step(self, controls: GradingControls, dt: float) -> np.ndarray:
        """Advance by ``dt`` seconds and return the 2x3 inverse map for this frame."""
        push = controls.push_in + self.base_push_in
        self.zoom_log2 += push / 10.0 * dt
        self.offset_x += controls.drift / 10.0 * dt
        self.shake_phase += 2 * math.pi * (0.5 + controls.shake_hz) * dt
        self.time += dt
        # A pull-out needs room to pull out into: start zoomed in by what the whole clip will use.
        reserve = max(-push, 0.0) / 10.0 * self.duration
        margin = 1.0 + 2.5 * controls.shake + abs(controls.drift) / 10.0 * self.duration
        scale = margin * 2.0 ** (max(self.zoom_log2 + reserve, 0.0))
        short = min(self.source_w, self.source_h)
        shake = controls.shake * short * np.array([
            sum(math.sin(self.shake_phase * k + self.phases[axis, i]) / (i + 1) for i, k in enumerate((1.0, 2.3, 4.1)))
            for axis in (0, 1)]) / 1.8
        # Fit the output's aspect inside the source, then zoom about the centre.
        fit = min(self.source_w / self.out_w, self.source_h / self.out_h) / scale
        centre_x = self.source_w / 2 + self.offset_x * self.source_w / scale + shake[0]
        centre_y = self.source_h / 2 + shake[1]
        limit_x = (self.source_w - self.out_w * fit) / 2
        limit_y = (self.source_h - self.out_h * fit) / 2
        centre_x = float(np.clip(centre_x, self.source_w / 2 - limit_x, self.source_w / 2 + limit_x))
        centre_y = float(np.clip(centre_y, self.source_h / 2 - limit_y, self.source_h / 2 + limit_y))
        return np.array([[fit, 0.0, centre_x - fit * self.out_w / 2],
                         [0.0, fit, centre_y - fit * self.out_h / 2]], dtype=np.float64)


# -- the grader ------------------------------------------------------------------------------------


class FootageGrader:
    """Turns an EmotionSpec or a TimedTimeline into per-frame looks and applies them to frames."""

    def __init__(self, head: GradingHead | None = None, bank=None) -> None:
        # Without a fitted look, the published grading table is the whole model: no torch to load.
        self.bank = bank
        self.head = head

    def looks(self, timeline: TimedTimeline) -> np.ndarray:
        """(S, C) grading controls, one row per timeline segment."""
        if self.head is None:
            looks = default_grading(list(timeline.specs))
        else:
            from ...conditioning.bank import EmotionBank

            bank = self.bank or EmotionBank(embedding_dim=self.head.config.embedding_dim)
            looks = self.head.grading(bank.embed(list(timeline.specs)))
        return np.array([controls.as_list() for controls in looks])

    def controls_at(self, timeline: TimedTimeline, looks: np.ndarray, seconds: float) -> GradingControls:
        row = smooth_steps(np.array([seconds]), timeline.boundaries, looks, TRANSITION_S)[0]
        return GradingControls.from_vector(row)

    def style(self, source: str | os.PathLike, output: str | os.PathLike, emotion: TimedTimeline | EmotionSpec | str,
              intensity: float | None = None, seed: int = 0, size: int | None = None,
              duration: float | None = None, export_lut: str | os.PathLike | None = None,
              progress: Callable[[int, int], None] | None = None) -> StyleResult:
        """Grade ``source`` (a video or a still image) into ``output`` (an MP4)."""
        timeline = _as_timeline(emotion).with_intensity(intensity)
        target = check_output_path(output, VIDEO_SUFFIXES)
        if export_lut is not None:
            check_output_path(export_lut, (".cube",))
        _check_size(size)
        source_path = Path(source)
        still = source_path.suffix.lower() in STILL_SUFFIXES
        if not still and duration is not None:
            raise EmostudioError("--duration is for still images; a video keeps its own length.")
        looks = self.looks(timeline)
        metadata = provenance("emostudio style (FFmpeg grading)", timeline.describe(), ingredients=(source_path,))
        signing_credentials()  # a bad signing certificate fails before any grading
        if export_lut is not None:
            write_cube(export_lut, self.controls_at(timeline, looks, 0.0), title=f"emostudio {timeline.describe()}")
        if still:
            return self._style_still(source_path, target, timeline, looks, seed, size, duration, metadata, progress)
        return self._style_video(source_path, target, timeline, looks, seed, size, metadata, progress)

    # The two inputs differ only in where frames come from and whether there is sound.

    def _style_still(self, source: Path, target: Path, timeline: TimedTimeline, looks: np.ndarray, seed: int,
                     size: int | None, duration: float | None, metadata: dict[str, str],
                     progress: Callable[[int, int], None] | None) -> StyleResult:
        from ..face.perception import load_image

        seconds = DEFAULT_STILL_SECONDS if duration is None else float(duration)
        if not (MIN_SECONDS <= seconds <= MAX_SECONDS) or not math.isfinite(seconds):
            raise EmostudioError(f"Duration {duration!r} is out of range; give {MIN_SECONDS:g} to {MAX_SECONDS:g} "
                                 "seconds.")
        import av

        image = load_image(source)
        # Converted once: every frame of the clip starts from the same picture.
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        picture.colorspace, picture.color_range = BT709, LIMITED_RANGE
        count = round(seconds * STILL_FPS)
        pictures = (picture for _ in range(count))
        return self._render(pictures, count, (image.shape[1], image.shape[0]), STILL_FPS, target, timeline, looks,
                            seed, size, metadata, None, STILL_PUSH_IN, progress)

    def _style_video(self, source: Path, target: Path, timeline: TimedTimeline, looks: np.ndarray, seed: int,
                     size: int | None, metadata: dict[str, str],
                     progress: Callable[[int, int], None] | None) -> StyleResult:
        from ..media import decode_video, read_video_info

        info = read_video_info(source)
        if not info["width"] or not info["height"] or not info["fps"]:
            raise EmostudioError(f"{source.name} has no readable picture; choose an mp4, mov, mkv or webm file.")
        if not np.any(looks) and size is None:
            copied = _copy_untouched(source, target, metadata, info["frames"])
            if copied is not None:
                return StyleResult(target, copied, info["fps"], info["width"], info["height"], timeline, True)
        return self._render(decode_video(source), info["frames"] or 0, (info["width"], info["height"]),
                            info["fps"], target, timeline, looks, seed, size, metadata,
                            source if info["has_audio"] else None, 0.0, progress)

    def _render(self, pictures: Iterator[av.VideoFrame], count: int, source_size: tuple[int, int], fps: float,
                target: Path, timeline: TimedTimeline, looks: np.ndarray, seed: int, size: int | None,
                metadata: dict[str, str], audio_source: Path | None, base_push_in: float,
                progress: Callable[[int, int], None] | None) -> StyleResult:
        # Pictures stay in FFmpeg's frames, in yuv420p, from decoder to encoder: the only conversions are the
        # look's own (to RGB for the colour table and back), done inside the filter graph.
        width, height = _output_size(source_size, size)
        motion = CameraMotion(source_size, (width, height), count / fps, seed, base_push_in)
        grade = _GradeGraph(width, height, seed)
        moving_anywhere = base_push_in != 0 or np.any(looks[:, [_index("shake"), _index("push_in"),
                                                                 _index("drift")]])
        written = 0
        with VideoWriter(target, width, height, fps, metadata=metadata, audio_source=audio_source) as video:
            for index, picture in enumerate(pictures):
                controls = self.controls_at(timeline, looks, index / fps)
                matrix = motion.step(controls, 1.0 / fps)
                if picture.format.name != "yuv420p":
                    picture = _as_yuv420p(picture)
                if moving_anywhere or (picture.width, picture.height) != (width, height):
                    picture = _warp(picture, matrix, width, height)
                video.write_picture(grade.apply(picture, controls))
                written += 1
                if progress is not None:
                    progress(written, max(count, written))
        return StyleResult(target, written, float(fps), width, height, timeline, False)


BT709, LIMITED_RANGE = 1, 1  # FFmpeg's AVCOL_SPC_BT709 and AVCOL_RANGE_MPEG: what the writer encodes


def _as_yuv420p(picture: av.VideoFrame) -> av.VideoFrame:
    """A picture in another pixel format (4:2:2, 4:4:4, 10-bit, RGB) as 8-bit 4:2:0, keeping its colours."""
    colorspace, color_range = picture.colorspace, picture.color_range
    converted = picture.reformat(format="yuv420p", src_color_range=color_range or None,
                                 dst_color_range=color_range or None)
    converted.colorspace, converted.color_range = colorspace, color_range
    return converted


def _plane(plane) -> np.ndarray:
    """A picture plane as a (height, width) uint8 view (rows padded to the line size are cut)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]


def _warp(picture: av.VideoFrame, matrix: np.ndarray, width: int, height: int) -> av.VideoFrame:
    """A yuv420p picture through the camera's map (output pixel -> input pixel), plane by plane.

    The chroma planes have half the resolution: chroma sample c covers luma samples 2c and 2c + 1, so it
    sits at luma position 2c + 0.5, and its map is the luma map seen through that change of coordinates.
    """
    import av
    import cv2

    luma, blue, red = (_plane(plane) for plane in picture.planes)
    linear, shift = matrix[:, :2], matrix[:, 2]
    chroma_matrix = np.concatenate([linear, (0.5 * shift + 0.25 * linear.sum(axis=1) - 0.25)[:, None]], axis=1)
    out = np.empty((height * 3 // 2, width), np.uint8)
    flags, border = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, cv2.BORDER_REFLECT101
    out[:height] = cv2.warpAffine(luma, matrix, (width, height), flags=flags, borderMode=border)
    quarter = (width // 2) * (height // 2)
    chroma = out[height:].reshape(-1)
    for index, plane in enumerate((blue, red)):
        warped = cv2.warpAffine(plane, chroma_matrix, (width // 2, height // 2), flags=flags, borderMode=border)
        chroma[index * quarter:(index + 1) * quarter] = warped.reshape(-1)
    result = av.VideoFrame.from_ndarray(out, format="yuv420p")
    result.colorspace, result.color_range = picture.colorspace, picture.color_range
    return result


class _GradeGraph:
    """One FFmpeg graph: a yuv420p picture and its CLUT in, the graded picture out, ready for the encoder.

    The look's colour table is applied in planar float RGB with tetrahedral interpolation (FFmpeg's
    vectorised path for it, over twice as fast as 8-bit packed RGB; its planar 8- and 16-bit paths mix up
    the channels in FFmpeg 8), and the graph ends in the
    writer's yuv420p, BT.709, limited range; texture is added after, on the YUV planes. The graph is
    rebuilt only when the texture changes.
    """

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.width, self.height, self.seed = width, height, seed
        self.key: tuple | None = None
        self.pts = 0

    def apply(self, picture: av.VideoFrame, controls: GradingControls) -> av.VideoFrame:
        import av

        texture = texture_filters(controls, self.height, self.seed)
        colours = (picture.colorspace, picture.color_range)
        if (texture, colours) != self.key:
            self._build(texture, *colours)
            self.key = (texture, colours)
        hald = av.VideoFrame.from_ndarray(_hald_for(tuple(round(value, 3) for value in controls.colour)),
                                          format="rgb24")
        for source, image in ((self.frame_in, picture), (self.clut_in, hald)):
            image.pts = self.pts
            image.time_base = Fraction(1, 25)
            source.push(image)
        self.pts += 1
        return self.sink.pull()

    def _build(self, texture: list[tuple[str, str]], colorspace: int, color_range: int) -> None:
        import av

        graph = av.filter.Graph()
        graph.threads = os.cpu_count() or 1  # the colour table, vignette and noise work in slices
        side = CLUT_LEVEL**3
        # The decoder's colours (matrix and range) tell the graph how to turn the picture into RGB.
        self.frame_in = graph.add("buffer", f"video_size={self.width}x{self.height}:pix_fmt=yuv420p:time_base=1/25:"
                                            f"pixel_aspect=1/1:colorspace={colorspace}:range={color_range}")
        self.clut_in = graph.add_buffer(width=side, height=side, format="rgb24", time_base=Fraction(1, 25))
        to_rgb = graph.add("format", "pix_fmts=gbrpf32le")
        lut = graph.add("haldclut", "clut=all:interp=tetrahedral")
        to_yuv = graph.add("format", "pix_fmts=yuv420p:color_spaces=bt709:color_ranges=tv")
        self.frame_in.link_to(to_rgb)
        to_rgb.link_to(lut, 0, 0)
        self.clut_in.link_to(lut, 0, 1)
        lut.link_to(to_yuv)
        previous = to_yuv
        for name, arguments in texture:
            node = graph.add(name, arguments)
            previous.link_to(node)
            previous = node
        self.sink = graph.add("buffersink")
        previous.link_to(self.sink)
        graph.configure()
        self.graph = graph
        self.pts = 0


def load_look(run_dir: str | os.PathLike) -> GradingHead:
    """The GradingHead that ``emostudio train grading`` fitted, or one sentence saying what is wrong."""
    from ...conditioning.heads import GradingHead

    folder = Path(run_dir)
    head_dir = folder / "grading_head" if (folder / "grading_head").is_dir() else folder
    if not (head_dir / GradingHead.config_name).is_file():
        raise EmostudioError(f"{folder} holds no fitted look; give the --output-dir of 'emostudio train grading'.")
    return GradingHead.from_pretrained(head_dir)


def _index(name: str) -> int:
    return GRADING_CONTROLS.index(name)


def _as_timeline(emotion: TimedTimeline | EmotionSpec | str) -> TimedTimeline:
    if isinstance(emotion, TimedTimeline):
        return emotion
    if isinstance(emotion, EmotionSpec):
        return TimedTimeline.constant(emotion)
    return TimedTimeline.parse(emotion or "neutral")


def _check_size(size: int | None) -> None:
    if size is None:
        return
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE \
            or size % 2:
        raise EmostudioError(f"Size {size!r} is out of range; give an even height in pixels from {MIN_SIZE} to "
                             f"{MAX_SIZE}.")


def _output_size(source_size: tuple[int, int], size: int | None) -> tuple[int, int]:
    """Even width and height: the source's own, or ``size`` pixels high at the source's aspect."""
    width, height = source_size
    if size is not None:
        width, height = width * size / height, size
    return max(2, int(round(width / 2)) * 2), max(2, int(round(height / 2)) * 2)


def _copy_untouched(source: Path, target: Path, metadata: Provenance, expected_frames: int | None) -> int | None:
    """Copy the input's video and sound packets into ``target`` unchanged; None if MP4 cannot hold them."""
    import av

    from ..media import _MP4_METADATA_KEYS, _unreadable_video

    try:
        with av.open(str(source)) as given, atomic_output(target) as temporary:
            with av.open(str(temporary), "w", format="mp4", options={"movflags": "+faststart"}) as copy:
                for key, value in metadata.tags().items():
                    copy.metadata[_MP4_METADATA_KEYS.get(key, key)] = value
                streams = [given.streams.video[0], *given.streams.audio[:1]]
                mapping = {stream.index: copy.add_stream_from_template(stream) for stream in streams}
                frames = 0
                for packet in given.demux(streams):
                    if packet.dts is None:
                        continue
                    frames += packet.stream.type == "video"
                    packet.stream = mapping[packet.stream.index]
                    copy.mux(packet)
                if frames == 0 or (expected_frames and frames < expected_frames):
                    raise EmostudioError(f"Could not read {source.name} as a video (it ends after {frames} of its "
                                         f"{expected_frames or '?'} frames: truncated?); choose a complete mp4, "
                                         "mov, mkv or webm file.")
            sign(temporary, metadata, target.name)
        return frames
    except av.FFmpegError as error:
        if isinstance(error, av.InvalidDataError):
            raise _unreadable_video(source, error) from error
        return None  # a codec MP4 cannot hold: grade (re-encode) instead
    except ValueError:
        return None
