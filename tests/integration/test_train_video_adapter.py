"""The tiny video-adapter recipe: synthetic corpus, training steps, exact resume, and generation from the CLI."""

import json

import pytest
import torch
import yaml

from emostudio.generation.provenance import read_credentials
from emostudio.generation.runs import mark_run
from emostudio.train.video_adapter import synthesize_video_corpus
from emostudio.ui.cli import main

PROMPT = "a street at night"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors this small run fastest on one thread (and leave the other cores to other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_corpus")
    return synthesize_video_corpus(folder, scenes=2, emotions=("neutral", "fearful"), size=64)


def _config(folder, corpus, **overrides):
    settings = {"manifest": str(corpus), "max_steps": 3, "batch_size": 2, "checkpointing_steps": 1,
                "checkpoints_total_limit": 2, "validation_steps": 3, "inference_steps": 2, "cpu_threads": 1,
                **overrides}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def _history(run):
    return [json.loads(line) for line in (run / "loss_history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_run")
    assert main(["train", "video-adapter", "--config", str(_config(folder, corpus)), "--output-dir",
                 str(folder / "run")]) == 0
    return folder / "run"


def test_the_corpus_is_graded_footage_with_captions_and_labels(corpus):
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    assert {row["emotion"] for row in rows} == {"neutral", "fearful"}
    assert all(row["video"] and row["text"] for row in rows)
    assert {row["split"] for row in rows} == {"train", "val"}


def test_training_checkpoints_with_a_limit_and_resumes_exactly(run):
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert list((run / "logs").rglob("events.out.tfevents.*"))
    for part in ("adapter", "bank", "backbone", "emostudio_run.json", "generation.json"):
        assert (run / part).exists(), part
    renders = sorted(p.name for p in (run / "validation").glob("*.mp4"))
    assert renders == [f"step-000003-{name}.mp4" for name in ("fearful", "happy", "neutral", "sad")]
    assert json.loads((run / "metrics.json").read_text())["validation_fearful_lightness"] > 0
    first = _history(run)
    assert [row["step"] for row in first] == [1, 2, 3]
    assert {"flow", "emotion", "reconstruction", "loss"} <= set(first[0])

    config = run.parent / "config.yaml"
    assert main(["train", "video-adapter", "--config", str(config), "--output-dir", str(run),
                 "--resume-from-checkpoint", str(run / "checkpoint-2")]) == 0
    resumed = _history(run)[len(first):]
    assert [row["step"] for row in resumed] == [3]
    assert resumed[0]["loss"] == pytest.approx(first[2]["loss"], rel=1e-5)


def test_the_cli_generates_a_signed_clip_from_the_run(run, tmp_path, capsys):
    out = tmp_path / "street.mp4"
    assert main(["style", "--backend", "neural", "--model", str(run), "--prompt", PROMPT, "--emotion", "fearful",
                 "--size", "64", "-o", str(out)]) == 0
    assert "64x64" in capsys.readouterr().out
    credentials = read_credentials(out)
    assert credentials.valid and "fearful" in credentials.emotion and "Wan2.1" in credentials.generator


@pytest.mark.parametrize("case", ["no model", "no prompt", "missing model", "other kind", "input given",
                                  "unknown emotion", "model without neural"])
def test_bad_neural_input_is_one_sentence_exit_2_and_no_file(case, run, tmp_path, capsys):
    speech = tmp_path / "speech_run"
    mark_run(speech, "tts")
    base = ["style", "--backend", "neural", "--model", str(run), "--prompt", PROMPT]
    arguments, words = {
        "no model": (["style", "--backend", "neural", "--prompt", PROMPT], "needs --model"),
        "no prompt": (["style", "--backend", "neural", "--model", str(run)], "--prompt"),
        "missing model": (["style", "--backend", "neural", "--model", str(tmp_path / "nowhere"), "--prompt", PROMPT],
                          "does not exist"),
        "other kind": (["style", "--backend", "neural", "--model", str(speech), "--prompt", PROMPT], "'tts'"),
        "input given": ([*base, str(tmp_path / "clip.mp4")], "drop INPUT"),
        "unknown emotion": ([*base, "--emotion", "blorp"], "blorp"),
        "model without neural": (["style", str(tmp_path / "clip.mp4"), "--model", str(run)], "--backend neural"),
    }[case]
    out = tmp_path / "out.mp4"
    capsys.readouterr()
    assert main([*arguments, "-o", str(out)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert not out.exists()
