"""ProsodyHead: the published prosody table, mixing, intensity, persistence and training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emostudio.conditioning.bank import EmotionBank, EmotionEmbedding
from emostudio.conditioning.heads import DEFAULT_PROSODY_TABLE, PROSODY_CONTROLS, ProsodyControls, ProsodyHead
from emostudio.conditioning.spec import EmotionSpec
from emostudio.conditioning.taxonomy import CATEGORIES

MIXTURES = ["happy", "sad", "angry:0.6+fearful:0.4", "happy+surprised+contempt", "vad:0.2,0.5,-0.1"]


@pytest.fixture(scope="module")
def bank() -> EmotionBank:
    return EmotionBank().eval()


@pytest.fixture(scope="module")
def head() -> ProsodyHead:
    return ProsodyHead().eval()


def _embed(bank: EmotionBank, texts: list[str], intensity: float | None = None) -> EmotionEmbedding:
    specs = [EmotionSpec.parse(text) for text in texts]
    if intensity is not None:
        specs = [spec.with_intensity(intensity) for spec in specs]
    with torch.no_grad():  # the bank is shared between tests: keep its gradients untouched
        return bank.embed(specs)


def _row(name: str) -> torch.Tensor:
    return torch.tensor(DEFAULT_PROSODY_TABLE[name], dtype=torch.float32)


def _controls(head: ProsodyHead, bank: EmotionBank, text: str) -> ProsodyControls:
    return head.controls(_embed(bank, [text]))[0]


def test_output_shape(head: ProsodyHead, bank: EmotionBank) -> None:
    output = head(_embed(bank, MIXTURES))
    assert output.shape == (len(MIXTURES), len(PROSODY_CONTROLS))


def test_zero_intensity_is_exactly_neutral(head: ProsodyHead, bank: EmotionBank) -> None:
    with torch.no_grad():
        output = head(_embed(bank, MIXTURES, intensity=0.0))
    assert torch.count_nonzero(output) == 0
    assert all(control == ProsodyControls() for control in head.controls(_embed(bank, MIXTURES, intensity=0.0)))


def test_zero_intensity_is_neutral_even_with_a_trained_residual(bank: EmotionBank) -> None:
    head = ProsodyHead()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in head.residual.parameters():
            parameter.normal_(generator=generator)
        assert torch.count_nonzero(head(_embed(bank, MIXTURES, intensity=0.0))) == 0
        assert torch.count_nonzero(head(_embed(bank, ["happy"]))) > 0


@pytest.mark.parametrize("name", CATEGORIES)
def test_full_intensity_category_gives_its_table_row(head: ProsodyHead, bank: EmotionBank, name: str) -> None:
    with torch.no_grad():
        output = head(_embed(bank, [name]))[0]
    torch.testing.assert_close(output, _row(name))


def test_half_half_mixture_averages_two_rows(head: ProsodyHead, bank: EmotionBank) -> None:
    with torch.no_grad():
        output = head(_embed(bank, ["happy:0.5+sad:0.5"]))[0]
    torch.testing.assert_close(output, (_row("happy") + _row("sad")) / 2)


def test_half_intensity_gives_half_the_displacement(head: ProsodyHead, bank: EmotionBank) -> None:
    with torch.no_grad():
        half, full = head(_embed(bank, ["angry:0.5", "angry"]))
    torch.testing.assert_close(half, full / 2)
    torch.testing.assert_close(half, _row("angry") / 2)


RAISE_F0 = ["happy", "angry", "fearful", "surprised"]
LOWER_F0 = ["sad", "disgusted", "contempt"]


@pytest.mark.parametrize("name", RAISE_F0 + LOWER_F0)
def test_published_pitch_direction(head: ProsodyHead, bank: EmotionBank, name: str) -> None:
    shift = _controls(head, bank, name).f0_shift_semitones
    assert shift > 0 if name in RAISE_F0 else shift < 0


@pytest.mark.parametrize(("name", "louder"), [("angry", True), ("happy", True), ("surprised", True),
                                              ("sad", False), ("disgusted", False)])
def test_published_loudness_direction(head: ProsodyHead, bank: EmotionBank, name: str, louder: bool) -> None:
    loudness = _controls(head, bank, name).loudness_db
    assert loudness > 0 if louder else loudness < 0


@pytest.mark.parametrize(("name", "faster"), [("angry", True), ("fearful", True),
                                              ("sad", False), ("disgusted", False)])
def test_published_tempo_direction(head: ProsodyHead, bank: EmotionBank, name: str, faster: bool) -> None:
    controls = _controls(head, bank, name)
    assert controls.tempo_log2 > 0 if faster else controls.tempo_log2 < 0
    assert controls.tempo_factor > 1 if faster else controls.tempo_factor < 1


def test_control_factors() -> None:
    controls = ProsodyControls(f0_shift_semitones=12.0, f0_range_log2=1.0, tempo_log2=-1.0, pause_log2=2.0,
                               variability_log2=0.0)
    assert controls.f0_factor == pytest.approx(2.0)
    assert controls.f0_range_factor == pytest.approx(2.0)
    assert controls.tempo_factor == pytest.approx(0.5)
    assert controls.pause_factor == pytest.approx(4.0)
    assert controls.variability_factor == pytest.approx(1.0)
    assert ProsodyControls.from_vector(controls.as_list()) == controls
    assert len(controls.as_list()) == len(PROSODY_CONTROLS)


def test_save_and_load(bank: EmotionBank, tmp_path: Path) -> None:
    head = ProsodyHead()
    with torch.no_grad():
        head.table.add_(0.5)
        head.table[0].zero_()
        for parameter in head.residual.parameters():
            parameter.add_(0.01)
    head.save_pretrained(tmp_path)
    assert (tmp_path / ProsodyHead.config_name).is_file()
    assert any(path.suffix == ".safetensors" for path in tmp_path.iterdir())
    loaded = ProsodyHead.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.table, head.table)
    embedding = _embed(bank, MIXTURES)
    with torch.no_grad():
        assert torch.equal(loaded(embedding), head.eval()(embedding))


def test_table_is_trainable(bank: EmotionBank) -> None:
    head = ProsodyHead()
    assert head.table.requires_grad
    embedding = _embed(bank, ["happy"])
    loss = head(embedding).pow(2).sum()
    loss.backward()
    grad = head.table.grad
    assert grad is not None
    assert grad[CATEGORIES.index("happy")].abs().sum() > 0
    # only the requested category's row (and not, at full intensity, neutral's) receives a gradient
    assert torch.count_nonzero(grad[CATEGORIES.index("sad")]) == 0
    assert torch.count_nonzero(grad[CATEGORIES.index("neutral")]) == 0


def test_a_gradient_step_moves_the_output_toward_a_target(bank: EmotionBank) -> None:
    head = ProsodyHead()
    embedding = _embed(bank, ["sad"])
    target = torch.zeros(1, len(PROSODY_CONTROLS))
    optimizer = torch.optim.SGD([head.table], lr=0.1)
    before = torch.nn.functional.mse_loss(head(embedding), target)
    before.backward()
    optimizer.step()
    after = torch.nn.functional.mse_loss(head(embedding), target)
    assert after.item() < before.item()


@pytest.mark.parametrize("intensity", [None, 0.0, 0.35, 1.0])
def test_default_tables_give_what_untrained_heads_give(bank: EmotionBank, intensity: float | None) -> None:
    """The torch-free defaults the speech and footage paths use are the untrained heads, number for number."""
    from emostudio.conditioning.controls import default_expression, default_grading, default_prosody
    from emostudio.conditioning.heads import ExpressionHead, GradingHead

    specs = [EmotionSpec.parse(text) for text in MIXTURES]
    if intensity is not None:
        specs = [spec.with_intensity(intensity) for spec in specs]
    embedding = _embed(bank, MIXTURES, intensity)
    for defaults, learned in ((default_prosody(specs), ProsodyHead().controls(embedding)),
                              (default_grading(specs), GradingHead().grading(embedding))):
        assert len(defaults) == len(learned) == len(specs)
        torch.testing.assert_close(torch.tensor([c.as_list() for c in defaults], dtype=torch.float32),
                                   torch.tensor([c.as_list() for c in learned], dtype=torch.float32),
                                   atol=1e-5, rtol=1e-5)
    units = default_expression(specs)
    torch.testing.assert_close(torch.tensor(units, dtype=torch.float32),
                               torch.from_numpy(ExpressionHead().action_units(embedding)), atol=1e-5, rtol=1e-5)
    assert any(control != ProsodyControls() for control in default_prosody(specs)) == (intensity != 0.0)
    assert bool(units.any()) == (intensity != 0.0)


def test_folders_are_interchangeable_with_diffusers_models(tmp_path: Path) -> None:
    """Heads save the files diffusers' ModelMixin saves, and each loads the other's folders."""
    from diffusers import ConfigMixin, ModelMixin
    from diffusers.configuration_utils import register_to_config

    from emostudio.conditioning.heads import CategoryTableHead

    class DiffusersProsodyHead(ModelMixin, ConfigMixin):
        config_name = ProsodyHead.config_name

        @register_to_config
        def __init__(self, categories: tuple[str, ...] = CATEGORIES, embedding_dim: int = 64,
                     hidden_dim: int = 64) -> None:
            super().__init__()
            CategoryTableHead._build(self, [DEFAULT_PROSODY_TABLE[name] for name in categories], embedding_dim,
                                     hidden_dim)

    ours = ProsodyHead(hidden_dim=16)
    with torch.no_grad():
        ours.table.add_(0.25)
    ours.save_pretrained(tmp_path / "ours")
    theirs = DiffusersProsodyHead(hidden_dim=16)
    theirs.save_pretrained(tmp_path / "theirs")
    assert {p.name for p in (tmp_path / "ours").iterdir()} == {p.name for p in (tmp_path / "theirs").iterdir()}

    read_by_diffusers = DiffusersProsodyHead.from_pretrained(tmp_path / "ours")
    assert read_by_diffusers.config.hidden_dim == 16
    assert torch.equal(read_by_diffusers.table, ours.table)
    read_by_us = ProsodyHead.from_pretrained(tmp_path / "theirs")
    assert read_by_us.config.hidden_dim == 16 and not read_by_us.training
    for name, tensor in theirs.state_dict().items():
        assert torch.equal(read_by_us.state_dict()[name], tensor), name


def test_loading_a_folder_without_a_head_says_so(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="does not exist"):
        ProsodyHead.from_pretrained(tmp_path)
