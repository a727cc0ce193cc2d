"""Video writing and audio reading with real encoders (small clips, so the whole file runs in seconds)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from PIL import Image

from emostudio.errors import EmostudioError
from emostudio.generation import media
from emostudio.generation.media import (MAX_AUDIO_SECONDS, VideoWriter, provenance, read_audio, read_video_frames,
                                        read_video_info)

SIZE, FPS, RATE = 64, 25, 22050


def smooth_frame(index: int) -> np.ndarray:
    """A colour gradient that drifts with ``index``: smooth content H.264 keeps well."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    red = 40 + 2.5 * x + 3 * index
    green = 60 + 2 * y
    blue = 128 + 60 * np.sin((x + y + 2 * index) / 20)
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)


def tone(seconds: float, rate: int = RATE, frequency: float = 300.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_video(path: Path, frames: int = 20, **kwargs) -> VideoWriter:
    with VideoWriter(path, SIZE, SIZE, kwargs.pop("fps", FPS), **kwargs) as video:
        for index in range(frames):
            video.write(smooth_frame(index))
    return video


def encode_audio(path: Path, codec: str, waveform: np.ndarray, rate: int, layout: str = "mono") -> Path:
    """An audio-only file (mp3, m4a, ...) made with PyAV, as a user's recording would be."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        planes = waveform.T if waveform.ndim == 2 else waveform[np.newaxis, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes, dtype=np.float32), format="fltp",
                                           layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def window_rms(waveform: np.ndarray, rate: int, seconds: float = 0.05) -> np.ndarray:
    size = round(seconds * rate)
    usable = waveform[: len(waveform) // size * size]
    return np.sqrt(np.mean(usable.reshape(-1, size) ** 2, axis=1))


# -- VideoWriter -------------------------------------------------------------------------------------


def test_frames_round_trip_closely(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    video = write_video(out, frames=12)
    assert video.frames_written == 12 and video.duration == pytest.approx(12 / FPS)
    decoded = list(read_video_frames(out))
    assert len(decoded) == 12
    for index, frame in enumerate(decoded):
        assert frame.shape == (SIZE, SIZE, 3) and frame.dtype == np.uint8
        error = np.abs(frame.astype(np.int16) - smooth_frame(index).astype(np.int16)).mean()
        assert error < 6, f"frame {index}: mean absolute error {error:.2f} grey levels"


def test_info_reports_size_rate_frames_and_a_sound_track_of_video_length(tmp_path: Path) -> None:
    out = tmp_path / "talk.mp4"
    write_video(out, frames=20, audio=tone(1.3), sample_rate=RATE)  # longer than the video: trimmed
    info = read_video_info(out)
    assert (info["width"], info["height"], info["frames"]) == (SIZE, SIZE, 20)
    assert info["fps"] == pytest.approx(FPS)
    assert info["video_duration"] == pytest.approx(0.8, abs=1e-3)
    assert info["has_audio"] and info["audio_sample_rate"] == RATE
    assert info["audio_duration"] == pytest.approx(0.8, abs=0.03)
    assert info["duration"] == pytest.approx(0.8, abs=0.03)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~media._umask()


def test_video_without_audio_and_with_an_ntsc_rate(tmp_path: Path) -> None:
    out = tmp_path / "silent.mp4"
    write_video(out, frames=10, fps=30000 / 1001)
    info = read_video_info(out)
    assert info["fps"] == pytest.approx(29.97, abs=1e-3) and info["frames"] == 10
    assert not info["has_audio"] and info["audio_sample_rate"] is None and info["audio_duration"] is None


def test_provenance_metadata_survives(tmp_path: Path) -> None:
    out = tmp_path / "marked.mp4"
    marks = provenance("talking head", "happy")
    write_video(out, frames=5, metadata=marks)
    metadata = read_video_info(out)["metadata"]
    assert metadata["title"] == marks.tags()["title"]
    assert "SYNTHETIC" in metadata["comment"] and "happy" in metadata["comment"]
    assert metadata["artist"] == marks.tags()["software"]  # MP4 has no 'software' tag


def test_sound_track_decodes_with_the_same_envelope(tmp_path: Path) -> None:
    out = tmp_path / "speech.mp4"
    quiet_loud_quiet = np.concatenate([tone(0.3, amplitude=0.05), tone(0.3, amplitude=0.6),
                                       tone(0.2, amplitude=0.2)])
    write_video(out, frames=25, audio=quiet_loud_quiet, sample_rate=RATE)  # 1 s of video, 0.8 s of sound
    decoded, rate = read_audio(out)
    assert rate == RATE
    expected = window_rms(np.concatenate([quiet_loud_quiet, np.zeros(round(0.2 * RATE), np.float32)]), RATE)
    measured = window_rms(decoded, RATE)[: len(expected)]
    assert len(measured) == len(expected)
    assert np.abs(measured - expected).max() < 0.02  # and so no delay either
    assert measured[-3:].max() < 0.01  # padded with silence to the video's length


def test_a_rate_aac_lacks_is_resampled(tmp_path: Path) -> None:
    out = tmp_path / "odd_rate.mp4"
    write_video(out, frames=10, audio=tone(0.4, rate=22000), sample_rate=22000)
    info = read_video_info(out)
    assert info["audio_sample_rate"] == 48000 and info["audio_duration"] == pytest.approx(0.4, abs=0.03)


def test_an_exception_in_the_block_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="render failed"):
        with VideoWriter(tmp_path / "broken.mp4", SIZE, SIZE, FPS, audio=tone(1.0), sample_rate=RATE) as video:
            for index in range(5):
                video.write(smooth_frame(index))
            raise RuntimeError("render failed")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_render_keeps_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous video")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(out, SIZE, SIZE, FPS) as video:
            video.write(smooth_frame(0))
            raise KeyboardInterrupt
    assert out.read_bytes() == b"previous video" and list(tmp_path.iterdir()) == [out]


def test_no_frames_saves_nothing(tmp_path: Path) -> None:
    with pytest.raises(EmostudioError, match="No frames"):
        with VideoWriter(tmp_path / "empty.mp4", SIZE, SIZE, FPS):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, message", [
    ("no/such/folder/out.mp4", "does not exist"),
    ("out.avi", ".mp4"),
    ("out.gif", ".mp4"),
])
def test_bad_output_paths_are_refused_before_encoding(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(EmostudioError, match=message):
        VideoWriter(tmp_path / name, SIZE, SIZE, FPS)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_refused_before_encoding(tmp_path: Path, monkeypatch) -> None:
    # Patched rather than chmod-ed: root (as in CI containers) may write to read-only folders.
    monkeypatch.setattr(media.os, "access", lambda path, mode: False)
    with pytest.raises(EmostudioError, match="not writable"):
        VideoWriter(tmp_path / "out.mp4", SIZE, SIZE, FPS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("width, height, fps, message", [
    (63, 64, FPS, "odd"),
    (64, 35, FPS, "odd"),
    (0, 64, FPS, "invalid"),
    (64, 64, 0, "Frame rate"),
    (64, 64, float("nan"), "Frame rate"),
])
def test_bad_sizes_and_rates_are_refused(tmp_path: Path, width: int, height: int, fps: float, message: str) -> None:
    with pytest.raises(EmostudioError, match=message):
        VideoWriter(tmp_path / "out.mp4", width, height, fps)


@pytest.mark.parametrize("audio, rate, message", [
    (np.zeros(100, np.float32), None, "sample rate"),
    (np.zeros((100, 2), np.float32), RATE, "mono"),
    (np.full(100, np.nan, np.float32), RATE, "NaN"),
])
def test_bad_sound_tracks_are_refused(tmp_path: Path, audio: np.ndarray, rate: int | None, message: str) -> None:
    with pytest.raises(EmostudioError, match=message):
        VideoWriter(tmp_path / "out.mp4", SIZE, SIZE, FPS, audio=audio, sample_rate=rate)


def test_wrong_frames_are_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    with pytest.raises(EmostudioError, match="uint8 RGB"):
        with VideoWriter(tmp_path / "out.mp4", SIZE, SIZE, FPS) as video:
            video.write(smooth_frame(0))
            video.write(np.zeros((SIZE, SIZE, 3), np.float32))
    with pytest.raises(EmostudioError, match="shape"):
        with VideoWriter(tmp_path / "out.mp4", SIZE, SIZE, FPS) as video:
            video.write(np.zeros((SIZE, SIZE + 2, 3), np.uint8))
    with pytest.raises(EmostudioError, match="outside its with block"):
        VideoWriter(tmp_path / "out.mp4", SIZE, SIZE, FPS).write(smooth_frame(0))
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_or_non_video_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmostudioError, match="does not exist"):
        read_video_info(tmp_path / "missing.mp4")
    with pytest.raises(EmostudioError, match="does not exist"):
        next(read_video_frames(tmp_path / "missing.mp4"))
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    with pytest.raises(EmostudioError, match="Could not read notes.mp4 as a video"):
        read_video_info(notes)


# -- read_audio ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, subtype", [(".wav", "PCM_16"), (".flac", "PCM_24"), (".ogg", "VORBIS")])
def test_reads_soundfile_formats(tmp_path: Path, suffix: str, subtype: str) -> None:
    path = tmp_path / f"speech{suffix}"
    soundfile.write(path, tone(0.5, rate=16000), 16000, subtype=subtype)
    waveform, rate = read_audio(path)
    assert rate == 16000 and waveform.dtype == np.float32 and waveform.ndim == 1
    assert len(waveform) == pytest.approx(8000, abs=10)
    assert np.sqrt(np.mean(waveform ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("name, codec", [("speech.mp3", "libmp3lame"), ("speech.m4a", "aac"),
                                         ("speech.opus", "libopus")])
def test_reads_compressed_audio_with_pyav(tmp_path: Path, name: str, codec: str) -> None:
    rate = 48000 if codec == "libopus" else 44100
    path = encode_audio(tmp_path / name, codec, tone(0.5, rate=rate), rate)
    waveform, read_rate = read_audio(path)
    assert read_rate == rate and waveform.dtype == np.float32 and waveform.ndim == 1
    assert len(waveform) / rate == pytest.approx(0.5, abs=0.06)  # codecs pad to whole frames
    assert np.sqrt(np.mean(waveform[: rate // 2] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert np.abs(waveform).max() <= 1.0


def test_reads_the_sound_track_of_a_video(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    write_video(path, frames=20, audio=tone(0.8), sample_rate=RATE)
    waveform, rate = read_audio(path)
    assert rate == RATE and len(waveform) / rate == pytest.approx(0.8, abs=0.06)


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left = tone(0.5, rate=16000)
    wav = tmp_path / "stereo.wav"
    soundfile.write(wav, np.stack([left, np.zeros_like(left)], axis=1), 16000, subtype="FLOAT")
    waveform, _ = read_audio(wav)
    np.testing.assert_allclose(waveform, left / 2, atol=1e-6)
    m4a = encode_audio(tmp_path / "stereo.m4a", "aac", np.stack([left, np.zeros_like(left)], axis=1), 16000,
                       layout="stereo")
    waveform, _ = read_audio(m4a)
    assert np.sqrt(np.mean(waveform[:8000] ** 2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.1)


def make_bad_audio(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "missing.wav"
    if kind == "folder":
        return tmp_path
    path = tmp_path / "bad.wav"
    if kind == "text":
        path.write_text("This is a text file, not a recording.")
    elif kind == "image":
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, format="PNG")
    elif kind == "empty":
        soundfile.write(path, np.zeros(0, np.float32), 16000)
    elif kind == "silent":
        soundfile.write(path, np.zeros(16000, np.float32), 16000)
    elif kind == "near silent":
        soundfile.write(path, np.full(16000, 5e-5, np.float32), 16000, subtype="FLOAT")
    elif kind == "video without sound":
        path = tmp_path / "mute.mp4"
        write_video(path, frames=3)
    return path


@pytest.mark.parametrize("kind, message", [
    ("missing", "does not exist"),
    ("folder", "is a folder"),
    ("text", "Could not read bad.wav as audio"),
    ("image", "no audio track"),
    ("empty", "no audio samples"),
    ("silent", "silent"),
    ("near silent", "silent"),
    ("video without sound", "no audio track"),
])
def test_bad_audio_is_refused_with_one_sentence(tmp_path: Path, kind: str, message: str) -> None:
    with pytest.raises(EmostudioError, match=message) as caught:
        read_audio(make_bad_audio(tmp_path, kind))
    assert str(caught.value).count("; ") == 1 and str(caught.value).endswith(".")


@pytest.mark.parametrize("name, limit", [("long.wav", 1), ("long.m4a", 1), ("long.m4a", 0.2)])
def test_audio_over_the_limit_is_refused(tmp_path: Path, name: str, limit: float) -> None:
    # For m4a, 1 s is caught while decoding and 0.2 s from the declared duration, before decoding.
    path = tmp_path / name
    if name.endswith(".wav"):
        soundfile.write(path, tone(1.5, rate=16000), 16000)
    else:
        encode_audio(path, "aac", tone(1.5, rate=16000), 16000)
    with pytest.raises(EmostudioError, match=rf"1.5 s long, over the {limit:g} s limit; trim it"):
        read_audio(path, max_seconds=limit)
    assert read_audio(path, max_seconds=2)[0].size > 0
    assert MAX_AUDIO_SECONDS == 300
