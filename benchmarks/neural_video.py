"""What the Wan2.1 emotion adapter does to its generations, per emotion, and what it costs per step.

    emostudio train video-adapter --config configs/video_adapter_tiny.yaml --output-dir RUN_DIR
    python benchmarks/neural_video.py --model RUN_DIR [--seeds 4]

Effect: for each prompt (the corpus captions of the run, and "a street at night") and seed, the
same model and seed generate at emotion scale 0 (the base model, exactly) and at scale 1 in each
of the eight emotions. The first table is the mean change of brightness (mean CIE L*), colourfulness
(Hasler & Suesstrunk 2003) and warmth (mean CIE b*) against scale 0; as scale 0 is the model
without emotion, which learnt the average of all eight, the second table measures each emotion
against 'neutral' at scale 1 as well. The direction each emotion
was trained towards is the same change measured on the training corpus (each graded clip against
the neutral clip of its scene); "agree" counts the statistics whose sign matches.

Cost: one denoising step of the transformer with the adapter attached and conditioned against the
same transformer without it, timed alternately in one run (the ratio is what counts; this machine
may be shared, so absolute times are noisy).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emostudio.conditioning import CATEGORIES
from emostudio.generation.video.neural import EMOTION_STREAM, EmotionVideoPipeline, GenerationSettings, generate_clip
from emostudio.train.data.manifest import read_manifest
from emostudio.train.grading import colour_statistics
from emostudio.train.video_adapter import load_clip_frames

STATISTICS = ("L*", "colourfulness", "b*")


def measure(frames: np.ndarray) -> np.ndarray:
    stats = colour_statistics(list(frames))
    return np.array([stats[0], stats[8], stats[5]])


def corpus_directions(run: Path, settings: GenerationSettings) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per emotion, the mean change of the statistics from each scene's neutral clip in the corpus."""
    manifest = run / "corpus" / "manifest.jsonl"
    if not manifest.is_file():
        return {}, []
    clips = read_manifest(manifest)
    by_scene: dict[str, dict[str, np.ndarray]] = {}
    for clip in clips:
        pixels = load_clip_frames(clip.video, settings.num_frames, settings.height, settings.width)
        frames = ((pixels.permute(1, 2, 3, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        by_scene.setdefault(clip.identity, {})[clip.emotion] = measure(frames)
    directions = {name: np.mean([scene[name] - scene["neutral"] for scene in by_scene.values()
                                 if name in scene and "neutral" in scene], axis=0)
                  for name in CATEGORIES if any(name in scene for scene in by_scene.values())}
    captions = sorted({clip.text for clip in clips if clip.text})
    return directions, captions


def effect(pipe: EmotionVideoPipeline, prompts: list[str], seeds: int, folder: Path) -> dict[str, np.ndarray]:
    changes: dict[str, list[np.ndarray]] = {name: [] for name in CATEGORIES}
    for p, prompt in enumerate(prompts):
        for seed in range(seeds):
            base = measure(generate_clip(pipe, prompt, "neutral", folder / f"{p}_{seed}_base.mp4",
                                         emotion_scale=0.0, seed=seed).frames)
            for name in CATEGORIES:
                clip = generate_clip(pipe, prompt, name, folder / f"{p}_{seed}_{name}.mp4", seed=seed)
                changes[name].append(measure(clip.frames) - base)
    return {name: np.mean(values, axis=0) for name, values in changes.items()}


def step_overhead(pipe: EmotionVideoPipeline, repeats: int, size: int | None = None) -> tuple[float, float]:
    """Seconds per transformer step without and with the adapter, timed alternately (``size``: frame
    height and width in pixels; default the run's own)."""
    settings = pipe.generation_settings
    height, width = (size, size) if size else (settings.height, settings.width)
    transformer = pipe.transformer
    adapter = pipe.emotion_adapter
    generator = torch.Generator().manual_seed(0)
    frames = (settings.num_frames - 1) // pipe.vae_scale_factor_temporal + 1
    latents = torch.randn(1, transformer.config.in_channels, frames, height // pipe.vae_scale_factor_spatial,
                          width // pipe.vae_scale_factor_spatial, generator=generator)
    text = pipe.encode_prompt("a street at night", do_classifier_free_guidance=False,
                              max_sequence_length=settings.max_sequence_length)[0]
    tokens = pipe.emotion_tokens("fearful", settings.num_frames, settings.fps)
    timestep = torch.tensor([500.0])
    timings = {"base": [], "adapter": []}
    with torch.no_grad():
        for _ in range(repeats):
            # Without conditioning the attached processors only call the backbone's own: the base step.
            start = time.perf_counter()
            transformer(latents, timestep, text)
            timings["base"].append(time.perf_counter() - start)
            with adapter.conditioned(tokens={EMOTION_STREAM: tokens}, frames_in_sequence=frames):
                start = time.perf_counter()
                transformer(latents, timestep, text)
                timings["adapter"].append(time.perf_counter() - start)
    return float(np.median(timings["base"])), float(np.median(timings["adapter"]))


def report_effect(pipe: EmotionVideoPipeline, run: Path, seeds: int) -> None:
    directions, captions = corpus_directions(run, pipe.generation_settings)
    prompts = captions + ["a street at night"]
    with tempfile.TemporaryDirectory() as tmp:
        mean = effect(pipe, prompts, seeds, Path(tmp))
    print(f"{len(prompts)} prompts x {seeds} seeds, {pipe.generation_settings.num_frames} frames at "
          f"{pipe.generation_settings.width}x{pipe.generation_settings.height}")
    against_neutral = {name: mean[name] - mean["neutral"] for name in CATEGORIES}
    for title, table in (("change against the same model and seed at emotion scale 0", mean),
                         ("change against the same model and seed in 'neutral' at scale 1", against_neutral)):
        print(f"\n{title}")
        print(f"{'emotion':<11}" + "".join(f"{s:>15}" for s in STATISTICS) + f"{'trained towards':>24}{'agree':>7}")
        agreements = 0
        for name in CATEGORIES:
            target = directions.get(name)
            towards = "" if target is None else " ".join(f"{v:+.1f}" for v in target)
            agree = "" if target is None or name == "neutral" else \
                f"{int(np.sum(np.sign(table[name]) == np.sign(target)))}/3"
            agreements += int(agree[0]) if agree else 0
            print(f"{name:<11}" + "".join(f"{v:>+15.2f}" for v in table[name]) + f"{towards:>24}{agree:>7}")
        print(f"signs agreeing with the trained direction: {agreements} of {3 * (len(CATEGORIES) - 1)}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the output folder of 'emostudio train video-adapter'")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per prompt (default 4; 0: time the step only)")
    parser.add_argument("--repeats", type=int, default=50, help="timed steps per mode (default 50)")
    parser.add_argument("--overhead-sizes", type=int, nargs="*", default=[0, 128], help="frame sizes at which to "
                        "time the step (0: the run's own; default 0 128)")
    args = parser.parse_args()
    run = Path(args.model)
    torch.set_num_threads(1)
    pipe = EmotionVideoPipeline.from_run(run)
    pipe.set_progress_bar_config(disable=True)
    if args.seeds > 0:
        report_effect(pipe, run, args.seeds)
    for size in args.overhead_sizes:
        base, with_adapter = step_overhead(pipe, args.repeats, size or None)
        where = f"{size}x{size}" if size else "the run's size"
        print(f"transformer step at {where}: {base * 1e3:.2f} ms without the adapter, {with_adapter * 1e3:.2f} ms "
              f"with it (x{with_adapter / base:.3f}); medians of {args.repeats} alternating steps, one CPU thread, "
              "shared machine")


if __name__ == "__main__":
    main()
