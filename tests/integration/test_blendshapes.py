"""The talking head's animation exported as ARKit blendshapes for 3D characters."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile

from emostudio.conditioning import EmotionSpec
from emostudio.errors import EmostudioError
from emostudio.generation.face.blendshapes import ARKIT_BLENDSHAPES, CONTROL_BLENDSHAPES, blendshape_weights
from emostudio.generation.face.rig import CONTROLS
from emostudio.generation.face.talking_head import DrivingSpeech, WarpTalkingHead, talk
from emostudio.generation.provenance import read_credentials
from emostudio.generation.speech import SegmentTiming


def driving(emotion: str, seconds: float = 3.0) -> DrivingSpeech:
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    audio = (0.2 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    return DrivingSpeech(audio, rate, [SegmentTiming("", EmotionSpec.parse(emotion), 0.0, seconds)])


def weights_of(emotion: str, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    animation = WarpTalkingHead().animate(driving(emotion), 25, seed=seed)
    return blendshape_weights(animation.controls, animation.motion.gaze), animation.motion.blink


def column(weights: np.ndarray, name: str) -> np.ndarray:
    return weights[:, ARKIT_BLENDSHAPES.index(name)]


def test_there_are_the_52_arkit_blendshapes_and_every_mapping_names_one():
    assert len(ARKIT_BLENDSHAPES) == 52 == len(set(ARKIT_BLENDSHAPES))
    for control, shapes in CONTROL_BLENDSHAPES.items():
        assert control in CONTROLS
        assert set(shapes) <= set(ARKIT_BLENDSHAPES), control


def test_a_happy_timeline_raises_both_smiles():
    happy, _ = weights_of("happy")
    neutral, _ = weights_of("neutral")
    for side in ("mouthSmileLeft", "mouthSmileRight"):
        assert column(happy, side)[25:].mean() > 0.4
        assert column(neutral, side).max() == 0.0
    assert column(happy, "mouthFrownLeft").max() == 0.0


def test_a_blink_closes_both_eyes():
    weights, blink = weights_of("neutral", seed=0)
    assert blink.max() > 0.99, "the clip has a blink"
    closed = blink > 0.99
    for side in ("eyeBlinkLeft", "eyeBlinkRight"):
        assert column(weights, side)[closed].min() > 0.95
        assert column(weights, side)[blink == 0].max() == 0.0


def test_sad_and_surprised_move_what_they_should():
    sad, _ = weights_of("sad")
    surprised, _ = weights_of("surprised")
    assert column(sad, "mouthFrownLeft")[25:].mean() > 0.2 and column(sad, "browInnerUp")[25:].mean() > 0.2
    assert column(surprised, "eyeWideLeft")[25:].max() > 0.3 and column(surprised, "jawOpen")[25:].min() > 0.2


@pytest.fixture
def recording(tmp_path):
    rate = 22050
    t = np.arange(rate) / rate
    soundfile.write(tmp_path / "voice.wav", 0.3 * np.sin(2 * np.pi * 140 * t) * (t > 0.3), rate)
    return tmp_path / "voice.wav"


def test_talk_writes_only_the_animation_and_its_sound_without_video(tmp_path, recording):
    result = talk(None, audio=recording, emotion="happy", fps=10, blendshapes=tmp_path / "anim.json", video=False)
    assert result.path is None and result.animation == tmp_path / "anim.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anim.json", "anim.wav", "voice.wav"]
    record = json.loads((tmp_path / "anim.json").read_text())
    assert record["fps"] == 10 and record["frames"] == result.frames == 10
    assert record["blendshapes"] == list(ARKIT_BLENDSHAPES) and record["audio"] == "anim.wav"
    assert len(record["weights"]) == 10 and all(len(row) == 52 for row in record["weights"])
    assert len(record["pose"]) == 10 and all(len(row) == 3 for row in record["pose"])
    assert read_credentials(tmp_path / "anim.wav").valid


def test_talk_writes_video_and_csv_animation_of_the_same_performance(tmp_path, recording):
    result = talk(tmp_path / "out.mp4", audio=recording, emotion="sad", size=192, fps=10,
                  blendshapes=tmp_path / "anim.csv")
    assert (tmp_path / "out.mp4").exists() and result.animation == tmp_path / "anim.csv"
    with open(tmp_path / "anim.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["time", "eyeBlinkLeft"] and rows[0][-3:] == ["headYaw", "headPitch", "headRoll"]
    assert len(rows) == 1 + result.frames
    frown = rows[0].index("mouthFrownLeft")
    assert max(float(row[frown]) for row in rows[1:]) > 0.2


def test_bad_animation_requests(tmp_path, recording):
    with pytest.raises(EmostudioError, match="nothing to write"):
        talk(None, audio=recording, video=False)
    with pytest.raises(EmostudioError, match=r"\.json or \.csv"):
        talk(None, audio=recording, blendshapes=tmp_path / "anim.txt", video=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voice.wav"]
