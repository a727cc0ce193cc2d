"""Emotion accuracy and identity leakage of the trained embedder, on the synthetic corpus.

Trains the recipe in ``configs/embedder_synthetic.yaml`` twice, with the identity objective and
without it (``identity_weight: 0``; ``--skip-baseline`` leaves this one out), or scores trained
folders as they are (``--evaluate DIR``, repeatable, e.g. an older bundled model), and reports:

* emotion accuracy on the test identities (never seen in training) with audio+video, audio only
  and video only (audio+video and video on the clips with a face);
* rendered heads: of the eight emotions, how many the test identity's talking-head clips are read
  as (most of their clips, audio+video);
* identity leakage: a linear probe (logistic regression) trained to tell the corpus's speakers
  apart from the embedder's mean, fitted on two of each speaker's sentences and scored on the
  third; chance is 1 / speakers; again over the training and validation speakers alone, the
  figure that settings may be chosen by;
* training time on this machine.

    emostudio data synth --out corpus/          # once
    python benchmarks/embedder_quality.py --manifest corpus/manifest.jsonl [--export emostudio/assets/emotion_embedder]
    python benchmarks/embedder_quality.py --manifest corpus/manifest.jsonl --evaluate old/ --evaluate runs/benchmark/with_identity
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from emostudio.conditioning import CATEGORIES
from emostudio.train.common import load_config
from emostudio.train.data.features import ClipFeatureDataset, collate
from emostudio.train.data.manifest import read_manifest
from emostudio.train.embedder import EmbedderConfig, train

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def embed_all(run: Path, clips, cache: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Means per modality setting for every clip, and the predicted emotion index per setting."""
    from emostudio.conditioning import EmotionBank
    from emostudio.conditioning.embedder import DisentangledEmotionEmbedder, audio_channels

    embedder = DisentangledEmotionEmbedder.from_pretrained(run / "embedder").eval()
    bank = EmotionBank.from_pretrained(run / "bank").eval()
    kind = embedder.config.audio_features
    data = ClipFeatureDataset(clips, cache, [], kind=kind)
    width = 2 * embedder.config.num_landmarks
    channels = audio_channels(kind, embedder.config.n_mels)
    means, predictions = {}, {}
    for name, (use_audio, use_visual) in {"both": (1, 1), "audio": (1, 0), "video": (0, 1)}.items():
        rows, guesses = [], []
        for start in range(0, len(data), 32):
            batch = collate([data[i] for i in range(start, min(start + 32, len(data)))], channels, width)
            output = embedder(batch["audio"], batch["visual"], batch["audio_mask"] & bool(use_audio),
                              batch["visual_mask"] & bool(use_visual))
            rows.append(output.mean.numpy())
            guesses.append(bank.log_likelihood(output.mean).argmax(-1).numpy())
        means[name], predictions[name] = np.concatenate(rows), np.concatenate(guesses)
    return means, predictions


def identity_probe(means: np.ndarray, clips) -> float:
    """Accuracy of a linear probe for the speaker, trained and scored on different sentences."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sentences = sorted({c.text for c in clips})
    held_out = [c.text == sentences[-1] for c in clips]
    labels = np.array([c.identity for c in clips])
    train_rows = ~np.array(held_out)
    scaler = StandardScaler().fit(means[train_rows])
    probe = LogisticRegression(max_iter=2000).fit(scaler.transform(means[train_rows]), labels[train_rows])
    return float(probe.score(scaler.transform(means[~train_rows]), labels[~train_rows]))


def score(run: Path, clips, base: Path, cache: Path) -> dict[str, float]:
    """The measurements above for a trained folder (features of its kind cached first)."""
    from emostudio.conditioning.embedder import DisentangledEmotionEmbedder
    from emostudio.train.data.features import cache_features

    saved = json.loads((run / "embedder" / DisentangledEmotionEmbedder.config_name).read_text(encoding="utf-8"))
    kind = saved.get("audio_features", "log_mel")
    cache_features(clips, base, cache, kind=kind)
    means, predictions = embed_all(run, clips, cache)
    labels = np.array([CATEGORIES.index(c.emotion) for c in clips])
    test = np.array([c.split == "test" for c in clips])
    face = test & np.array([c.video is not None for c in clips])
    result = {f"test_accuracy_{name}": float((predictions[name][rows] == labels[rows]).mean())
              for name, rows in (("both", face), ("audio", test), ("video", face))}
    read = 0
    for index in range(len(CATEGORIES)):
        guesses = predictions["both"][face & (labels == index)]
        read += int(len(guesses) > 0 and np.bincount(guesses, minlength=len(CATEGORIES)).argmax() == index)
    result["rendered_heads_read"] = read
    result["identity_probe"] = identity_probe(means["both"], clips)
    # The same probe without the test speakers: what settings may be chosen by.
    known = np.array([c.split != "test" for c in clips])
    result["identity_probe_train_val"] = identity_probe(means["both"][known], [c for c, k in zip(clips, known) if k])
    result["identity_chance"] = 1 / len({c.identity for c in clips})
    return result


def run_recipe(manifest: Path, output: Path, identity_weight: float, cache: Path) -> dict[str, float]:
    config = load_config(EmbedderConfig, ROOT / "configs" / "embedder_synthetic.yaml", manifest=str(manifest),
                         output_dir=str(output), cache_dir=str(cache), report_to="none")
    config = dataclasses.replace(config, identity_weight=identity_weight)
    if output.exists():
        shutil.rmtree(output)
    start = time.perf_counter()
    train(config)
    minutes = (time.perf_counter() - start) / 60
    result = score(output, read_manifest(manifest), manifest.parent, cache)
    result["train_minutes"] = minutes
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="corpus/manifest.jsonl")
    parser.add_argument("--runs", default="runs/benchmark")
    parser.add_argument("--export", default=None, help="copy the identity-objective model here (e.g. the bundled "
                        "emostudio/assets/emotion_embedder)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not train without the identity objective")
    parser.add_argument("--evaluate", action="append", default=None,
                        help="score this trained folder instead of training (repeatable)")
    args = parser.parse_args()
    manifest = Path(args.manifest)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    cache = manifest.parent / "features"
    if args.evaluate:
        clips = read_manifest(manifest)
        results = {folder: score(Path(folder), clips, manifest.parent, cache) for folder in args.evaluate}
    else:
        results = {"with identity objective": run_recipe(manifest, runs / "with_identity", 1.0, cache)}
        if not args.skip_baseline:
            results["without identity objective"] = run_recipe(manifest, runs / "without_identity", 0.0, cache)
    keys = list(next(iter(results.values())))
    print(f"{'':28}" + "".join(f"{k:>22}" for k in keys))
    for name, values in results.items():
        print(f"{name[-28:]:28}" + "".join(f"{values[k]:>22.3f}" for k in keys))
    (runs / "results.json").write_text(json.dumps(results, indent=2))
    if args.export and not args.evaluate:
        target = Path(args.export)
        for part in ("embedder", "bank"):
            shutil.rmtree(target / part, ignore_errors=True)
            shutil.copytree(runs / "with_identity" / part, target / part)
        (target / "metrics.json").write_text(json.dumps(results["with identity objective"], indent=2))
        print(f"exported the identity-objective model to {target}")


if __name__ == "__main__":
    main()
