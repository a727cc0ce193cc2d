"""Gaussian smoothing of per-frame curves, in numpy.

The same filter as ``scipy.ndimage.gaussian_filter1d`` (kernel truncated at 4 sigma, ``reflect``
or ``wrap`` edges): importing scipy.ndimage costs about half a second, more than smoothing every
curve of a clip.
"""

from __future__ import annotations

import numpy as np

_PAD_MODES = {"reflect": "symmetric", "wrap": "wrap"}  # scipy's edge modes, as np.pad names them


def gaussian_smooth(values: np.ndarray, sigma: float, axis: int = 0, mode: str = "reflect") -> np.ndarray:
    """``values`` convolved along ``axis`` with a Gaussian of ``sigma`` samples."""
    values = np.asarray(values)
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / sigma**2 * offsets**2)
    weights /= weights.sum()
    along = np.moveaxis(values, axis, 0).astype(np.float64)
    padded = np.pad(along, [(radius, radius)] + [(0, 0)] * (along.ndim - 1), mode=_PAD_MODES[mode])
    smoothed = np.zeros_like(along)
    for shift, weight in enumerate(weights):
        smoothed += weight * padded[shift: shift + len(along)]
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
    return np.moveaxis(smoothed, 0, axis).astype(dtype, copy=False)
