"""The numpy Gaussian smoothing of face curves is scipy's gaussian_filter1d, edges included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from emostudio.generation.face.smoothing import gaussian_smooth


@pytest.mark.parametrize("mode", ["reflect", "wrap"])
@pytest.mark.parametrize("length", [1, 3, 40, 300])
@pytest.mark.parametrize("sigma", [0.5, 2.7, 20.0])
def test_matches_scipy(mode: str, length: int, sigma: float) -> None:
    rng = np.random.default_rng(length)
    for values, axis in ((rng.standard_normal(length), 0), (rng.standard_normal((length, 5)), 0),
                         (rng.standard_normal((4, length)).astype(np.float32), 1)):
        expected = gaussian_filter1d(values, sigma, axis=axis, mode=mode)
        smoothed = gaussian_smooth(values, sigma, axis=axis, mode=mode)
        assert smoothed.dtype == expected.dtype and smoothed.shape == expected.shape
        np.testing.assert_allclose(smoothed, expected, rtol=0, atol=1e-12 if values.dtype == np.float64 else 1e-6)


def test_keeps_a_constant_and_spreads_an_impulse() -> None:
    assert np.allclose(gaussian_smooth(np.full(30, 2.5), 3.0), 2.5)
    impulse = np.zeros(61)
    impulse[30] = 1.0
    smoothed = gaussian_smooth(impulse, 4.0)
    assert smoothed.argmax() == 30 and np.isclose(smoothed.sum(), 1.0) and smoothed[30] < 0.2
