"""The neural speech backend, its training and voice recipes, on tiny real models trained here."""

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from emostudio.errors import EmostudioError
from emostudio.generation.media import read_metadata
from emostudio.generation.runs import RUN_KIND_FILE
from emostudio.generation.speech.neural import NeuralSpeechBackend, locate_run
from emostudio.train import tts, voice
from emostudio.train.common import load_config

TINY = dict(batch_size=8, learning_rate=0.003, report_to="none", hidden_size=32, layers=1, conditioner_hidden=16,
            vocoder_channels=16, vocoder_crop_frames=8, synthetic_voices=2, synthetic_sentences=1,
            checkpointing_steps=1, checkpoints_total_limit=3, validation_steps=0)
TEXT = "[happy] Good morning. [sad] I have bad news."


def _tts_config(output, **overrides):
    return load_config(tts.TTSConfig, None, output_dir=str(output), **{**TINY, **overrides})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return tts.synthesize_speech_corpus(folder, voices=2, sentences=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, corpus):
    output = tmp_path_factory.mktemp("tts")
    tts.train(_tts_config(output, manifest=str(corpus), max_steps=3, validation_steps=3))
    return output


def test_training_writes_a_complete_run_with_validation_audio(run_dir):
    assert json.loads((run_dir / RUN_KIND_FILE).read_text())["kind"] == "tts"
    for name in ("model", "vocoder", "tokenizer/spm_char.model", "conditioner", "speakers.safetensors"):
        assert (run_dir / name).exists(), name
    assert sorted(load_file(str(run_dir / "speakers.safetensors"))) == ["synthetic:joe", "synthetic:low"]
    assert len(list((run_dir / "validation").glob("step-000003-*.wav"))) == 4
    steps = [json.loads(line)["step"] for line in (run_dir / "loss_history.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_resume_continues_exactly(tmp_path, corpus):
    import shutil

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    tts.train(_tts_config(straight, manifest=str(corpus), max_steps=3))
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint-2", resumed / "checkpoint-2")
    (resumed / "loss_history.jsonl").write_text("".join((straight / "loss_history.jsonl").read_text()
                                                        .splitlines(keepends=True)[:2]))
    tts.train(_tts_config(resumed, manifest=str(corpus), max_steps=3, resume_from_checkpoint="latest"))
    losses = [[json.loads(line)["loss"] for line in (run / "loss_history.jsonl").read_text().splitlines()]
              for run in (straight, resumed)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    a, b = (load_file(str(run / "speakers.safetensors")) for run in (straight, resumed))
    for name in a:
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=1e-5, atol=1e-6)


def test_timeline_speaks_each_segment_with_its_own_emotion(run_dir):
    backend = NeuralSpeechBackend(run_dir)
    result = backend.speak(TEXT, seed=3)
    assert [s.spec.label for s in result.segments] == ["happy", "sad"]
    first, second = result.segments
    assert 0.0 == first.start < first.end < second.start < second.end
    assert second.end == pytest.approx(result.duration, abs=0.02)
    assert [w.label for w in result.words] == ["Good", "morning.", "I", "have", "bad", "news."]
    assert all(first.start <= w.start < w.end <= second.end for w in result.words)
    assert result.phonemes and result.phonemes[0].start == pytest.approx(0.0)
    assert result.sample_rate == 16000 and np.isfinite(result.waveform).all()
    np.testing.assert_array_equal(result.waveform, backend.speak(TEXT, seed=3).waveform)
    # The emotion reaches the model (barely trained here, so only "not identical" is asked).
    happy = backend.speak("Good morning.", "happy", seed=3).waveform
    sad = backend.speak("Good morning.", "sad", seed=3).waveform
    assert happy.shape != sad.shape or not np.array_equal(happy, sad)


def test_intensity_zero_is_the_plain_voice(run_dir):
    backend = NeuralSpeechBackend(run_dir)
    plain = backend.speak("Good morning.", "neutral", seed=1).waveform
    np.testing.assert_array_equal(backend.speak("Good morning.", "angry:0", seed=1).waveform, plain)
    unscaled = NeuralSpeechBackend(run_dir, emotion_scale=0.0)
    np.testing.assert_array_equal(unscaled.speak("Good morning.", "angry", seed=1).waveform, plain)


def test_bad_model_folders_fail_in_one_sentence(run_dir, tmp_path):
    with pytest.raises(EmostudioError, match="does not exist"):
        locate_run(tmp_path / "missing")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / RUN_KIND_FILE).write_text((run_dir / RUN_KIND_FILE).read_text())
    with pytest.raises(EmostudioError, match="incomplete"):
        NeuralSpeechBackend(partial)
    other = tmp_path / "other"
    other.mkdir()
    (other / RUN_KIND_FILE).write_text(json.dumps({"kind": "grading"}))
    with pytest.raises(EmostudioError, match="'grading' model"):
        NeuralSpeechBackend(other)
    with pytest.raises(EmostudioError, match="cannot encode"):
        NeuralSpeechBackend(run_dir).speak("Ωμέγα ☃")


def test_new_voice_end_to_end(run_dir, tmp_path):
    output = tmp_path / "voice"
    config = load_config(voice.VoiceConfig, None, base=str(run_dir), output_dir=str(output), max_steps=2,
                         batch_size=4, report_to="none", own_voice_sentences=3, checkpointing_steps=1)
    voice.train(config)
    record = json.loads((output / RUN_KIND_FILE).read_text())
    assert record["kind"] == "voice" and record["base_run_id"] == json.loads((run_dir / RUN_KIND_FILE).read_text())[
        "run_id"]
    learned = load_file(str(output / "speakers.safetensors"))["new-voice"]
    known = load_file(str(run_dir / "speakers.safetensors"))
    mean = sum(known.values()) / len(known)
    assert (learned - mean).abs().max() > 0  # trained away from its starting point
    result = NeuralSpeechBackend(output).speak(TEXT, seed=0)
    assert [s.spec.label for s in result.segments] == ["happy", "sad"]
    # Resume from the voice run's own checkpoint.
    voice.train(load_config(voice.VoiceConfig, None, base=str(run_dir), output_dir=str(output), max_steps=3,
                            batch_size=4, report_to="none", own_voice_sentences=3, checkpointing_steps=1,
                            resume_from_checkpoint="latest"))
    assert (output / "checkpoint-3").is_dir()
    # A voice whose base was retrained is refused.
    stale = json.loads((output / RUN_KIND_FILE).read_text())
    stale["base_run_id"] = "another"
    (output / RUN_KIND_FILE).write_text(json.dumps(stale))
    with pytest.raises(EmostudioError, match="another tts run"):
        NeuralSpeechBackend(output)


def test_recordings_are_checked_before_training(run_dir, tmp_path):
    from emostudio.generation.media import write_audio

    folder = tmp_path / "recordings"
    folder.mkdir()
    write_audio(folder / "a.wav", np.zeros(16000, np.float32), 16000)
    config = load_config(voice.VoiceConfig, None, base=str(run_dir), output_dir=str(tmp_path / "out"),
                         recordings=str(folder), report_to="none")
    with pytest.raises(EmostudioError, match="a.wav has no transcript"):
        voice.train(config)
    (folder / "a.txt").write_text("Good morning.")
    with pytest.raises(EmostudioError, match="silent"):
        voice.train(config)


def test_cli_speaks_with_the_neural_backend(run_dir, tmp_path, capsys):
    from emostudio.ui.batch import run_batch
    from emostudio.ui.cli import main

    out = tmp_path / "out.wav"
    assert main(["speak", "--backend", "neural", "--model", str(run_dir), TEXT, "-o", str(out), "--seed", "0"]) == 0
    assert "neural/speecht5" in json.dumps(read_metadata(out))
    missing = tmp_path / "no.wav"
    assert main(["speak", "--backend", "neural", "--model", str(tmp_path / "nope"), "Hi.", "-o", str(missing)]) == 2
    assert main(["speak", "--backend", "neural", "Hi.", "-o", str(missing)]) == 2
    assert not missing.exists()
    assert "--model" in capsys.readouterr().err
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "n1", "task": "speak", "text": "Good morning.", "emotion": "sad",
                                "backend": "neural", "model": str(run_dir), "seed": 0}) + "\n")
    summary = run_batch(jobs, tmp_path / "batch")
    assert summary.done == 1 and (tmp_path / "batch" / "n1.wav").is_file()


def test_talk_speaks_its_text_with_the_neural_backend(run_dir, tmp_path):
    from emostudio.ui.cli import main

    out = tmp_path / "talk.mp4"
    assert main(["talk", "--text", "Good morning.", "--model", str(run_dir), "--size", "128", "--seed", "0",
                 "-o", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0


def test_app_speak_tab_offers_the_configured_neural_model(run_dir, tmp_path):
    from emostudio.ui.app import NEURAL_CHOICE, Handlers, build_app
    from emostudio.ui.studio import Studio

    studio = Studio(work_dir=tmp_path, speech_model=run_dir)
    handlers = Handlers(studio)
    path, summary = handlers.speak("Good morning.", "category", "sad", 1.0, None, None, 0, NEURAL_CHOICE)
    assert "neural/speecht5" in json.dumps(read_metadata(path))
    assert NeuralSpeechBackend(run_dir).speak("Good morning.", "sad", seed=0).waveform.shape[0] / 16000 == \
        pytest.approx(float(summary.split("**")[1].split()[0]), abs=0.06)
    app = build_app(studio)
    radios = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "speak-backend"]
    assert radios and radios[0].visible


def test_frozen_pretrained_base_trains_conditioner_and_lora(run_dir, corpus, tmp_path):
    import shutil

    from safetensors.torch import load_file as load

    pretrained = tmp_path / "pretrained"  # stands in for a local microsoft/speecht5_tts
    shutil.copytree(run_dir / "model", pretrained)
    for file in (run_dir / "tokenizer").iterdir():
        shutil.copy(file, pretrained / file.name)
    output = tmp_path / "tuned"
    tts.train(_tts_config(output, manifest=str(corpus), max_steps=2, base_model=str(pretrained),
                          base_vocoder=str(run_dir / "vocoder"), lora_rank=2))
    base = load(str(pretrained / "model.safetensors"))
    saved = load(str(output / "model" / "model.safetensors"))
    assert all(torch_equal(base[k], saved[k]) for k in base)  # the backbone stayed frozen
    lora = load(str(output / "lora" / "lora.safetensors"))
    assert lora and any(float(v.abs().sum()) > 0 for k, v in lora.items() if "lora_B" in k)
    backend = NeuralSpeechBackend(output)
    result = backend.speak(TEXT, seed=0)
    assert [s.spec.label for s in result.segments] == ["happy", "sad"]
    assert any("lora" in name for name, _ in backend.backbone.model.named_modules())


def torch_equal(a, b) -> bool:
    return bool((a == b).all())
