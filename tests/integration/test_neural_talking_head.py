"""The neural talking head end to end on tiny models: training, exact resume, face LoRA, the CLI to an MP4 with sound."""

import json
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file

from emostudio.generation.face.talking_head import talk
from emostudio.generation.media import read_video_info
from emostudio.train.data.manifest import Clip, write_manifest
from emostudio.ui.cli import main

TINY = {"resolution": 32, "fps": 8.0, "frames_per_sample": 4, "batch_size": 2, "max_steps": 2, "vae_steps": 1,
        "vae_batch_frames": 4, "checkpointing_steps": 1, "checkpoints_total_limit": None, "report_to": "none",
        "validation_steps": 0, "num_inference_steps": 1, "window_frames": 4, "overlap_frames": 1,
        "learning_rate": 0.001}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two short clips of one face (neutral and happy) rendered by the embedded talking head."""
    folder = tmp_path_factory.mktemp("corpus")
    clips = []
    for emotion, text in (("neutral", "Good morning to you."), ("happy", "What a lovely day.")):
        path = folder / f"{emotion}.mp4"
        talk(path, text=text, emotion=emotion, size=128, fps=12.5, seed=0)
        clips.append(Clip(emotion, None, str(path), "test:astronaut", emotion, 0.0 if emotion == "neutral" else 1.0,
                          text, "train", "test"))
    return write_manifest(clips, folder / "manifest.jsonl")


def _config(folder, **settings):
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({**TINY, **settings}))
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    # Close-ups of the face, as the tiny recipe trains; the face LoRA and talk frame the face the same way.
    config = _config(folder, manifest=str(corpus), max_steps=4, checkpointing_steps=2, face_scale=1.3)
    run = folder / "model"
    assert main(["train", "talking-head", "--config", str(config), "--output-dir", str(run)]) == 0
    return run


def _weights(run, part="adapter"):
    return load_file(str(next((run / part).glob("*.safetensors"))))


def test_training_writes_a_run_and_resumes_exactly(trained, tmp_path):
    record = json.loads((trained / "emostudio_run.json").read_text())
    assert record["kind"] == "talking-head" and record["resolution"] == 32 and record["face_scale"] == 1.3
    history = [json.loads(line) for line in (trained / "loss_history.jsonl").read_text().splitlines()]
    assert [row["step"] for row in history] == [1, 2, 3, 4]
    assert all(row["loss"] > 0 and "emotion" in row and "diffusion" in row for row in history)
    final = _weights(trained)
    # The adapter's outputs left zero: training moved them.
    assert any(torch.count_nonzero(v) for k, v in final.items() if "to_out" in k)
    # The bank learned with them (its prototypes and token projections moved from their start).
    from emostudio.conditioning import EmotionBank

    start = EmotionBank(slot_projections=True).state_dict()
    bank = _weights(trained, "emotion_bank")
    assert not torch.equal(bank["slot_projection"], start["slot_projection"])
    assert not torch.equal(bank["prototype_mean"], start["prototype_mean"])

    resumed = tmp_path / "resumed"
    shutil.copytree(trained, resumed, ignore=shutil.ignore_patterns("checkpoint-4", "adapter", "emotion_bank", "unet"))
    config = _config(tmp_path, manifest=json.loads((trained / "config.json").read_text())["manifest"], max_steps=4,
                     checkpointing_steps=2, face_scale=1.3)
    assert main(["train", "talking-head", "--config", str(config), "--output-dir", str(resumed),
                 "--resume-from-checkpoint", "latest"]) == 0
    for part in ("adapter", "emotion_bank"):
        final, again = _weights(trained, part), _weights(resumed, part)
        assert final.keys() == again.keys()
        for key in final:
            torch.testing.assert_close(again[key], final[key], rtol=0, atol=0)


def test_cli_talks_with_the_diffusion_backend(trained, tmp_path):
    output = tmp_path / "clip.mp4"
    assert main(["talk", "--backend", "diffusion", "--model", str(trained), "--text", "Hello there.",
                 "--emotion", "happy", "--size", "128", "--fps", "8", "--seed", "0", "-o", str(output)]) == 0
    info = read_video_info(output)
    assert info["has_audio"] and info["width"] == 128 and info["frames"] >= 4
    from emostudio.generation.provenance import read_credentials

    credentials = read_credentials(output)
    assert credentials.valid and "diffusion talking head" in credentials.generator


def test_face_lora_trains_on_a_video_and_is_used(trained, corpus, tmp_path):
    video = corpus.parent / "happy.mp4"
    config = _config(tmp_path, base_run=str(trained), lora_rank=2, max_steps=1, emotion_loss_weight=0.0)
    face = tmp_path / "face"
    assert main(["train", "talking-head", "--config", str(config), "--video", str(video),
                 "--output-dir", str(face)]) == 0
    assert (face / "lora" / "lora.safetensors").is_file()
    output = tmp_path / "face.mp4"
    assert main(["talk", "--backend", "diffusion", "--model", str(trained), "--lora", str(face), "--audio",
                 str(video), "--size", "128", "--fps", "8", "--steps", "1", "-o", str(output)]) == 0
    assert read_video_info(output)["has_audio"]


def test_bad_input_is_one_sentence_before_anything_loads(trained, corpus, tmp_path, capsys):
    output = tmp_path / "out.mp4"
    other = tmp_path / "other"
    from emostudio.generation.runs import mark_run

    mark_run(other, "tts")
    incomplete = tmp_path / "incomplete"
    shutil.copytree(trained, incomplete, ignore=shutil.ignore_patterns("checkpoint-*", "adapter"))
    foreign_lora = tmp_path / "foreign"
    mark_run(foreign_lora, "talking-head-face", base_run_id="another")
    (foreign_lora / "lora").mkdir()
    for name in ("lora.safetensors", "lora_config.json"):
        (foreign_lora / "lora" / name).write_text("{}")
    cases = [
        (["--backend", "diffusion"], "needs --model"),
        (["--backend", "diffusion", "--model", str(tmp_path / "missing")], "does not exist"),
        (["--backend", "diffusion", "--model", str(other)], "'tts' model"),
        (["--backend", "diffusion", "--model", str(incomplete)], "incomplete"),
        (["--backend", "diffusion", "--model", str(trained), "--lora", str(foreign_lora)], "another model"),
        (["--lora", str(foreign_lora)], "for --backend diffusion"),
    ]
    for arguments, message in cases:
        assert main(["talk", "--text", "Hi.", *arguments, "-o", str(output)]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
        assert not output.exists()

    bad_key = tmp_path / "bad.yaml"
    bad_key.write_text("resolution: 32\nwindow_size: 4\n")
    with pytest.raises(SystemExit, match="2"):
        main(["train", "talking-head", "--config", str(bad_key), "--output-dir", str(tmp_path / "x")])
    assert "window_size" in capsys.readouterr().err and not (tmp_path / "x").exists()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(corpus.read_text().replace("happy.mp4", "gone.mp4"))
    config = _config(tmp_path, manifest=str(broken))
    with pytest.raises(SystemExit, match="2"):
        main(["train", "talking-head", "--config", str(config), "--output-dir", str(tmp_path / "y")])
    assert "gone.mp4" in capsys.readouterr().err and not (tmp_path / "y").exists()
    with pytest.raises(SystemExit, match="2"):
        main(["train", "talking-head", "--config", str(_config(tmp_path, lora_rank=2)), "--video",
              str(corpus.parent / "happy.mp4"), "--output-dir", str(tmp_path / "z")])
    assert "base_run" in capsys.readouterr().err and not (tmp_path / "z").exists()


def test_batch_runs_talk_jobs_on_the_diffusion_backend(trained, tmp_path):
    from emostudio.ui.batch import load_jobs, run_batch

    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "a", "task": "talk", "text": "Hello.", "emotion": "sad", "size": 128,
                                "fps": 8, "backend": "diffusion", "model": str(trained)}) + "\n")
    summary = run_batch(jobs, tmp_path / "out")
    assert summary.done == 1 and read_video_info(tmp_path / "out" / "a.mp4")["has_audio"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "b", "task": "speak", "text": "Hi.", "backend": "diffusion",
                               "model": str(trained)}) + "\n"
                   + json.dumps({"id": "c", "task": "talk", "text": "Hi.", "backend": "diffusion"}) + "\n")
    with pytest.raises(Exception, match="(?s)is for talk jobs.*needs model"):
        load_jobs(bad)
