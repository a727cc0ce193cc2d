import json

import pytest
import torch
from torch import nn

from emostudio.conditioning.adapters import SpeakerEmotionConditioner
from emostudio.conditioning.bank import EmotionBank
from emostudio.conditioning.spec import EmotionSpec
from emostudio.errors import EmostudioError
from emostudio.train import common


def _trained_conditioner(dim: int = 16) -> SpeakerEmotionConditioner:
    conditioner = SpeakerEmotionConditioner(speaker_dim=dim, hidden_dim=8)
    torch.manual_seed(0)
    nn.init.normal_(conditioner.to_offset.weight)
    return conditioner


def test_untrained_conditioner_changes_nothing():
    bank = EmotionBank()
    conditioner = SpeakerEmotionConditioner(speaker_dim=16, hidden_dim=8)
    speaker = torch.randn(16)
    out = conditioner(speaker, bank.embed(EmotionSpec.parse("angry:0.9")))
    assert torch.equal(out[0], speaker)


def test_intensity_zero_and_scale_zero_are_noops_but_emotion_moves_speaker():
    bank = EmotionBank()
    conditioner = _trained_conditioner()
    speaker = torch.randn(2, 16)
    calm = bank.embed([EmotionSpec.parse("happy:0"), EmotionSpec.parse("sad:0")])
    assert torch.equal(conditioner(speaker, calm), speaker)
    strong = bank.embed([EmotionSpec.parse("happy:1"), EmotionSpec.parse("sad:1")])
    assert torch.equal(conditioner(speaker, strong, scale=0.0), speaker)
    moved = conditioner(speaker, strong) - speaker
    assert moved.abs().sum() > 0
    half = conditioner(speaker, bank.embed([EmotionSpec.parse("happy:0.5"), EmotionSpec.parse("sad:0.5")])) - speaker
    # Intensity scales the emotion offset (and nothing else): same direction, half the length.
    torch.testing.assert_close(half * 2, moved, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(moved[0], moved[1])
    # Plain neutral is no emotion at all; a neutral share dilutes the emotion it is mixed with.
    assert torch.equal(conditioner(speaker[:1], bank.embed(EmotionSpec.parse("neutral"))), speaker[:1])
    diluted = conditioner(speaker[:1], bank.embed(EmotionSpec.parse("happy:0.5+neutral:0.5"))) - speaker[:1]
    assert 0 < diluted.norm() < moved[0].norm()


def test_conditioner_round_trips_through_safetensors(tmp_path):
    bank = EmotionBank()
    conditioner = _trained_conditioner()
    conditioner.save_pretrained(tmp_path)
    assert list(tmp_path.glob("*.safetensors"))
    loaded = SpeakerEmotionConditioner.from_pretrained(tmp_path)
    emotion = bank.embed(EmotionSpec.parse("surprised:0.8"))
    speaker = torch.randn(16)
    torch.testing.assert_close(loaded(speaker, emotion), conditioner(speaker, emotion))


def test_lora_saved_apart_from_base_and_loaded(tmp_path):
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    tuned = common.add_lora(base, ["0", "2"], rank=2)
    for name, parameter in tuned.named_parameters():
        if "lora_B" in name:
            nn.init.normal_(parameter)
    x = torch.randn(3, 4)
    expected = tuned(x)
    common.save_lora(tuned, tmp_path, ["0", "2"], rank=2)
    fresh = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    fresh.load_state_dict(before)
    assert common.load_lora(fresh, tmp_path)
    torch.testing.assert_close(fresh(x), expected)
    from safetensors.torch import load_file
    assert all("lora_" in key for key in load_file(str(tmp_path / "lora.safetensors")))


def test_open_run_refuses_missing_other_kind_and_incomplete(tmp_path):
    with pytest.raises(EmostudioError, match="does not exist"):
        common.open_run(tmp_path / "nope", "tts")
    common.mark_run(tmp_path, "voice", base="x")
    with pytest.raises(EmostudioError, match="'voice' model"):
        common.open_run(tmp_path, "tts")
    with pytest.raises(EmostudioError, match="incomplete"):
        common.open_run(tmp_path, ("tts", "voice"), required=("model",))
    assert common.open_run(tmp_path, "voice")["base"] == "x"
    assert json.loads((tmp_path / common.RUN_KIND_FILE).read_text())["kind"] == "voice"


def test_validation_hook_runs_when_due():
    assert common.is_due(10, 5) and not common.is_due(11, 5) and not common.is_due(0, 5)
    assert not common.is_due(10, None)
