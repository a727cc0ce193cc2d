"""Reading and writing media safely, and marking outputs as synthetic.

Outputs are written to a temporary file beside the target and renamed into place, so a failure
never leaves a half-written file. Every WAV, FLAC and MP4 carries signed C2PA Content Credentials
(see :mod:`.provenance`) naming the generator, the emotion and the inputs, plus plain tags that
players show. Video is H.264 + AAC in MP4, streamed frame by frame.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmostudioError
from .provenance import SIGNED_SUFFIXES, Provenance, provenance, sign, signing_credentials

if TYPE_CHECKING:
    import av
    import av.container

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
VIDEO_SUFFIXES = (".mp4",)

MAX_AUDIO_SECONDS = 300
"""Longest input audio :func:`read_audio` accepts, in seconds (five minutes).

Talking-head clips are short; the limit bounds memory and render time and catches a wrong file
(a film, an album) before minutes of work.
"""

SILENCE_PEAK = 1e-4
"""Input audio whose absolute peak stays below this is treated as silent (nothing to lip-sync)."""

_SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg")
_AAC_FALLBACK_RATE = 48000
# Decoders of mp3/AAC/Opus return whole codec frames, a few tens of milliseconds past the true end.
_CODEC_PADDING_SECONDS = 0.25
# The MP4 (iTunes-style) metadata box has no "software" key, and libavformat overwrites
# "encoder" with its own version, so the generator's name goes under "artist".
_MP4_METADATA_KEYS = {"software": "artist"}


__all__ = ["Provenance", "provenance"]  # re-exported: writers and generators take it from here

UNSPECIFIED = Provenance("emostudio", "unspecified")


def check_output_path(path: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    """Fail early, before any work, if ``path`` cannot be written."""
    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise EmostudioError(f"Cannot write {target.name!r}: the output must end in {' or '.join(suffixes)}.")
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise EmostudioError(f"{target} is a folder; give a file name such as {target / ('out' + suffixes[0])}.")
    if not folder.is_dir():
        raise EmostudioError(f"The folder {folder} does not exist; create it or write somewhere else.")
    if not os.access(folder, os.W_OK):
        raise EmostudioError(f"The folder {folder} is not writable; choose an output path you can write to.")
    if target.exists() and not os.access(target, os.W_OK):
        raise EmostudioError(f"{target} exists and is read-only; choose another output path.")
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}",
                                         dir=target.parent if str(target.parent) else ".")
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get ordinary permissions
        yield Path(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    """The process umask, read without setting it (os.umask would race with other threads)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def write_audio(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int,
                metadata: Provenance = UNSPECIFIED) -> Path:
    """Write mono float audio, signed with its provenance, atomically."""
    import soundfile

    target = check_output_path(path, AUDIO_SUFFIXES)
    if target.suffix.lower() in SIGNED_SUFFIXES:
        signing_credentials()  # a bad signing certificate fails before anything is written
    subtype = "PCM_16" if target.suffix.lower() in (".wav", ".flac") else None
    try:
        with atomic_output(target) as temporary:
            with soundfile.SoundFile(temporary, "w", samplerate=sample_rate, channels=1, subtype=subtype,
                                     format=target.suffix[1:].upper()) as handle:
                for key, value in metadata.tags().items():
                    setattr(handle, key, value)
                handle.write(np.clip(waveform, -1.0, 1.0))
            sign(temporary, metadata, target.name)
    except OSError as error:
        raise EmostudioError(f"Could not write {target} ({error.strerror or error}); check the disk and the "
                             "path.") from error
    return target


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of an audio file (for checking provenance)."""
    import soundfile

    with soundfile.SoundFile(path) as handle:
        return {key: value for key, value in handle.copy_metadata().items() if value}


# -- reading audio ---------------------------------------------------------------------------------


def read_audio(path: str | os.PathLike, max_seconds: float = MAX_AUDIO_SECONDS) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and their sample rate, from an audio file or a video's sound.

    WAV, FLAC and Ogg are read with soundfile; anything else (mp3, m4a, aac, opus, or the first
    audio track of mp4/mov/mkv/webm) with PyAV. Several channels are averaged.
    """
    source = _existing_file(path, "audio file")
    waveform: np.ndarray | None = None
    if source.suffix.lower() in _SOUNDFILE_SUFFIXES:
        waveform, rate = _read_with_soundfile(source, max_seconds)
    if waveform is None:
        waveform, rate = _read_with_av(source, max_seconds)
    if waveform.size == 0:
        raise EmostudioError(f"{source.name} contains no audio samples; choose a recording with speech in it.")
    if not np.all(np.isfinite(waveform)):
        raise EmostudioError(f"{source.name} contains invalid (NaN or infinite) samples; re-export the audio.")
    if float(np.max(np.abs(waveform))) < SILENCE_PEAK:
        raise EmostudioError(f"{source.name} is silent, so there is nothing to lip-sync to; choose a recording "
                             "with audible speech.")
    return np.clip(waveform, -1.0, 1.0).astype(np.float32, copy=False), rate


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    source = Path(path)
    if not source.exists():
        raise EmostudioError(f"The {what} {source} does not exist; check the path.")
    if source.is_dir():
        raise EmostudioError(f"{source} is a folder; give the path of the {what} instead.")
    return source


def _reason(error: BaseException) -> str:
    """An exception's message without errno numbers or the path (the sentence names the file)."""
    return (getattr(error, "strerror", None) or str(error) or type(error).__name__).strip().rstrip(".")


def _too_long(source: Path, seconds: float | None, max_seconds: float) -> EmostudioError:
    length = f"is {seconds:.1f} s long, over" if seconds is not None else "is longer than"
    return EmostudioError(f"{source.name} {length} the {max_seconds:g} s limit; trim it to {max_seconds:g} s or "
                          "less.")


def _unreadable(source: Path, error: Exception) -> EmostudioError:
    return EmostudioError(f"Could not read {source.name} as audio ({_reason(error)}); use a wav, flac, ogg, mp3 "
                          "or m4a file, or a video with sound.")


def _read_with_soundfile(source: Path, max_seconds: float) -> tuple[np.ndarray | None, int]:
    """Samples via libsndfile, or ``None`` so that PyAV gets a try (e.g. an mp3 named .wav)."""
    import soundfile

    try:
        with soundfile.SoundFile(source) as handle:
            rate = handle.samplerate
            if handle.frames > max_seconds * rate:
                raise _too_long(source, handle.frames / rate, max_seconds)
            samples = handle.read(dtype="float32", always_2d=True)
    except soundfile.LibsndfileError:
        return None, 0
    return samples.mean(axis=1, dtype=np.float32), rate


def _read_with_av(source: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(source)) as container:
            if not container.streams.audio:
                raise EmostudioError(f"{source.name} has no audio track; choose a recording or a video with sound.")
            stream = container.streams.audio[0]
            declared = _seconds(stream.duration, stream.time_base) or _seconds(container.duration)
            if declared is not None and declared > max_seconds + 1.0:  # margin: declared lengths are approximate
                raise _too_long(source, declared, max_seconds)
            resampler = av.AudioResampler(format="fltp")  # keeps rate and layout; converts ints to float
            chunks: list[np.ndarray] = []
            count, rate = 0, stream.codec_context.sample_rate
            for frame in container.decode(stream):
                rate = frame.sample_rate
                for converted in resampler.resample(frame):
                    chunks.append(converted.to_ndarray().mean(axis=0, dtype=np.float32))
                    count += chunks[-1].size
                if count > (max_seconds + _CODEC_PADDING_SECONDS) * rate:  # declared lengths can be missing or wrong
                    raise _too_long(source, declared, max_seconds)
            for converted in resampler.resample(None):
                chunks.append(converted.to_ndarray().mean(axis=0, dtype=np.float32))
    except EmostudioError:
        raise
    except (av.FFmpegError, OSError, ValueError) as error:
        raise _unreadable(source, error) from error
    waveform = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if waveform.size > (max_seconds + _CODEC_PADDING_SECONDS) * rate:
        raise _too_long(source, declared or waveform.size / rate, max_seconds)
    return waveform, rate


def _seconds(duration: int | None, time_base: Fraction | None = None) -> float | None:
    """A stream or container duration in seconds, or ``None`` where the file does not say."""
    if duration is None or duration <= 0:
        return None
    if time_base is None:
        import av

        return duration / av.time_base
    return float(duration * time_base)


# -- writing video ---------------------------------------------------------------------------------


class VideoWriter:
    """Stream RGB uint8 frames into an H.264 MP4 with an optional AAC sound track, atomically.

    Use it as a context manager: frames are encoded as they arrive (memory stays flat however long
    the video), into a temporary file beside ``path`` that is renamed onto ``path`` only when the
    block ends cleanly; an exception, or zero frames written, leaves no file behind.

    Width and height must be even (yuv420p stores colour at half resolution); odd sizes are
    refused rather than silently padded, so the output is always the size asked for.

    ``audio`` (mono float in [-1, 1]) is encoded interleaved with the frames and trimmed, or padded
    with silence, to the video's length. ``metadata`` (from :func:`provenance`: the generator, the
    emotion and the inputs) is signed into the file as C2PA Content Credentials, and its tags become
    the MP4's title, comment and artist ('encoder' is always libavformat's own).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float,
                 audio: np.ndarray | None = None, sample_rate: int | None = None,
                 metadata: Provenance = UNSPECIFIED, audio_source: str | os.PathLike | None = None) -> None:
        self.path = check_output_path(path, VIDEO_SUFFIXES)
        signing_credentials()  # a bad signing certificate fails before any frame is rendered
        if audio is not None and audio_source is not None:
            raise EmostudioError("Give the video's sound either as samples (audio=) or as a file (audio_source=), "
                                 "not both.")
        if not all(isinstance(size, (int, np.integer)) and size > 0 for size in (width, height)):
            raise EmostudioError(f"Video size {width}x{height} is invalid; width and height must be positive "
                                 "whole numbers of pixels.")
        if width % 2 or height % 2:
            raise EmostudioError(f"Video size {width}x{height} is odd; H.264 needs even width and height, so crop "
                                 "or pad the frames by one pixel.")
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and 1 <= fps <= 240):
            raise EmostudioError(f"Frame rate {fps!r} is out of range; use a number of frames per second between "
                                 "1 and 240.")
        self.width, self.height = int(width), int(height)
        self.fps = Fraction(float(fps)).limit_denominator(1001)  # keeps NTSC rates such as 30000/1001 exact
        self.metadata = metadata
        self.audio: np.ndarray | None = None
        self.sample_rate: int | None = None
        if audio is not None:
            self.audio, self.sample_rate = _check_track(audio, sample_rate)
        self._frames = 0
        self._audio_sent = 0
        self._container: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio_stream: av.AudioStream | None = None
        self._passage = _SoundPassage(Path(audio_source)) if audio_source is not None else None
        self._reformatter: av.video.reformatter.VideoReformatter | None = None
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._temporary: Path | None = None

    @property
    def frames_written(self) -> int:
        """How many frames have been encoded so far."""
        return self._frames

    @property
    def duration(self) -> float:
        """Length of the video so far, in seconds."""
        return float(self._frames / self.fps)

    def __enter__(self) -> VideoWriter:
        if self._atomic is not None:
            raise EmostudioError("This VideoWriter has already been used; create a new one for each video.")
        self._atomic = atomic_output(self.path)
        temporary = self._atomic.__enter__()
        try:
            self._open(temporary)
        except BaseException as error:
            self._abandon(error)
            raise self._wrapped(error) from error
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc is not None:
            self._abandon(exc)
            return
        try:
            if self._frames == 0:
                raise EmostudioError(f"No frames were written to {self.path.name}, so no video was saved; write at "
                                     "least one frame inside the with block.")
            self._finish()
        except BaseException as error:
            self._abandon(error)
            raise self._wrapped(error) from error
        assert self._atomic is not None
        try:
            self._atomic.__exit__(None, None, None)  # renames onto the target
        except OSError as error:
            raise self._wrapped(error) from error

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB uint8 frame of shape (height, width, 3)."""
        import av

        if self._container is None:
            raise EmostudioError("VideoWriter.write was called outside its with block; open the writer with "
                                 "'with VideoWriter(...) as video:' first.")
        expected = (self.height, self.width, 3)
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise EmostudioError(f"Video frames must be uint8 RGB arrays of shape {expected}, not {got}; convert "
                                 "the frame before writing it.")
        # BT.709 matrix, tagged below on the stream, so players and read_video_frames agree on colour. One
        # reformatter for the whole video: a frame's own builds a new scaler (and its threads) every call.
        if self._reformatter is None:
            self._reformatter = av.video.reformatter.VideoReformatter()
        picture = self._reformatter.reformat(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"),
                                             format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        self.write_picture(picture)

    def write_picture(self, picture: av.VideoFrame) -> None:
        """Encode one picture already in the stream's format: yuv420p, BT.709, limited range, its size."""
        import av

        if self._container is None:
            raise EmostudioError("VideoWriter.write_picture was called outside its with block; open the writer "
                                 "with 'with VideoWriter(...) as video:' first.")
        if (picture.format.name, picture.width, picture.height) != ("yuv420p", self.width, self.height):
            raise EmostudioError(f"Pictures must be yuv420p at {self.width}x{self.height}, not {picture.format.name} "
                                 f"at {picture.width}x{picture.height}; use write() for RGB frames.")
        assert self._video is not None
        picture.pts = self._frames
        picture.time_base = 1 / self.fps  # frame numbers, whatever time base the picture came with
        try:
            self._container.mux(self._video.encode(picture))
            self._frames += 1
            if self.audio is not None:
                self._send_audio(round(self._frames / self.fps * self.sample_rate))
            if self._passage is not None:
                self._passage.send_until(self._frames / self.fps)
        except (av.FFmpegError, OSError) as error:
            raise self._wrapped(error) from error

    def _open(self, temporary: Path) -> None:
        import av

        self._temporary = temporary
        # faststart puts the index first, so browsers can start playing before the download ends.
        container = av.open(str(temporary), "w", format="mp4", options={"movflags": "+faststart"})
        self._container = container
        for key, value in self.metadata.tags().items():
            if value:
                container.metadata[_MP4_METADATA_KEYS.get(key, key)] = str(value)
        video = container.add_stream("libx264", rate=self.fps)
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        context = video.codec_context
        context.thread_type = "FRAME"  # x264's frame threads, as the ffmpeg command line encodes (PyAV asks slices)
        context.colorspace = context.color_primaries = context.color_trc = 1  # AVCOL_*_BT709
        context.color_range = 1  # AVCOL_RANGE_MPEG (limited range, what players expect)
        self._video = video
        if self.audio is not None:
            assert self.sample_rate is not None
            rates = av.codec.Codec("aac", "w").audio_rates or ()
            # PyAV's encoder resamples frames to the stream rate when AAC cannot store the input's.
            audio = container.add_stream("aac", rate=self.sample_rate if self.sample_rate in rates
                                         else _AAC_FALLBACK_RATE)
            audio.layout = "mono"
            audio.bit_rate = 128_000
            self._audio_stream = audio
        if self._passage is not None:
            self._passage.open(container)

    def _send_audio(self, until: int) -> None:
        """Encode input samples up to index ``until``, padding with silence past the end of the track."""
        import av

        assert self.audio is not None and self.sample_rate is not None
        assert self._container is not None and self._audio_stream is not None
        if until <= self._audio_sent:
            return
        chunk = self.audio[self._audio_sent:until]
        if chunk.size < until - self._audio_sent:
            chunk = np.concatenate([chunk, np.zeros(until - self._audio_sent - chunk.size, np.float32)])
        frame = av.AudioFrame.from_ndarray(chunk[np.newaxis, :], format="fltp", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.time_base = Fraction(1, self.sample_rate)
        frame.pts = self._audio_sent
        self._container.mux(self._audio_stream.encode(frame))
        self._audio_sent = until

    def _finish(self) -> None:
        """Flush both encoders and close the container (the moov box is written here)."""
        assert self._container is not None and self._video is not None
        self._container.mux(self._video.encode(None))
        if self._audio_stream is not None:
            self._container.mux(self._audio_stream.encode(None))
        if self._passage is not None:
            self._passage.finish(self.duration)
        container, self._container = self._container, None
        container.close()
        assert self._temporary is not None
        sign(self._temporary, self.metadata, self.path.name)

    def _abandon(self, error: BaseException) -> None:
        """Close the container quietly and delete the temporary file."""
        if self._passage is not None:
            self._passage.close()
        if self._container is not None:
            container, self._container = self._container, None
            with contextlib.suppress(Exception):
                container.close()
        if self._atomic is not None:
            with contextlib.suppress(BaseException):
                self._atomic.__exit__(type(error), error, error.__traceback__)

    def _wrapped(self, error: BaseException) -> BaseException:
        """Disk and encoder failures as one user-facing sentence; anything else unchanged."""
        import av

        if isinstance(error, (OSError, av.FFmpegError)) and not isinstance(error, EmostudioError):
            return EmostudioError(f"Could not write {self.path} ({_reason(error)}); check the disk space and the "
                                  "path.")
        return error


class _SoundPassage:
    """Streams another file's sound track into a writer as AAC, in step with the frames written.

    AAC sound is copied packet by packet; any other codec is decoded and encoded as AAC as the video
    advances. Either way memory stays flat however long the clip, the sound keeps its timing relative
    to the source's picture, and it is cut where the new video ends.
    """

    def __init__(self, source: Path) -> None:
        self.source = source
        self.sent = 0  # samples encoded so far
        self.packets: Iterator[av.Packet] | None = None  # set when the sound is copied, not encoded

    def open(self, output: av.container.OutputContainer) -> None:
        import av

        self.input = av.open(str(self.source))
        stream = self.input.streams.audio[0]
        video = self.input.streams.video[0] if self.input.streams.video else None
        if stream.codec_context.name == "aac":
            start = video.start_time * video.time_base if video is not None and video.start_time is not None else 0
            self.output = output
            self.stream = output.add_stream_from_template(stream)
            self.time_base = stream.time_base
            self.shift = round(start / stream.time_base)  # the picture's start is time 0 of the new video
            self.packets = (packet for packet in self.input.demux(stream) if packet.pts is not None)
            self.waiting: av.Packet | None = None
            return
        rates = av.codec.Codec("aac", "w").audio_rates or ()
        self.rate = stream.codec_context.sample_rate if stream.codec_context.sample_rate in rates else _AAC_FALLBACK_RATE
        layout = "mono" if stream.codec_context.layout.nb_channels == 1 else "stereo"
        self.output = output
        self.stream = output.add_stream("aac", rate=self.rate)
        self.stream.layout = layout
        self.stream.bit_rate = 128_000 if layout == "mono" else 192_000
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=self.rate)
        # Where the picture starts is time 0 of the new video; sound before it is dropped.
        start = video.start_time * video.time_base if video is not None and video.start_time is not None else 0
        self.origin = float(start)
        self.frames = self.input.decode(stream)
        self.pending: list = []

    def send_until(self, seconds: float) -> None:
        import av

        if self.packets is not None:
            self._copy_until(seconds)
            return
        until = round(seconds * self.rate)
        while self.sent < until:
            if not self.pending:
                try:
                    frame = next(self.frames, None)
                except (av.FFmpegError, OSError) as error:  # damaged or truncated sound
                    raise _unreadable_video(self.source, error) from error
                if frame is None:
                    return
                self.pending = self._resampled(frame)
                continue
            frame = self.pending.pop(0)
            frame.pts = self.sent
            frame.time_base = Fraction(1, self.rate)
            self.output.mux(self.stream.encode(frame))
            self.sent += frame.samples

    def _resampled(self, frame) -> list:
        """The frame at the output rate and layout, aligned to the picture's start (drop or pad)."""
        import av

        first = float(frame.pts * frame.time_base) - self.origin if frame.pts is not None else None
        frames = self.resampler.resample(frame)
        if first is None or not frames:
            return frames
        gap = round(first * self.rate) - self.sent
        samples = np.concatenate([f.to_ndarray() for f in frames], axis=1)
        tolerance = self.rate // 50  # resampler delay and rounding: below 20 ms, keep the stream contiguous
        if gap > tolerance:  # the sound starts after the picture, or has a hole: fill it with silence
            samples = np.concatenate([np.zeros((samples.shape[0], gap), np.float32), samples], axis=1)
        elif gap < -tolerance:  # the sound starts before the picture: drop what comes before it
            samples = samples[:, min(-gap, samples.shape[1]):]
        if samples.shape[1] == 0:
            return []
        out = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32), format="fltp",
                                         layout=self.stream.layout.name)
        out.sample_rate = self.rate
        return [out]

    def _copy_until(self, seconds: float) -> None:
        """Copy the packets that start before ``seconds`` (of the new video)."""
        import av

        assert self.packets is not None
        while True:
            if self.waiting is None:
                try:
                    self.waiting = next(self.packets, None)
                except (av.FFmpegError, OSError) as error:  # damaged or truncated sound
                    raise _unreadable_video(self.source, error) from error
                if self.waiting is None:
                    return
            packet = self.waiting
            start = packet.pts - self.shift
            if float(start * self.time_base) >= seconds:
                return
            self.waiting = None
            if start + packet.duration < 0:  # sound from before the picture starts
                continue
            packet.pts, packet.dts = start, packet.dts - self.shift if packet.dts is not None else None
            packet.stream = self.stream
            self.output.mux(packet)

    def finish(self, duration: float) -> None:
        self.send_until(duration)
        if self.packets is None:
            self.output.mux(self.stream.encode(None))
        self.close()

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.input.close()


def _check_track(audio: np.ndarray, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """The sound track as contiguous float32 mono in [-1, 1], with its rate."""
    if sample_rate is None or not isinstance(sample_rate, (int, np.integer)) or not 1000 <= sample_rate <= 384000:
        raise EmostudioError(f"Audio sample rate {sample_rate!r} is invalid; pass the track's rate in Hz, e.g. "
                             "sample_rate=22050.")
    track = np.asarray(audio, dtype=np.float32)
    if track.ndim == 2 and 1 in track.shape:
        track = track.reshape(-1)
    if track.ndim != 1:
        raise EmostudioError(f"The video's audio must be mono (one dimension), not shape {track.shape}; average "
                             "the channels first.")
    if not np.all(np.isfinite(track)):
        raise EmostudioError("The video's audio contains NaN or infinite samples; fix the waveform before "
                             "writing the video.")
    return np.ascontiguousarray(np.clip(track, -1.0, 1.0)), int(sample_rate)


# -- reading video ---------------------------------------------------------------------------------


def read_video_info(path: str | os.PathLike) -> dict[str, Any]:
    """Size, frame rate, frame count, durations, sound and container metadata of a video file.

    Durations are in seconds (``None`` where the file does not say); ``audio_*`` are ``None``
    without a sound track.
    """
    import av

    source, container = _open_video(path)
    with container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = video.average_rate or video.guessed_rate or video.base_rate
        info: dict[str, Any] = {
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "fps": float(rate) if rate else None,
            "frames": video.frames,
            "duration": _seconds(container.duration),
            "video_duration": _seconds(video.duration, video.time_base),
            "has_audio": audio is not None,
            "audio_sample_rate": audio.codec_context.sample_rate if audio is not None else None,
            "audio_duration": _seconds(audio.duration, audio.time_base) if audio is not None else None,
            "metadata": dict(container.metadata),
        }
        if not info["frames"]:  # some containers (webm, mkv) do not store it: count packets instead
            try:
                info["frames"] = sum(1 for packet in container.demux(video) if packet.size)
            except (av.FFmpegError, OSError) as error:
                raise _unreadable_video(source, error) from error
    return info


def read_video_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """The frames of a video's first video track as RGB uint8 arrays (height, width, 3), one by one.

    A missing or unreadable file is refused at the call, before the first frame is asked for.
    """
    return (picture.to_ndarray(format="rgb24") for picture in decode_video(path))


def decode_video(path: str | os.PathLike) -> Iterator[av.VideoFrame]:
    """The decoded pictures of a video's first video track, in the file's own pixel format and colours.

    A missing or unreadable file is refused at the call, before the first picture is asked for.
    """
    source, container = _open_video(path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame and slice threads, as the ffmpeg command line decodes

    def pictures() -> Iterator[av.VideoFrame]:
        import av

        with container:
            try:
                yield from container.decode(stream)
            except (av.FFmpegError, OSError) as error:  # a truncated or damaged file fails part-way
                raise _unreadable_video(source, error) from error

    return pictures()


def _open_video(path: str | os.PathLike) -> tuple[Path, av.container.InputContainer]:
    """An open container with at least one video track, or a one-sentence error."""
    import av

    source = _existing_file(path, "video file")
    try:
        container = av.open(str(source))
    except (av.FFmpegError, OSError, ValueError) as error:
        raise _unreadable_video(source, error) from error
    if not container.streams.video:
        container.close()
        raise EmostudioError(f"{source.name} has no video track; choose a video file such as an mp4.")
    if container.streams.video[0].codec_context is None:  # e.g. cut off inside its header
        container.close()
        raise EmostudioError(f"Could not read {source.name} as a video (its header is truncated or damaged); choose "
                             "a complete mp4, mov, mkv or webm file.")
    return source, container


def _unreadable_video(source: Path, error: BaseException) -> EmostudioError:
    return EmostudioError(f"Could not read {source.name} as a video ({_reason(error)}); choose an mp4, mov, mkv or "
                          "webm file.")
