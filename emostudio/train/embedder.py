"""Train the DisentangledEmotionEmbedder and the EmotionBank together.

    emostudio train embedder --config CONFIG.yaml
    accelerate launch -m emostudio.train.embedder --config CONFIG.yaml

Objective, per clip with emotion k at intensity i and speaker s:

* emotion: cross-entropy of the bank's Gaussian log-likelihoods of the embedder's mean (the
  prototypes and the embedder's Gaussians are aligned by this), plus the KL divergence from the
  embedder's Gaussian to the bank's Gaussian for (k, i);
* codebook: vector quantisation of the mean with a straight-through estimator and a commitment
  loss, and the bank's classifier on the tokens attended from the quantised point;
* identity, weighted by ``identity_weight`` (0 trains without it, the baseline that shows what the
  objective removes): an identity classifier behind a gradient-reversal layer, and an alignment
  term that pulls together the embeddings of different speakers saying the same emotion at the
  same intensity, so that no direction of the space separates speakers (which is exactly what a
  linear probe would find); after training, the subspace in which the training speakers still
  differ for the same label is found with a linear classifier and projected out (one round of
  iterative nullspace projection, Ravfogel et al. 2020), stored in the embedder.

Each epoch reports validation accuracy with audio+video, audio only and video only. The final
export (``OUTPUT/embedder`` and ``OUTPUT/bank``) is what ``--embedder`` and ``analyze`` load.

``init_from: RUN_DIR`` starts from a trained embedder and bank instead of fresh ones (their
architecture replaces the config's), and ``freeze: [audio]`` keeps everything an audio-only reading
passes through as it was: the audio encoder, its modality token, the shared norm and head, the
audio standardisation, the identity projection and the bank. What is trained is what reads video:
the visual encoder, its modality token and the two cross-attention blocks, with the visual
standardisation refitted on the new corpus. So when the face renderer changes, the video branch
can follow it while every audio-only reading stays bit for bit the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ..conditioning import CATEGORIES, EmotionBank
from ..conditioning.embedder import VISUAL_LANDMARKS, DisentangledEmotionEmbedder, audio_channels
from ..errors import EmostudioError
from .common import TrainingConfig, load_config, make_accelerator, resume, save_checkpoint
from .data.features import ClipFeatureDataset, cache_features, collate
from .data.manifest import check_splits, read_manifest


@dataclasses.dataclass
class EmbedderConfig(TrainingConfig):
    cache_dir: str = ""  # default: OUTPUT/features
    embedding_dim: int = 64
    width: int = 96
    layers: int = 3
    heads: int = 4
    identity_weight: float = 1.0  # gradient-reversal strength of the identity objective; 0 = off
    kl_weight: float = 0.1
    vq_weight: float = 0.25
    classifier_weight: float = 0.5
    modality_dropout: float = 0.3  # chance of hiding one stream of a training clip
    max_seconds: float = 3.0
    audio_features: str = "log_mel"  # or "normalised": speaker and recording levels taken out
    voice_variants: int = 0  # re-recorded copies of each training clip (other voice, room, microphone)
    init_from: str = ""  # a folder holding embedder/ and bank/ to start from (its architecture is kept)
    freeze: list[str] = dataclasses.field(default_factory=list)  # parts kept as loaded: FREEZABLE_PARTS


# What ``freeze`` may name. "audio": every module, token and buffer an audio-only reading uses.
FREEZABLE_PARTS = ("audio",)
ARCHITECTURE_KEYS = ("embedding_dim", "width", "layers", "heads", "audio_features")


def check_config(config: EmbedderConfig) -> EmbedderConfig:
    """Refuse what cannot train, before anything heavy loads; take the architecture of ``init_from``."""
    unknown = [name for name in config.freeze if name not in FREEZABLE_PARTS]
    if unknown:
        raise EmostudioError(f"Cannot freeze {', '.join(map(repr, unknown))}; the parts that can be frozen are "
                             f"{', '.join(FREEZABLE_PARTS)}.")
    if config.freeze and not config.init_from:
        raise EmostudioError("freeze keeps parts of a trained model, so it needs 'init_from: RUN_DIR' naming one.")
    if not config.init_from:
        return config
    folder = Path(config.init_from)
    saved = folder / "embedder" / DisentangledEmotionEmbedder.config_name
    if not saved.is_file() or not (folder / "bank").is_dir():
        raise EmostudioError(f"init_from {folder} holds no trained embedder; name a folder with embedder/ and bank/ "
                             "(a training run's output, or emostudio/assets/emotion_embedder).")
    architecture = json.loads(saved.read_text(encoding="utf-8"))
    return dataclasses.replace(config, **{key: architecture[key] for key in ARCHITECTURE_KEYS if key in architecture})


def initial_model(config: EmbedderConfig, identities: int) -> tuple[DisentangledEmotionEmbedder, EmotionBank]:
    """A fresh embedder and bank, or those of ``init_from`` (identity classifier resized to this corpus)."""
    if not config.init_from:
        embedder = DisentangledEmotionEmbedder(config.embedding_dim, config.width, config.layers, config.heads,
                                               num_identities=identities, audio_features=config.audio_features)
        return embedder, EmotionBank(embedding_dim=config.embedding_dim, seed=config.seed)
    folder = Path(config.init_from)
    embedder = DisentangledEmotionEmbedder.from_pretrained(folder / "embedder")
    bank = EmotionBank.from_pretrained(folder / "bank")
    if embedder.config.num_identities != identities:
        # Only training reads the identity classifier; it must name this corpus's speakers.
        fresh = DisentangledEmotionEmbedder(embedder.config.embedding_dim, embedder.config.width,
                                            embedder.config.layers, embedder.config.heads, num_identities=identities,
                                            audio_features=embedder.config.audio_features)
        fresh.load_state_dict({k: v for k, v in embedder.state_dict().items()
                               if not k.startswith("identity_classifier.")}, strict=False)
        embedder = fresh
    return embedder, bank


def parameter_groups(model: "EmotionEmbedderModel", config: EmbedderConfig) -> list[dict]:
    """The optimiser's parameter groups: everything, or with ``freeze: [audio]`` only what reads video."""
    if "audio" not in config.freeze:
        return [{"params": list(model.parameters())}]
    embedder = model.embedder
    model.requires_grad_(False)
    trained = [embedder.visual_encoder, embedder.audio_to_visual, embedder.visual_to_audio]
    if embedder.identity_classifier is not None:
        trained.append(embedder.identity_classifier)
    for module in trained:
        module.requires_grad_(True)
    # ``modality`` is one parameter, a token per stream: row 0 (audio) gets no gradient and, in a
    # group without weight decay, Adam then leaves it exactly as it was.
    embedder.modality.requires_grad_(True)
    visual_row = torch.zeros_like(embedder.modality)
    visual_row[1] = 1.0
    embedder.modality.register_hook(lambda grad: grad * visual_row)
    return [{"params": [p for module in trained for p in module.parameters()]},
            {"params": [embedder.modality], "weight_decay": 0.0}]


class EmotionEmbedderModel(torch.nn.Module):
    """Embedder and bank as one module for accelerate (saved separately at export)."""

    def __init__(self, embedder: DisentangledEmotionEmbedder, bank: EmotionBank, config: EmbedderConfig) -> None:
        super().__init__()
        self.embedder = embedder
        self.bank = bank
        self.config = config

    def forward(self, batch: dict, reversal: float) -> dict:
        """The training losses of a batch (called through accelerate's wrapper, so DDP syncs)."""
        return losses(self, batch, self.config, reversal)


def losses(model: EmotionEmbedderModel, batch: dict, config: EmbedderConfig, reversal: float) -> dict:
    output = model.embedder(batch["audio"], batch["visual"], batch["audio_mask"], batch["visual_mask"],
                            reversal_strength=reversal)
    bank = model.bank
    labels = batch["emotion"]
    logits = bank.log_likelihood(output.mean)
    weights = F.one_hot(labels, len(CATEGORIES)).float()
    target = bank(weights, batch["intensity"])
    kl = 0.5 * (target.logvar - output.logvar + (output.logvar.exp() + (output.mean - target.vector) ** 2)
                / target.logvar.exp() - 1).sum(-1).mean()
    quantised, _, vq = bank.quantize(output.mean)
    classifier = F.cross_entropy(bank.classify(bank.aggregate(quantised)), labels)
    result = {
        "emotion": F.cross_entropy(logits, labels),
        "kl": kl * config.kl_weight,
        "vq": vq * config.vq_weight,
        "classifier": classifier * config.classifier_weight,
    }
    if output.identity_logits is not None:
        known = batch["identity"] >= 0
        if known.any():
            result["identity"] = F.cross_entropy(output.identity_logits[known], batch["identity"][known])
    if config.identity_weight > 0:
        result["alignment"] = config.identity_weight * speaker_alignment(output.mean, batch)
    result["loss"] = sum(result.values())
    return result


def speaker_alignment(mean: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean squared distance between embeddings of different speakers with the same label."""
    identity, emotion, intensity = batch["identity"], batch["emotion"], batch["intensity"]
    same_label = (emotion[:, None] == emotion[None, :]) & ((intensity[:, None] - intensity[None, :]).abs() < 1e-3)
    other_speaker = (identity[:, None] != identity[None, :]) & (identity[:, None] >= 0) & (identity[None, :] >= 0)
    pairs = same_label & other_speaker
    if not pairs.any():
        return mean.sum() * 0.0
    distances = ((mean[:, None, :] - mean[None, :, :]) ** 2).mean(-1)
    return distances[pairs].mean()


def hide_streams(batch: dict, probability: float, generator: torch.Generator) -> dict:
    """Hide the audio or the video of some clips, so the embedder works with either alone."""
    if probability <= 0:
        return batch
    count = batch["emotion"].shape[0]
    draw = torch.rand(count, generator=generator)
    hide_audio = draw < probability / 2
    hide_visual = (draw >= probability / 2) & (draw < probability)
    both_present = batch["audio_mask"].any(1) & batch["visual_mask"].any(1)
    batch = dict(batch)
    batch["audio_mask"] = batch["audio_mask"] & ~(hide_audio & both_present)[:, None]
    batch["visual_mask"] = batch["visual_mask"] & ~(hide_visual & both_present)[:, None]
    return batch


@torch.no_grad()
def remove_identity_subspace(model: EmotionEmbedderModel, data: ClipFeatureDataset, batcher) -> int:
    """Project out the directions a linear classifier uses to tell training speakers apart.

    Embeddings of the training clips, minus the mean of their (emotion, intensity) label, leave
    what varies between speakers; the weight vectors of a logistic-regression speaker classifier
    on those residuals span that variation, and ``I - U U^T`` over their orthonormal basis U
    becomes the embedder's ``identity_projection``. Returns the rank removed.
    """
    from sklearn.linear_model import LogisticRegression

    model.eval()
    rows, labels, speakers = [], [], []
    for start in range(0, len(data), 32):
        samples = [data[i] for i in range(start, min(start + 32, len(data)))]
        batch = batcher(samples)
        rows.append(model.embedder(batch["audio"], batch["visual"], batch["audio_mask"], batch["visual_mask"]).mean)
        labels += [(s["emotion"], round(s["intensity"], 3)) for s in samples]
        speakers += [s["identity"] for s in samples]
    embeddings = torch.cat(rows).double().numpy()
    if len(set(speakers)) < 2:
        return 0
    residuals = embeddings.copy()
    for label in set(labels):
        members = [i for i, value in enumerate(labels) if value == label]
        residuals[members] -= embeddings[members].mean(axis=0)
    classifier = LogisticRegression(max_iter=2000).fit(residuals, speakers)
    basis, _ = torch.linalg.qr(torch.tensor(classifier.coef_.T))
    projection = torch.eye(basis.shape[0], dtype=torch.float64) - basis @ basis.T
    embedder = model.embedder
    embedder.identity_projection.copy_((embedder.identity_projection.double() @ projection).float())
    return basis.shape[1]


@torch.no_grad()
def evaluate(model: EmotionEmbedderModel, loader) -> dict[str, float]:
    """Emotion accuracy with both streams, audio only and video only."""
    correct = {"both": 0, "audio": 0, "video": 0}
    total = 0
    for batch in loader:
        for name, (use_audio, use_visual) in {"both": (1, 1), "audio": (1, 0), "video": (0, 1)}.items():
            audio_mask = batch["audio_mask"] & bool(use_audio)
            visual_mask = batch["visual_mask"] & bool(use_visual)
            usable = audio_mask.any(1) | visual_mask.any(1)
            output = model.embedder(batch["audio"], batch["visual"], audio_mask, visual_mask)
            predicted = model.bank.log_likelihood(output.mean).argmax(-1)
            correct[name] += int(((predicted == batch["emotion"]) & usable).sum())
        total += batch["emotion"].shape[0]
    return {f"accuracy_{name}": value / max(total, 1) for name, value in correct.items()}


def train(config: EmbedderConfig) -> dict[str, float]:
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    config = check_config(config)
    accelerator = make_accelerator(config)
    manifest = Path(config.manifest)
    clips = read_manifest(manifest)
    check_splits(clips, required=("train", "val"))
    train_clips = [c for c in clips if c.split == "train"]
    val_clips = [c for c in clips if c.split == "val"]
    identities = sorted({c.identity for c in train_clips})
    cache = Path(config.cache_dir) if config.cache_dir else Path(config.output_dir) / "features"
    if accelerator.is_main_process:
        cache_features(clips, manifest.parent, cache, kind=config.audio_features,
                       voice_variants=config.voice_variants, seed=config.seed)
    accelerator.wait_for_everyone()

    kind = config.audio_features
    train_data = ClipFeatureDataset(train_clips, cache, identities, config.max_seconds, random_crop=True, kind=kind,
                                    voice_variants=config.voice_variants)
    val_data = ClipFeatureDataset(val_clips, cache, identities, config.max_seconds, kind=kind)
    embedder, bank = initial_model(config, len(identities))
    plain = ClipFeatureDataset(train_clips, cache, identities, config.max_seconds, kind=kind)
    statistics = [plain[i] for i in range(len(plain))]
    frozen_audio = "audio" in config.freeze
    embedder.fit_input_statistics([] if frozen_audio else [s["audio"] for s in statistics],
                                  [s["visual"] for s in statistics])
    model = EmotionEmbedderModel(embedder, bank, config)
    optimizer = torch.optim.AdamW(parameter_groups(model, config), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    batcher = functools.partial(collate, audio_width=audio_channels(kind), visual_width=2 * len(VISUAL_LANDMARKS))
    order = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(train_data, batch_size=config.batch_size, shuffle=True, generator=order,
                              collate_fn=batcher, num_workers=config.num_workers, drop_last=len(train_data) >
                              config.batch_size)
    val_loader = DataLoader(val_data, batch_size=config.batch_size, collate_fn=batcher)
    steps_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, total_steps=total_steps,
                                                    pct_start=0.1)
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, scheduler)
    if accelerator.is_main_process and config.report_to not in ("", "none"):
        accelerator.init_trackers("emotion_embedder", config={k: v for k, v in dataclasses.asdict(config).items()
                                                             if isinstance(v, (int, float, str, bool))})

    global_step = resume(accelerator, config)
    first_epoch = global_step // steps_per_epoch
    skip = (global_step % steps_per_epoch) * config.gradient_accumulation_steps
    masking = torch.Generator().manual_seed(config.seed + 1)
    metrics: dict[str, float] = {}
    history: list[dict[str, float]] = []
    bar = tqdm(total=total_steps, initial=global_step, desc="training", disable=not accelerator.is_main_process)
    for epoch in range(first_epoch, math.ceil(total_steps / steps_per_epoch)):
        model.train()
        # The data order depends only on (seed, epoch), so a resumed run sees the same batches.
        order.manual_seed(config.seed + epoch)
        masking.manual_seed(config.seed + 1000 + epoch)
        loader = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
        skip = 0
        for batch in loader:
            with accelerator.accumulate(model):
                batch = hide_streams(batch, config.modality_dropout, masking)
                reversal = config.identity_weight * min(1.0, 2.0 * global_step / max(total_steps, 1))
                parts = model(batch, reversal)
                accelerator.backward(parts["loss"])
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if accelerator.sync_gradients:
                global_step += 1
                bar.update(1)
                logged = {f"train/{k}": float(v.detach()) for k, v in parts.items()}
                history.append({"step": global_step, **{k: float(v.detach()) for k, v in parts.items()}})
                accelerator.log(logged, step=global_step)
                bar.set_postfix(loss=f"{float(parts['loss'].detach()):.3f}")
                if global_step % config.checkpointing_steps == 0:
                    save_checkpoint(accelerator, config, global_step)
                if global_step >= total_steps:
                    break
        model.eval()
        metrics = evaluate(accelerator.unwrap_model(model), val_loader)
        accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=global_step)
        accelerator.print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        if global_step >= total_steps:
            break
    bar.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        # The identity projection is part of the audio-only path, so a frozen audio path keeps it.
        if config.identity_weight > 0 and "audio" not in config.freeze:
            remove_identity_subspace(final, plain, batcher)
            metrics = evaluate(final, val_loader)
            accelerator.print("after removing the identity subspace: "
                              + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        export(final, Path(config.output_dir), metrics, history)
    accelerator.end_training()
    return metrics


def export(model: EmotionEmbedderModel, output: Path, metrics: dict[str, float], history: list[dict]) -> None:
    """Save the embedder and bank where ``--embedder OUTPUT`` finds them, plus metrics and the loss curve."""
    model.embedder.save_pretrained(output / "embedder")
    model.bank.save_pretrained(output / "bank")
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with open(output / "loss_history.jsonl", "a", encoding="utf-8") as handle:
        for row in history:
            handle.write(json.dumps(row) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio train embedder", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML file of settings (see EmbedderConfig)")
    parser.add_argument("--manifest", help="override the config's manifest")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--resume-from-checkpoint", help="'latest' or a checkpoint folder")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    args = parser.parse_args(argv)
    try:
        config = load_config(EmbedderConfig, args.config, manifest=args.manifest, output_dir=args.output_dir,
                             resume_from_checkpoint=args.resume_from_checkpoint, max_steps=args.max_steps)
        if not config.manifest:
            raise EmostudioError("The config names no manifest; set 'manifest: path/to/manifest.jsonl'.")
        train(config)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
