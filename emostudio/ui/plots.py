"""Figures people would rather look at than read: emotion over time, prototypes, pitch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..conditioning import CATEGORIES

CATEGORY_COLORS = {
    "neutral": "#9e9e9e", "happy": "#f4b400", "sad": "#4285f4", "angry": "#db4437",
    "fearful": "#8e44ad", "disgusted": "#0f9d58", "surprised": "#ff7f0e", "contempt": "#795548",
}


def emotion_over_time_figure(rows: list[tuple[float, ...]], title: str = ""):
    """Stacked category shares per time step, with the intensity (and the confidence) as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    starts = np.array([row[0] for row in rows])
    ends = np.array([row[1] for row in rows])
    weights = np.array([row[2] for row in rows])
    intensity = np.array([row[3] for row in rows])
    figure, axis = plt.subplots(figsize=(9, 3.2))
    bottom = np.zeros(len(rows))
    for index, name in enumerate(CATEGORIES):
        axis.bar(starts, weights[:, index], width=ends - starts, bottom=bottom, align="edge",
                 color=CATEGORY_COLORS[name], label=name, edgecolor="white", linewidth=0.5)
        bottom += weights[:, index]
    axis.plot((starts + ends) / 2, intensity, color="black", marker="o", label="intensity")
    if rows and len(rows[0]) > 4:
        confidence = np.array([row[4] for row in rows])
        axis.plot((starts + ends) / 2, confidence, color="black", linestyle="--", marker=".", label="confidence")
    axis.set_xlabel("seconds")
    axis.set_ylabel("share / intensity")
    axis.set_ylim(0, 1.05)
    axis.set_title(title or "emotion over time")
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    figure.tight_layout()
    return figure


def save_emotion_over_time(rows, path: str | os.PathLike, title: str = "") -> Path:
    import matplotlib.pyplot as plt

    from ..generation.media import atomic_output, check_output_path

    target = check_output_path(path, (".png",))
    figure = emotion_over_time_figure(rows, title)
    with atomic_output(target) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
    return target


def learned_bank_figure(bank, title: str = "Learned Emotion Bank"):
    """Prototypes (means, with one-standard-deviation circles) and codebook entries of a bank.

    The bank's space is projected onto its first two principal components of the prototypes and
    codes; each code is coloured by the prototype it lies nearest to, so the figure shows which
    emotions share codes.
    """
    import torch
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    with torch.no_grad():
        means = bank.prototype_mean.double()
        codes = bank.codebook.double()
        spread = torch.exp(0.5 * bank.prototype_logvar.double()).mean(dim=1).numpy()
    points = torch.cat([means, codes])
    centre = points.mean(0)
    _, _, components = torch.linalg.svd(points - centre, full_matrices=False)
    basis = components[:2].T
    mean_xy = ((means - centre) @ basis).numpy()
    code_xy = ((codes - centre) @ basis).numpy()
    nearest = torch.cdist(codes, means).argmin(1).numpy()
    figure = Figure(figsize=(5.6, 5.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for index, name in enumerate(bank.categories):
        color = CATEGORY_COLORS.get(name, "#333333")
        axes.add_patch(Circle(mean_xy[index], spread[index], facecolor=color, alpha=0.15, edgecolor=color))
        owned = nearest == index
        axes.scatter(code_xy[owned, 0], code_xy[owned, 1], marker="x", color=color, s=25)
        axes.plot(*mean_xy[index], "o", color=color, markersize=9)
        axes.annotate(name, mean_xy[index], xytext=(6, 6), textcoords="offset points", color=color,
                      fontweight="bold")
    axes.set_title(f"{title}\n(o prototypes, x codebook entries; first two principal components)", fontsize=10)
    axes.set_aspect("equal", adjustable="datalim")
    axes.grid(alpha=0.3)
    return figure
