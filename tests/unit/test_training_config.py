"""Training configs: values of the wrong kind are refused with one sentence naming the key."""

from __future__ import annotations

import pytest

from emostudio.errors import EmostudioError
from emostudio.train.common import load_config
from emostudio.train.talking_head import TalkingHeadConfig


def _config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(TalkingHeadConfig, path)


def test_switches_take_yaml_booleans_only(tmp_path):
    assert _config(tmp_path, "train_emotion_bank: false\n").train_emotion_bank is False
    assert _config(tmp_path, "train_emotion_bank: true\n").train_emotion_bank is True
    for wrong in ("maybe", "'no'", "1"):
        with pytest.raises(EmostudioError, match="train_emotion_bank.*true or false"):
            _config(tmp_path, f"train_emotion_bank: {wrong}\n")


def test_numbers_are_converted_and_words_refused(tmp_path):
    assert _config(tmp_path, "resolution: 64.0\n").resolution == 64
    with pytest.raises(EmostudioError, match="'resolution' should be int"):
        _config(tmp_path, "resolution: many\n")


def test_talking_head_refuses_a_probe_grid_below_one(tmp_path):
    from emostudio.train.talking_head import check_config

    check_config(_config(tmp_path, "probe_grid: 1\n"))
    with pytest.raises(EmostudioError, match="probe_grid must be 1 .* not 0"):
        check_config(_config(tmp_path, "probe_grid: 0\n"))
