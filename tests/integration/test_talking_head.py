"""The embedded talking head: rig geometry, lip-sync timing, real rendering and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from emostudio.conditioning import EmotionSpec
from emostudio.conditioning.heads import ACTION_UNITS
from emostudio.errors import EmostudioError
from emostudio.generation.face import topology as T
from emostudio.generation.face.lipsync import MOUTH, mouth_from_audio, mouth_from_phonemes
from emostudio.generation.face.perception import analyze_portrait
from emostudio.generation.face.rig import CONTROLS, FaceRig
from emostudio.generation.face.talking_head import DrivingSpeech, WarpTalkingHead, talk
from emostudio.generation.media import read_video_frames, read_video_info
from emostudio.generation.speech import PiperSpeechBackend, SegmentTiming, Timing

SIZE = 192


@pytest.fixture(scope="module")
def face():
    return analyze_portrait(None, SIZE)


@pytest.fixture(scope="module")
def rig(face):
    return FaceRig(face.landmarks)


@pytest.fixture(scope="module")
def speech_backend():
    return PiperSpeechBackend()


def face_units(rig: FaceRig, name: str, index: int) -> np.ndarray:
    """Displacement of one landmark under one control at full strength, in face units."""
    pixels = rig.displacement(rig.weights(**{name: 1.0}))[index]
    return pixels @ rig.frame.rotation / rig.frame.scale


# -- rig geometry -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU12", "AU15", "AU20", "BLINK"])
def test_symmetric_units_mirror_left_and_right(rig, name):
    pairs = [(T.RIGHT_LIP_CORNER, T.LEFT_LIP_CORNER)] + list(zip(T.RIGHT_BROW, T.LEFT_BROW)) + \
        list(zip(T.RIGHT_UPPER_LID, T.LEFT_UPPER_LID)) + list(zip(T.RIGHT_LOWER_LID, T.LEFT_LOWER_LID))
    for right, left in pairs:
        a, b = face_units(rig, name, right), face_units(rig, name, left)
        scale = max(np.abs(a).max(), np.abs(b).max(), 1e-3)
        assert abs(a[0] + b[0]) < 0.35 * scale + 0.01, f"{name}: x of {right}/{left} not mirrored"
        assert abs(a[1] - b[1]) < 0.35 * scale + 0.01, f"{name}: y of {right}/{left} differ"


def test_contempt_is_one_sided(rig):
    right = np.linalg.norm(face_units(rig, "AU14R", T.RIGHT_LIP_CORNER))
    left = np.linalg.norm(face_units(rig, "AU14R", T.LEFT_LIP_CORNER))
    assert right > 0.05 and left < right / 5


def test_fields_follow_the_face_size_and_tilt(face):
    base = FaceRig(face.landmarks)
    scaled = face.landmarks.copy()
    scaled[:, :2] = scaled[:, :2] * 2 + 7
    bigger = FaceRig(scaled)
    np.testing.assert_allclose(bigger.fields, base.fields * 2, atol=1e-3)
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = face.landmarks.copy()
    tilted[:, :2] = face.landmarks[:, :2] @ rotation.T
    turned = FaceRig(tilted)
    np.testing.assert_allclose(turned.fields, base.fields @ rotation.T, atol=1e-3)


def test_jaw_moves_the_lower_lip_not_the_upper(rig):
    lower = face_units(rig, "JAW", T.LOWER_LIP_INNER[5])
    upper = face_units(rig, "JAW", T.UPPER_LIP_INNER[5])
    chin = face_units(rig, "JAW", T.CHIN)
    assert lower[1] > 0.2 and chin[1] > 0.2
    assert np.linalg.norm(upper) < 0.02


def test_blink_closes_the_eyes(rig):
    closed = rig.deform(rig.weights(BLINK=1.0))
    for upper, lower in ((T.RIGHT_UPPER_LID, T.RIGHT_LOWER_LID), (T.LEFT_UPPER_LID, T.LEFT_LOWER_LID)):
        open_gap = rig.landmarks[lower[4], 1] - rig.landmarks[upper[4], 1]
        closed_gap = closed[lower[4], 1] - closed[upper[4], 1]
        assert open_gap > 2 and abs(closed_gap) < 0.2 * open_gap


@pytest.mark.parametrize("units, landmark, direction", [
    ({"AU12": 1}, T.RIGHT_LIP_CORNER, (-1, -1)),   # smile: corner out (image left) and up
    ({"AU12": 1}, T.LEFT_LIP_CORNER, (1, -1)),
    ({"AU15": 1}, T.LEFT_LIP_CORNER, (0, 1)),      # corners down
    ({"AU1": 1}, T.RIGHT_BROW[0], (0, -1)),        # inner brow up
    ({"AU4": 1}, T.RIGHT_BROW[0], (1, 1)),         # brow down and toward the midline
    ({"AU5": 1}, T.RIGHT_UPPER_LID[4], (0, -1)),   # upper lid up
    ({"AU26": 1}, T.CHIN, (0, 1)),                 # jaw down
    ({"AU9": 1}, T.RIGHT_NOSE_WING[0], (0, -1)),   # nose wrinkle lifts the nose wing
])
def test_action_units_move_landmarks_as_facs_describes(rig, units, landmark, direction):
    name = next(iter(units))
    moved = face_units(rig, name, landmark)
    for axis, sign in enumerate(direction):
        if sign:
            assert moved[axis] * sign > 0.02, f"{name} moved {landmark} by {moved}"


def test_every_control_has_a_field(rig):
    assert rig.fields.shape == (len(CONTROLS), 478, 2)
    assert set(ACTION_UNITS) <= set(CONTROLS)
    for index, name in enumerate(CONTROLS):
        assert np.abs(rig.fields[index]).max() > 0.5, f"{name} moves nothing"


# -- lip sync ---------------------------------------------------------------------------------

def test_lip_sync_follows_known_phoneme_timings():
    phonemes = [Timing("m", 0.10, 0.20), Timing("ɑ", 0.20, 0.45), Timing("p", 0.45, 0.55), Timing("ɑ", 0.55, 0.80),
                Timing("f", 1.20, 1.30), Timing("u", 1.30, 1.55)]
    times = np.arange(0, 1.8, 0.01)
    mouth = mouth_from_phonemes(phonemes, times)
    jaw, round_, press, lip_up = (mouth[:, MOUTH.index(n)] for n in ("JAW", "ROUND", "PRESS", "LIP_UP"))
    at = lambda t: int(round(t / 0.01))  # noqa: E731
    assert press[at(0.15)] > 0.6 and press[at(0.50)] > 0.6, "lips close for m and p"
    assert jaw[at(0.33)] > 0.5 and jaw[at(0.67)] > 0.5, "jaw opens for the vowels"
    assert jaw[at(0.50)] < 0.3 * jaw[at(0.33)], "jaw closes again for p"
    assert lip_up[at(1.25)] > 0.5 and round_[at(1.45)] > 0.5
    assert jaw[at(1.0)] < 0.1, "mouth rests in the pause"
    # Coarticulation: the shape changes smoothly, never in one step.
    assert np.abs(np.diff(jaw)).max() < 0.25
    # Peak opening of each vowel falls inside that vowel.
    assert 0.20 <= times[np.argmax(jaw[: at(0.45)])] <= 0.45


def test_lip_sync_from_real_synthesised_speech(speech_backend):
    result = speech_backend.speak("Bob bought a map.", "neutral", seed=0)
    times = np.arange(0, result.duration, 0.01)
    mouth = mouth_from_phonemes(result.phonemes, times)
    press = mouth[:, MOUTH.index("PRESS")]
    bilabials = [p for p in result.phonemes if p.label in ("b", "p", "m")]
    assert len(bilabials) >= 4
    for phoneme in bilabials:
        middle = int(round((phoneme.start + phoneme.end) / 2 / 0.01))
        assert press[max(middle - 2, 0): middle + 3].max() > 0.5, f"lips do not close for {phoneme}"


def test_lip_sync_from_a_recording_opens_with_loudness():
    rate = 16000
    t = np.arange(int(1.5 * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * ((t > 0.5) & (t < 1.0))
    times = np.arange(0, 1.5, 0.04)
    mouth = mouth_from_audio(tone, rate, times)
    jaw = mouth[:, MOUTH.index("JAW")]
    assert jaw[(times > 0.6) & (times < 0.9)].min() > 0.5
    assert jaw[(times < 0.35) | (times > 1.2)].max() < 0.1


# -- animation and rendering ------------------------------------------------------------------

def driving(spec: EmotionSpec, seconds: float = 1.0) -> DrivingSpeech:
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    audio = (0.2 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    return DrivingSpeech(audio, rate, [SegmentTiming("", spec, 0.0, seconds)])


def test_intensity_zero_gives_a_neutral_talking_face():
    backend = WarpTalkingHead()
    neutral = backend.animate(driving(EmotionSpec.neutral()), 25, seed=1)
    zero = backend.animate(driving(EmotionSpec.parse("angry").with_intensity(0.0)), 25, seed=1)
    np.testing.assert_allclose(zero.controls, neutral.controls)
    units = [CONTROLS.index(au) for au in ACTION_UNITS if au != "AU5"]
    assert np.abs(neutral.controls[:, units]).max() == 0.0
    assert neutral.controls[:, CONTROLS.index("JAW")].max() > 0.3, "still talking"


def test_the_shipped_expressions_animate_as_the_untrained_expression_head():
    """The default, torch-free path and an explicit untrained bank and head give the same performance."""
    from emostudio.conditioning import EmotionBank, ExpressionHead

    speech = driving(EmotionSpec.parse("happy:0.6+surprised:0.4").with_intensity(0.8))
    default = WarpTalkingHead().animate(speech, 25, seed=2)
    learned = WarpTalkingHead(EmotionBank(), ExpressionHead()).animate(speech, 25, seed=2)
    np.testing.assert_allclose(default.controls, learned.controls, atol=1e-5)
    np.testing.assert_allclose(default.motion.yaw, learned.motion.yaw, atol=1e-5)
    assert default.controls[:, CONTROLS.index("AU12")].max() > 0.2


def test_same_seed_same_frames_and_emotion_changes_frames(face):
    backend = WarpTalkingHead()
    speech = driving(EmotionSpec.parse("happy"), 0.4)
    first = list(backend.frames(face, speech, 25, seed=3))
    second = list(backend.frames(face, speech, 25, seed=3))
    assert len(first) == 10 and first[0].shape == (SIZE, SIZE, 3)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    sad = list(backend.frames(face, driving(EmotionSpec.parse("sad"), 0.4), 25, seed=3))
    assert np.abs(sad[5].astype(int) - first[5].astype(int)).mean() > 1.0


def test_background_stays_still(face):
    backend = WarpTalkingHead()
    frames = list(backend.frames(face, driving(EmotionSpec.parse("surprised"), 0.4), 25, seed=0))
    corner = (slice(0, SIZE // 8), slice(0, SIZE // 8))
    for frame in frames:
        assert np.abs(frame[corner].astype(int) - face.image[corner].astype(int)).mean() < 1.0


def test_talk_writes_a_marked_mp4_with_sound(tmp_path, speech_backend):
    out = tmp_path / "talk.mp4"
    result = talk(out, text="[happy] Hello there! [sad] Goodbye.", size=SIZE, fps=20, seed=0,
                  speech_backend=speech_backend)
    info = read_video_info(out)
    assert (info["width"], info["height"]) == (SIZE, SIZE)
    assert info["frames"] == result.frames and info["has_audio"]
    assert abs(info["duration"] - result.duration) < 0.1
    assert "SYNTHETIC" in info["metadata"]["comment"] and "happy" in info["metadata"]["comment"]
    assert [s.spec.dominant() for s in result.segments] == ["happy", "sad"]
    frames = list(read_video_frames(out))
    assert len(frames) == result.frames


def test_talk_lip_syncs_a_recording(tmp_path):
    rate = 22050
    t = np.arange(rate) / rate
    soundfile.write(tmp_path / "voice.wav", 0.3 * np.sin(2 * np.pi * 140 * t) * (t > 0.3), rate)
    result = talk(tmp_path / "out.mp4", audio=tmp_path / "voice.wav", emotion="happy", size=SIZE, fps=10)
    assert result.frames == 10 and (tmp_path / "out.mp4").exists()


# -- bad input --------------------------------------------------------------------------------

def test_failed_render_leaves_no_mp4(tmp_path, face):
    class Failing(WarpTalkingHead):
        def frames(self, face, speech, fps, seed=None):
            yield from list(super().frames(face, speech, fps, seed))[:3]
            raise EmostudioError("The renderer stopped; try again.")

    rate = 16000
    soundfile.write(tmp_path / "voice.wav", 0.3 * np.sin(np.arange(rate) / 10), rate)
    with pytest.raises(EmostudioError, match="stopped"):
        talk(tmp_path / "out.mp4", audio=tmp_path / "voice.wav", size=SIZE, head_backend=Failing())
    assert list(tmp_path.iterdir()) == [tmp_path / "voice.wav"]


@pytest.mark.parametrize("make, message", [
    (lambda d: soundfile.write(d / "a.wav", np.zeros(16000), 16000), "silent"),
    (lambda d: soundfile.write(d / "a.wav", np.zeros(0), 16000), "no audio samples"),
    (lambda d: (d / "a.wav").write_text("not audio"), "read"),
])
def test_bad_audio(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(EmostudioError, match=message):
        talk(tmp_path / "out.mp4", audio=tmp_path / "a.wav", size=SIZE)
    assert not (tmp_path / "out.mp4").exists()


def test_bad_requests(tmp_path):
    with pytest.raises(EmostudioError, match="either text"):
        talk(tmp_path / "out.mp4", size=SIZE)
    with pytest.raises(EmostudioError, match=".mp4"):
        talk(tmp_path / "out.avi", text="Hello", size=SIZE)
    with pytest.raises(EmostudioError, match="frame rate"):
        talk(tmp_path / "out.mp4", text="Hello", fps=500, size=SIZE)
    with pytest.raises(EmostudioError, match="size"):
        talk(tmp_path / "out.mp4", text="Hello", size=101)
