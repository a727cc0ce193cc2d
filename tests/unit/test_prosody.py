"""The signal-level prosody transform's own filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from emostudio.generation.speech.prosody import low_pass


@pytest.mark.parametrize("sample_rate", [16000, 22050, 44100])
@pytest.mark.parametrize("length", [1, 777, 96_001])
def test_low_pass_is_scipys_first_order_butterworth(sample_rate: int, length: int) -> None:
    audio = np.random.default_rng(length).normal(size=length)
    expected = sosfilt(butter(1, 1000.0, btype="low", fs=sample_rate, output="sos"), audio)
    np.testing.assert_allclose(low_pass(audio, 1000.0, sample_rate), expected, atol=1e-9)


def test_low_pass_keeps_the_bass_and_cuts_the_treble() -> None:
    rate = 22050
    t = np.arange(rate) / rate
    bass, treble = np.sin(2 * np.pi * 100 * t), np.sin(2 * np.pi * 8000 * t)
    assert np.std(low_pass(bass, 1000.0, rate)[2000:]) > 0.95 * np.std(bass)
    assert np.std(low_pass(treble, 1000.0, rate)[2000:]) < 0.2 * np.std(treble)
