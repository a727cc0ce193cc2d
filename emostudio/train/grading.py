"""Fit the GradingHead's colour to a user's own graded footage.

    emostudio train grading --config CONFIG.yaml --manifest looks.jsonl --output-dir runs/my-look
    accelerate launch -m emostudio.train.grading --config CONFIG.yaml

The manifest is the usual one (one clip per line with ``video``, ``emotion``, ``intensity``,
``identity``, ``split``). Clips of one scene share an ``identity``; the scene's ``neutral`` clip is
its ungraded reference, so a scene graded into several emotions gives clip pairs. Scenes without a
neutral clip are compared with the average of all neutral clips.

What is fitted: the colour controls (exposure, contrast, saturation, warmth, tint, shadows,
highlights). For each emotion in the data, the controls that best reproduce the user's grades are
found with the real renderer in the loop: frames of the references are graded through the same
FFmpeg filters, and a derivative-free search (Powell's method: the filters are clipped and piecewise, so
no derivatives) matches colour statistics of the result (CIE L* mean, spread and percentiles, a* and b* means and
spreads, Hasler & Suesstrunk colourfulness) to those of the graded clips. The head is then trained,
with accelerate, to give those controls, with a ridge pull towards the published defaults so that
emotions missing from the data keep their defaults. Texture and camera motion keep their defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from ..conditioning import EmotionBank, EmotionSpec
from ..conditioning.heads import DEFAULT_GRADING_TABLE, GRADING_CONTROLS, GradingControls, GradingHead
from ..errors import EmostudioError
from ..generation.media import read_video_frames
from ..generation.video.grading import _run_filters, colour_filters
from .common import TrainingConfig, load_config, make_accelerator, resume, save_checkpoint
from .data.manifest import Clip, check_splits, read_manifest

COLOUR_CONTROLS = GRADING_CONTROLS[:7]
STATISTICS = ("lightness", "lightness_spread", "shadow_level", "highlight_level", "green_magenta", "blue_yellow",
              "a_spread", "b_spread", "colourfulness")
_NUDGE = 0.15


@dataclasses.dataclass
class GradingConfig(TrainingConfig):
    epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 0.02
    checkpointing_steps: int = 100
    frames_per_clip: int = 4
    ridge: float = 0.2  # pull of the table towards the published defaults
    analysis_height: int = 64  # frames are measured at this height (colour statistics need few pixels)
    search_evaluations: int = 300  # renders per emotion in the search for the user's look


def colour_statistics(frames: list[np.ndarray]) -> np.ndarray:
    """CIE L* mean, spread and 5th/95th percentiles; a* and b* means and spreads; Hasler & Suesstrunk
    (2003) colourfulness. At least as many statistics as colour controls, so a look is identifiable."""
    from skimage.color import rgb2lab

    pixels = np.concatenate([frame.reshape(-1, 3) for frame in frames]).astype(np.float64)
    lab = rgb2lab(pixels[None] / 255.0)[0]
    rg = pixels[:, 0] - pixels[:, 1]
    yb = 0.5 * (pixels[:, 0] + pixels[:, 1]) - pixels[:, 2]
    colourfulness = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    low, high = np.percentile(lab[:, 0], [5, 95])
    return np.array([lab[:, 0].mean(), lab[:, 0].std(), low, high, lab[:, 1].mean(), lab[:, 2].mean(), lab[:, 1].std(),
                     lab[:, 2].std(), colourfulness])


def sample_frames(path: str | Path, count: int, height: int) -> list[np.ndarray]:
    """``count`` frames spread over a clip, resized to ``height`` rows."""
    import cv2

    frames = list(read_video_frames(path))
    if not frames:
        raise EmostudioError(f"{path} has no frames; remove it from the manifest.")
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return [cv2.resize(frames[i], (max(2, round(frames[i].shape[1] * height / frames[i].shape[0])), height),
                       interpolation=cv2.INTER_AREA) for i in picks]


def _graded_statistics(frames: list[np.ndarray], colour: np.ndarray) -> np.ndarray:
    controls = GradingControls(*colour)
    return colour_statistics([_run_filters(frame, colour_filters(controls)) for frame in frames])


def solve_look(scenes: list[tuple[list[np.ndarray], float, np.ndarray]], start: np.ndarray, scale: np.ndarray,
               evaluations: int = 400) -> np.ndarray:
    """Colour controls (at intensity 1) whose grade of each reference matches its graded statistics.

    ``scenes`` holds (reference frames, intensity, graded statistics). The filters are piecewise and
    clipped, so the search is derivative-free (Powell's method, bounded), on the real renderer.
    """
    from scipy.optimize import minimize

    def mismatch(candidate: np.ndarray) -> float:
        errors = [(_graded_statistics(frames, intensity * candidate) - graded) / scale
                  for frames, intensity, graded in scenes]
        return float(np.mean(np.concatenate(errors) ** 2) + 0.01 * np.mean((candidate - start) ** 2))

    found = minimize(mismatch, start, method="Powell", bounds=[(-1.5, 1.5)] * len(start),
                     options={"maxfev": evaluations, "xtol": 1e-3, "ftol": 1e-4})
    return found.x if found.fun <= mismatch(start) else start


def targets(clips: list[Clip], root: Path, config: GradingConfig) -> tuple[list[Clip], np.ndarray]:
    """Per graded clip, the colour controls (at its intensity) that reproduce the user's grade.

    The looks found are kept in OUTPUT/looks.json, so a resumed run does not search again.
    """
    from tqdm import tqdm

    saved = Path(config.output_dir) / "looks.json"
    graded = [clip for clip in clips if clip.emotion != "neutral" and clip.split == "train"]
    if saved.is_file() and config.resume_from_checkpoint:
        solved = {k: np.array(v) for k, v in json.loads(saved.read_text()).items()}
        if set(solved) == {clip.emotion for clip in graded}:
            return graded, np.array([solved[clip.emotion] * clip.intensity for clip in graded])

    frames = {clip.id: sample_frames(root / clip.video, config.frames_per_clip, config.analysis_height)
              for clip in tqdm(clips, desc="reading clips", disable=None)}
    references = {clip.identity: frames[clip.id] for clip in clips if clip.emotion == "neutral"}
    if not references:
        raise EmostudioError("The manifest has no neutral clip to compare the graded ones with; add each scene's "
                             "ungraded clip with emotion 'neutral' and the scene's name as its identity.")
    fallback = [frame for scene in references.values() for frame in scene]
    measured = {clip.id: colour_statistics(frames[clip.id]) for clip in graded}
    scale = np.maximum(np.std([colour_statistics(f) for f in frames.values()], axis=0), 1.0)
    solved: dict[str, np.ndarray] = {}
    for emotion in tqdm(sorted({clip.emotion for clip in graded}), desc="solving looks", disable=None):
        group = [clip for clip in graded if clip.emotion == emotion]
        scenes = [(references.get(clip.identity, fallback), max(clip.intensity, 0.05), measured[clip.id])
                  for clip in group]
        start = np.array(DEFAULT_GRADING_TABLE[emotion][: len(COLOUR_CONTROLS)])
        solved[emotion] = solve_look(scenes, start, scale, config.search_evaluations)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({k: v.tolist() for k, v in solved.items()}, indent=2))
    return graded, np.array([solved[clip.emotion] * clip.intensity for clip in graded])


def train(config: GradingConfig) -> dict[str, float]:
    from tqdm import tqdm

    accelerator = make_accelerator(config)
    manifest = Path(config.manifest)
    clips = read_manifest(manifest)
    missing_video = [clip.id for clip in clips if not clip.video]
    if missing_video:
        raise EmostudioError(f"Clip(s) {', '.join(missing_video[:5])} in {manifest} have no video; grading is "
                             "learned from footage.")
    check_splits(clips, required=("train",))
    graded, wanted = targets(clips, manifest.parent, config)
    if not graded:
        raise EmostudioError("The manifest has no graded (non-neutral) clips in the 'train' split; add clips graded "
                             "into emotions.")
    bank = EmotionBank()
    head = GradingHead(embedding_dim=bank.config.embedding_dim)
    defaults = head.table.detach().clone()
    specs = [EmotionSpec.parse(clip.emotion).with_intensity(clip.intensity) for clip in graded]
    with torch.no_grad():
        embedding = bank.embed(specs)
    target = torch.tensor(wanted, dtype=torch.float32)
    colour = list(range(len(COLOUR_CONTROLS)))
    optimizer = torch.optim.Adam(head.parameters(), lr=config.learning_rate)
    head, optimizer = accelerator.prepare(head, optimizer)
    if accelerator.is_main_process and config.report_to not in ("", "none"):
        accelerator.init_trackers("grading_head", config={k: v for k, v in dataclasses.asdict(config).items()
                                                         if isinstance(v, (int, float, str, bool))})

    def loss_of(rows: list[int]) -> torch.Tensor:
        return ((head(_select(embedding, rows))[:, colour] - target[rows]) ** 2).mean()

    total_steps = config.max_steps or config.epochs
    global_step = resume(accelerator, config)
    order = torch.Generator().manual_seed(config.seed)
    bar = tqdm(total=total_steps, initial=global_step, desc="fitting the look", disable=not accelerator.is_main_process)
    while global_step < total_steps:
        order.manual_seed(config.seed + global_step)  # the batch is a function of the step: exact resume
        rows = torch.randperm(len(graded), generator=order)[: config.batch_size].tolist()
        fit = loss_of(rows)
        ridge = config.ridge * ((accelerator.unwrap_model(head).table - defaults) ** 2).mean()
        loss = fit + ridge
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
        global_step += 1
        bar.update(1)
        accelerator.log({"train/fit": float(fit.detach()), "train/ridge": float(ridge.detach())}, step=global_step)
        if global_step % config.checkpointing_steps == 0:
            save_checkpoint(accelerator, config, global_step)
    bar.close()
    with torch.no_grad():
        trained = accelerator.unwrap_model(head)
        everything = list(range(len(graded)))
        metrics = {"control_error": float(loss_of(everything)),
                   "control_error_defaults": float(((GradingHead(embedding_dim=embedding.vector.shape[1])(
                       embedding)[:, colour] - target) ** 2).mean()),
                   "clips": float(len(graded)), "steps": float(global_step)}
    accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=global_step)
    accelerator.print("fitted look: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    if accelerator.is_main_process:
        output = Path(config.output_dir)
        trained.save_pretrained(output / "grading_head")
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    accelerator.end_training()
    return metrics


def _select(embedding, rows: list[int]):
    from ..conditioning.bank import EmotionEmbedding

    fields = {f.name: getattr(embedding, f.name) for f in dataclasses.fields(embedding)}
    return EmotionEmbedding(**{k: v[rows] if isinstance(v, torch.Tensor) else v for k, v in fields.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio train grading", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="YAML file of settings (see GradingConfig); optional")
    parser.add_argument("--manifest", help="the manifest of graded clips (overrides the config's)")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--resume-from-checkpoint", help="'latest' or a checkpoint folder")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    args = parser.parse_args(argv)
    try:
        config = load_config(GradingConfig, args.config, manifest=args.manifest, output_dir=args.output_dir,
                             resume_from_checkpoint=args.resume_from_checkpoint, max_steps=args.max_steps)
        if not config.manifest:
            raise EmostudioError("No manifest of graded clips; give --manifest looks.jsonl (see 'emostudio train "
                                 "grading --help').")
        train(config)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
