"""Training the emotion embedder for real, on a tiny synthetic corpus, through the users' script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from emostudio.conditioning import EmotionBank
from emostudio.conditioning.embedder import PROSODY_TRACKS, DisentangledEmotionEmbedder
from emostudio.errors import EmostudioError
from emostudio.train.common import load_config
from emostudio.train.data.manifest import read_manifest
from emostudio.train.embedder import EmbedderConfig
from emostudio.train.synth import synthesize_corpus
from emostudio.ui.cli import main
from emostudio.ui.studio import Studio

TINY = {"max_steps": 6, "batch_size": 4, "checkpointing_steps": 2, "checkpoints_total_limit": 3, "width": 32,
        "layers": 2, "embedding_dim": 32, "report_to": "tensorboard", "learning_rate": 0.003}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    return synthesize_corpus(folder, identities=3, sentences=1, intensities=(1.0,), size=128, audio_sentences=1)


def write_config(path: Path, corpus: Path, output: Path, **extra) -> Path:
    settings = {"manifest": str(corpus), "output_dir": str(output), "cache_dir": str(corpus.parent / "features"),
                **TINY, **extra}
    path.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items()))
    return path


def run_script(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emostudio.train.embedder", *arguments], capture_output=True,
                          text=True, timeout=600, check=False)


def losses(run: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in map(json.loads, (run / "loss_history.jsonl").read_text().splitlines())}


def test_corpus_has_every_emotion_and_held_out_identities(corpus):
    clips = read_manifest(corpus)
    assert {c.emotion for c in clips} == {"neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised",
                                          "contempt"}
    by_split = {split: {c.identity for c in clips if c.split == split} for split in ("train", "val", "test")}
    assert all(by_split.values()) and not (by_split["train"] & (by_split["val"] | by_split["test"]))


def test_train_save_resume_and_use(corpus, tmp_path):
    config = write_config(tmp_path / "config.yaml", corpus, tmp_path / "run")
    completed = run_script("--config", str(config))
    assert completed.returncode == 0, completed.stderr[-3000:]
    run = tmp_path / "run"
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert list((run / "logs").rglob("events.out.tfevents*")), "TensorBoard logs are written"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"accuracy_both", "accuracy_audio", "accuracy_video"}

    # Resume from step 4 in a fresh folder: steps 5 and 6 repeat the original curve exactly.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(run / "checkpoint-4", resumed / "checkpoint-4")
    completed = run_script("--config", str(config), "--output-dir", str(resumed), "--resume-from-checkpoint", "latest")
    assert completed.returncode == 0, completed.stderr[-3000:]
    original, continued = losses(run), losses(resumed)
    assert sorted(continued) == [5, 6]
    for step in (5, 6):
        assert continued[step] == pytest.approx(original[step], rel=1e-5)

    # The export loads with from_pretrained and drives --emotion-from and analyze.
    embedder = DisentangledEmotionEmbedder.from_pretrained(run / "embedder")
    bank = EmotionBank.from_pretrained(run / "bank")
    assert embedder.config.embedding_dim == bank.config.embedding_dim == 32
    clip = next(c for c in read_manifest(corpus) if c.emotion == "happy")
    reference = corpus.parent / clip.video
    spec = Studio.emotion_from(reference, run)
    assert spec.source == "reference" and abs(sum(spec.weights.values()) - 1) < 1e-6
    out = tmp_path / "transfer.wav"
    assert main(["speak", "Same feeling, another voice.", "--emotion-from", str(reference), "--embedder", str(run),
                 "-o", str(out)]) == 0
    assert out.exists()
    video = tmp_path / "transfer.mp4"
    assert main(["talk", "--text", "And a face.", "--emotion-from", str(reference), "--embedder", str(run),
                 "--size", "128", "-o", str(video)]) == 0
    assert video.exists()
    plot = tmp_path / "analysis.png"
    assert main(["analyze", str(reference), "--embedder", str(run), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_train_on_normalised_audio_with_voice_variants(corpus, tmp_path):
    config = write_config(tmp_path / "config.yaml", corpus, tmp_path / "run", max_steps=2, report_to="none",
                          audio_features="normalised", voice_variants=1)
    completed = run_script("--config", str(config))
    assert completed.returncode == 0, completed.stderr[-3000:]
    clips = read_manifest(corpus)
    assert any(c.video is None and c.audio for c in clips), "the corpus has sound-only sentences"
    for clip in clips:
        stored = load_file(str(corpus.parent / "features" / f"{clip.id}.safetensors"))
        # Training clips carry a re-recorded voice variant; held-out speakers are read as recorded.
        assert ("audio_normalised_1" in stored) == (clip.split == "train")
        assert stored["audio_normalised"].shape[1] == 64 + len(PROSODY_TRACKS)
    embedder = DisentangledEmotionEmbedder.from_pretrained(tmp_path / "run" / "embedder")
    assert embedder.config.audio_features == "normalised"
    reference = corpus.parent / next(c for c in clips if c.video is None).audio
    assert main(["analyze", str(reference), "--embedder", str(tmp_path / "run"), "--plot",
                 str(tmp_path / "a.png")]) == 0


def test_bad_configs_and_checkpoints(corpus, tmp_path):
    with pytest.raises(EmostudioError, match="learning_rat"):
        load_config(EmbedderConfig, write_config(tmp_path / "typo.yaml", corpus, tmp_path / "x", learning_rat=0.1))
    completed = run_script("--config", str(write_config(tmp_path / "missing.yaml", tmp_path / "nope.jsonl",
                                                        tmp_path / "y")))
    assert completed.returncode == 2 and "nope.jsonl" in completed.stderr
    # A checkpoint of a differently shaped model is refused with a clear sentence.
    first = write_config(tmp_path / "small.yaml", corpus, tmp_path / "small", max_steps=2)
    assert run_script("--config", str(first)).returncode == 0
    other = write_config(tmp_path / "wide.yaml", corpus, tmp_path / "wide", max_steps=2, width=48,
                         resume_from_checkpoint=str(tmp_path / "small" / "checkpoint-2"))
    completed = run_script("--config", str(other))
    assert completed.returncode == 2 and "not a checkpoint of this model" in completed.stderr


def test_embedder_handles_either_stream():
    embedder = DisentangledEmotionEmbedder(embedding_dim=16, width=32, layers=2)
    audio, visual = torch.randn(2, 50, 64), torch.randn(2, 20, embedder.config.num_landmarks * 2)
    for kwargs in ({"audio": audio}, {"visual": visual}, {"audio": audio, "visual": visual}):
        output = embedder(**kwargs)
        assert output.mean.shape == (2, 16) and torch.isfinite(output.mean).all()
    with pytest.raises(ValueError):
        embedder()


@torch.no_grad()
def readings(run: Path, corpus: Path) -> dict[str, torch.Tensor]:
    """Means of every clip read audio-only and video-only by the embedder saved in ``run``."""
    from emostudio.train.data.features import ClipFeatureDataset, collate

    embedder = DisentangledEmotionEmbedder.from_pretrained(run / "embedder").eval()
    data = ClipFeatureDataset(read_manifest(corpus), corpus.parent / "features", [])
    batch = collate([data[i] for i in range(len(data))], 64, 2 * embedder.config.num_landmarks)
    has_face = batch["visual_mask"].any(1)
    return {"audio": embedder(audio=batch["audio"], audio_mask=batch["audio_mask"]).mean,
            "video": embedder(visual=batch["visual"][has_face], visual_mask=batch["visual_mask"][has_face]).mean}


def test_refresh_video_branch_keeps_audio_path_bit_identical(corpus, tmp_path):
    base = tmp_path / "base"
    assert run_script("--config", str(write_config(tmp_path / "base.yaml", corpus, base, max_steps=2,
                                                   report_to="none"))).returncode == 0
    # The architecture comes from init_from, whatever the config says.
    refresh = write_config(tmp_path / "refresh.yaml", corpus, tmp_path / "refresh", max_steps=2, report_to="none",
                           width=48, init_from=str(base), freeze=["audio"])
    completed = run_script("--config", str(refresh))
    assert completed.returncode == 0, completed.stderr[-3000:]
    before, after = readings(base, corpus), readings(tmp_path / "refresh", corpus)
    assert torch.equal(before["audio"], after["audio"])
    assert not torch.allclose(before["video"], after["video"])
    for name in ("audio_encoder.0.weight", "head.2.weight", "norm.weight", "audio_mean", "identity_projection"):
        assert torch.equal(load_file(str(base / "embedder" / "diffusion_pytorch_model.safetensors"))[name],
                           load_file(str(tmp_path / "refresh" / "embedder" / "diffusion_pytorch_model.safetensors"))[name])
    assert torch.equal(*(load_file(str(run / "bank" / "diffusion_pytorch_model.safetensors"))["codebook"]
                         for run in (base, tmp_path / "refresh")))


def test_freeze_refuses_unknown_parts_and_a_missing_start(corpus, tmp_path):
    completed = run_script("--config", str(write_config(tmp_path / "a.yaml", corpus, tmp_path / "a",
                                                        init_from=str(tmp_path), freeze=["voice"])))
    assert completed.returncode == 2
    message = completed.stderr.strip().removeprefix("error: ")
    assert "'voice'" in message and "audio" in message and message.count(".") == 1 and "\n" not in message
    completed = run_script("--config", str(write_config(tmp_path / "b.yaml", corpus, tmp_path / "b",
                                                        freeze=["audio"])))
    assert completed.returncode == 2 and "init_from" in completed.stderr
    completed = run_script("--config", str(write_config(tmp_path / "c.yaml", corpus, tmp_path / "c",
                                                        init_from=str(tmp_path / "nothing"), freeze="audio")))
    assert completed.returncode == 2 and "holds no trained embedder" in completed.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()
