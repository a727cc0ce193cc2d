"""`emostudio style`: footage and stills graded with an emotion, sound in sync, LUT export, bad input."""

import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from emostudio.conditioning import EmotionSpec, GradingControls
from emostudio.generation.media import VideoWriter, read_audio, read_video_frames, read_video_info
from emostudio.generation.video.grading import FootageGrader, _run_filters, colour_filters, write_cube
from emostudio.ui.cli import main

W, H, FPS, RATE, SECONDS = 160, 96, 25, 22050, 2.0
CLICK_AT = 1.2


def _scene(index: int) -> np.ndarray:
    """A colourful moving scene: gradients, a grey card and a bar that travels."""
    yy, xx = np.mgrid[0:H, 0:W]
    frame = np.stack([xx * 200 / W + 30, yy * 180 / H + 40, 150 - xx * 60 / W], axis=-1).astype(np.uint8)
    frame[10:40, 10:50] = 128
    frame[:, (index * 4) % W:(index * 4) % W + 8] = (230, 60, 40)
    return frame


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    path = tmp_path_factory.mktemp("footage") / "scene.mp4"
    t = np.arange(int(SECONDS * RATE)) / RATE
    sound = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sound[int(CLICK_AT * RATE):int((CLICK_AT + 0.03) * RATE)] = 0.9
    with VideoWriter(path, W, H, FPS, audio=sound, sample_rate=RATE) as video:
        for index in range(int(SECONDS * FPS)):
            video.write(_scene(index))
    return path


@pytest.fixture(scope="module")
def grader():
    return FootageGrader()


def _lightness_and_chroma(frames: list[np.ndarray]) -> tuple[float, float]:
    pixels = np.concatenate([f.reshape(-1, 3) for f in frames]).astype(np.float64)
    return float(pixels.mean()), float((pixels.max(axis=1) - pixels.min(axis=1)).mean())


def test_happy_is_brighter_and_more_colourful_than_sad(footage, grader, tmp_path):
    results = {}
    for emotion in ("happy", "sad"):
        out = grader.style(footage, tmp_path / f"{emotion}.mp4", emotion, seed=1)
        assert out.frames == int(SECONDS * FPS) and not out.copied
        results[emotion] = _lightness_and_chroma(list(read_video_frames(out.path)))
    original = _lightness_and_chroma(list(read_video_frames(footage)))
    assert results["happy"][0] > original[0] > results["sad"][0]
    assert results["happy"][1] > original[1] > results["sad"][1]


def test_sound_is_kept_in_sync(footage, grader, tmp_path):
    out = grader.style(footage, tmp_path / "fear.mp4", "fearful", seed=2)
    info = read_video_info(out.path)
    assert info["has_audio"] and info["audio_duration"] == pytest.approx(SECONDS, abs=0.06)
    sound, rate = read_audio(out.path)
    body = np.abs(sound[int(0.3 * rate):])  # past the codec's start-up transient
    click = 0.3 + np.argmax(body > 0.6) / rate
    assert click == pytest.approx(CLICK_AT, abs=0.03)


def _sound_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def test_aac_sound_is_copied_not_encoded_again(footage, grader, tmp_path):
    out = grader.style(footage, tmp_path / "sad.mp4", "sad", seed=0)
    source, kept = _sound_packets(footage), _sound_packets(out.path)
    assert len(kept) >= len(source) - 1 and kept == source[:len(kept)]


def test_other_sound_is_encoded_as_aac_in_sync(footage, grader, tmp_path):
    """Footage whose sound MP4 cannot take as it is (here MP3 in Matroska) gets AAC, still in sync."""
    source = tmp_path / "mp3.mkv"
    t = np.arange(int(SECONDS * RATE)) / RATE
    sound = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sound[int(CLICK_AT * RATE):int((CLICK_AT + 0.03) * RATE)] = 0.9
    with av.open(str(footage)) as given, av.open(str(source), "w") as made:
        video = made.add_stream_from_template(given.streams.video[0])
        audio = made.add_stream("libmp3lame", rate=RATE)
        audio.layout = "mono"
        for packet in given.demux(given.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                made.mux(packet)
        for start in range(0, len(sound), 1152):
            frame = av.AudioFrame.from_ndarray(sound[None, start:start + 1152], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            made.mux(audio.encode(frame))
        made.mux(audio.encode(None))
    out = grader.style(source, tmp_path / "from_mp3.mp4", "happy", seed=0)
    with av.open(str(out.path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    heard, rate = read_audio(out.path)
    body = np.abs(heard[int(0.3 * rate):])
    assert 0.3 + np.argmax(body > 0.6) / rate == pytest.approx(CLICK_AT, abs=0.04)


def test_intensity_zero_copies_the_video_untouched(footage, grader, tmp_path):
    out = grader.style(footage, tmp_path / "same.mp4", "angry", intensity=0.0)
    assert out.copied

    def packets(path):
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]

    assert packets(out.path) == packets(footage)
    assert read_video_info(out.path)["has_audio"]


def test_a_timeline_changes_the_look_over_time(footage, grader, tmp_path):
    out = grader.style(footage, tmp_path / "turn.mp4", "[happy] [sad @1s]", seed=0)
    frames = list(read_video_frames(out.path))
    start, end = _lightness_and_chroma(frames[:8]), _lightness_and_chroma(frames[-8:])
    assert start[0] > end[0] + 5
    means = [f.mean() for f in frames]
    assert max(abs(np.diff(means))) < 0.5 * (start[0] - end[0])  # a ramp, not a cut


def test_a_still_becomes_a_moving_clip(grader, tmp_path):
    from PIL import Image

    still = tmp_path / "still.png"
    Image.fromarray(_scene(3)).save(still)
    out = grader.style(still, tmp_path / "still.mp4", "surprised", duration=2.0, size=64, seed=4)
    info = read_video_info(out.path)
    assert (info["width"], info["height"]) == (106, 64)
    assert info["duration"] == pytest.approx(2.0, abs=0.1) and not info["has_audio"]
    frames = list(read_video_frames(out.path))
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0  # the camera moved


def test_exported_lut_loads_in_ffmpeg_and_matches_the_grade(tmp_path):
    controls = GradingControls(exposure_ev=0.3, contrast=0.05, saturation_log2=0.4, warmth=0.6, tint=-0.2,
                               shadows=0.03, highlights=-0.02)
    cube = write_cube(tmp_path / "look.cube", controls)
    image = _scene(5)
    graph = av.filter.Graph()
    source = graph.add_buffer(width=W, height=H, format="rgb24", time_base=Fraction(1, 25))
    lut = graph.add("lut3d", f"file={cube}:interp=tetrahedral")
    fmt = graph.add("format", "rgb24")
    sink = graph.add("buffersink")
    source.link_to(lut)
    lut.link_to(fmt)
    fmt.link_to(sink)
    graph.configure()
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts = 0
    graph.vpush(frame)
    through_lut = graph.vpull().to_ndarray(format="rgb24").astype(int)
    direct = _run_filters(image, colour_filters(controls)).astype(int)
    assert np.abs(through_lut - image.astype(int)).mean() > 10  # the look does something
    assert np.abs(through_lut - direct).mean() < 2.5


def test_cli_styles_a_clip_and_writes_the_lut(footage, tmp_path, capsys):
    out, cube = tmp_path / "cli.mp4", tmp_path / "cli.cube"
    assert main(["style", str(footage), "-e", "angry", "--seed", "1", "-o", str(out), "--export-lut",
                 str(cube)]) == 0
    assert out.is_file() and cube.read_text().startswith('TITLE "emostudio angry')
    assert "Wrote" in capsys.readouterr().out


def _bad_inputs(tmp_path, footage):
    audio_only = tmp_path / "tone.wav"
    import soundfile

    soundfile.write(audio_only, np.full(8000, 0.1), 16000)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(footage.read_bytes()[:4000])
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    picture = tmp_path / "fake.jpg"
    picture.write_text("not an image")
    return {
        "missing": ([str(tmp_path / "nope.mp4")], "does not exist"),
        "fake video": ([str(fake)], "as a video"),
        "truncated video": ([str(truncated)], "as a video"),
        "audio only": ([str(audio_only)], "no video track"),
        "undecodable image": ([str(picture)], "image"),
        "unknown emotion": ([str(footage), "-e", "blorp"], "blorp"),
        "size out of range": ([str(footage), "--size", "7"], "Size 7"),
        "duration out of range": ([str(picture).replace("fake.jpg", "x.png"), "--duration", "500"], None),
        "unwritable output": ([str(footage), "-o", str(tmp_path / "no" / "out.mp4")], "does not exist"),
    }


@pytest.mark.parametrize("case", ["missing", "fake video", "truncated video", "audio only", "undecodable image",
                                  "unknown emotion", "size out of range", "unwritable output"])
def test_bad_input_is_one_sentence_exit_2_and_no_file(case, footage, tmp_path):
    arguments, words = _bad_inputs(tmp_path, footage)[case]
    out = tmp_path / "out.mp4"
    if "-o" not in arguments:
        arguments = [*arguments, "-o", str(out)]
    run = subprocess.run([sys.executable, "-m", "emostudio", "style", *arguments], capture_output=True, text=True)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], run.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_a_still_with_a_duration_out_of_range_is_refused(grader, tmp_path):
    from PIL import Image

    from emostudio.errors import EmostudioError

    still = tmp_path / "s.png"
    Image.fromarray(_scene(0)).save(still)
    with pytest.raises(EmostudioError, match="Duration"):
        grader.style(still, tmp_path / "o.mp4", EmotionSpec.parse("sad"), duration=500)
    assert not (tmp_path / "o.mp4").exists()


def test_talk_with_style_grades_the_talking_head_with_the_same_emotions(tmp_path):
    from emostudio.ui.studio import Studio

    plain = Studio(work_dir=tmp_path / "w").talk(text="[happy] Good news. [sad] Bad news.", size=128, seed=1,
                                                  output=tmp_path / "plain.mp4")
    styled = Studio(work_dir=tmp_path / "w2").talk(text="[happy] Good news. [sad] Bad news.", size=128, seed=1,
                                                    output=tmp_path / "styled.mp4", style=True)
    assert styled.video_path == tmp_path / "styled.mp4" and read_video_info(styled.video_path)["has_audio"]
    assert not list((tmp_path / "w2").glob("face-*.mp4"))  # the ungraded render is cleaned up
    before, after = list(read_video_frames(plain.video_path)), list(read_video_frames(styled.video_path))
    assert len(before) == len(after)
    # Warmer (red over blue) while happy, cooler while sad, than the same clip ungraded.
    warmth = [float(np.mean(f[..., 0].astype(int) - f[..., 2].astype(int))) for f in (before[5], after[5],
                                                                                       before[-5], after[-5])]
    assert warmth[1] > warmth[0] and warmth[3] < warmth[2]
