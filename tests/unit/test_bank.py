"""EmotionBank: prototype geometry, embedding, persistence and sampling."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch

from emostudio.conditioning.bank import EmotionBank, EmotionEmbedding
from emostudio.conditioning.spec import EmotionSpec
from emostudio.conditioning.taxonomy import CATEGORIES, CATEGORY_VAD

SPECS = ["happy", "sad:0.6", "angry:0.4+disgusted:0.3", "vad:0.2,0.5,-0.1", "neutral"]


@pytest.fixture(scope="module")
def bank() -> EmotionBank:
    return EmotionBank().eval()


def _specs(texts: list[str]) -> list[EmotionSpec]:
    return [EmotionSpec.parse(text) for text in texts]


def _mean(bank: EmotionBank, name: str) -> torch.Tensor:
    return bank.prototype_mean[bank.categories.index(name)].detach()


def test_default_construction_is_deterministic(bank: EmotionBank) -> None:
    other = EmotionBank()
    state, other_state = bank.state_dict(), other.state_dict()
    assert state.keys() == other_state.keys()
    for name, tensor in state.items():
        assert torch.equal(tensor, other_state[name]), name


def test_seed_changes_the_parameters(bank: EmotionBank) -> None:
    other = EmotionBank(seed=1)
    assert not torch.equal(bank.codebook, other.codebook)
    assert not torch.equal(bank.vad_projection, other.vad_projection)


@pytest.mark.parametrize("prior_scale", [1.0, 2.5])
def test_prototypes_are_an_isometry_of_vad(prior_scale: float) -> None:
    bank = EmotionBank(prior_scale=prior_scale)
    for first, second in combinations(CATEGORIES, 2):
        embedded = torch.dist(_mean(bank, first), _mean(bank, second)).item()
        vad = float(np.linalg.norm(np.subtract(CATEGORY_VAD[first], CATEGORY_VAD[second])))
        assert embedded == pytest.approx(prior_scale * vad, rel=1e-5, abs=1e-6), (first, second)


def test_projection_has_orthonormal_columns(bank: EmotionBank) -> None:
    projection = bank.vad_projection
    assert projection.shape == (bank.config.embedding_dim, 3)
    torch.testing.assert_close(projection.T @ projection, torch.eye(3), atol=1e-5, rtol=0)


def test_neutral_prototype_is_the_origin(bank: EmotionBank) -> None:
    assert torch.count_nonzero(_mean(bank, "neutral")) == 0


def test_related_emotions_lie_closer(bank: EmotionBank) -> None:
    def distance(a: str, b: str) -> float:
        return torch.dist(_mean(bank, a), _mean(bank, b)).item()

    assert distance("angry", "disgusted") < distance("angry", "happy")
    assert distance("happy", "surprised") < distance("happy", "sad")


@pytest.mark.parametrize(("config", "dim", "tokens"), [({}, 64, 4),
                                                     ({"embedding_dim": 32, "num_codes": 16, "num_tokens": 2},
                                                      32, 2)])
def test_embed_shapes(config: dict[str, int], dim: int, tokens: int) -> None:
    bank = EmotionBank(**config)
    specs = _specs(SPECS)
    embedding = bank.embed(specs)
    batch, categories = len(specs), len(CATEGORIES)
    assert isinstance(embedding, EmotionEmbedding)
    assert len(embedding) == batch
    assert embedding.vector.shape == (batch, dim)
    assert embedding.logvar.shape == (batch, dim)
    assert embedding.tokens.shape == (batch, tokens, dim)
    assert embedding.vad.shape == (batch, 3)
    assert embedding.weights.shape == (batch, categories)
    assert embedding.intensity.shape == (batch,)
    assert torch.isfinite(embedding.tokens).all()


def test_embed_of_a_single_spec_is_a_batch_of_one(bank: EmotionBank) -> None:
    embedding = bank.embed(EmotionSpec.parse("happy"))
    assert embedding.vector.shape == (1, bank.config.embedding_dim)


def test_embed_carries_the_spec(bank: EmotionBank) -> None:
    specs = _specs(SPECS)
    embedding = bank.embed(specs)
    for row, spec in enumerate(specs):
        np.testing.assert_allclose(embedding.weights[row].numpy(), spec.weight_vector(), atol=1e-7)
        assert embedding.intensity[row].item() == pytest.approx(spec.intensity)
        np.testing.assert_allclose(embedding.vad[row].detach().numpy(), spec.vad, atol=1e-6)


def test_full_intensity_category_is_its_prototype(bank: EmotionBank) -> None:
    embedding = bank.embed(EmotionSpec.parse("angry"))
    torch.testing.assert_close(embedding.vector[0], _mean(bank, "angry"))


@pytest.mark.parametrize("text", ["happy", "angry:0.4+disgusted:0.3", "fearful+surprised"])
def test_zero_intensity_is_exactly_the_neutral_prototype(bank: EmotionBank, text: str) -> None:
    neutral = bank.categories.index("neutral")
    embedding = bank.embed(EmotionSpec.parse(text).with_intensity(0.0))
    assert torch.equal(embedding.vector[0], bank.prototype_mean[neutral])
    assert torch.equal(embedding.logvar[0], bank.prototype_logvar[neutral])
    assert torch.count_nonzero(embedding.vad) == 0
    reference = bank.embed(EmotionSpec.neutral())
    assert torch.equal(embedding.tokens, reference.tokens)


def test_half_half_mixture_is_the_average(bank: EmotionBank) -> None:
    mixture, happy, sad = bank.embed(_specs(["happy:0.5+sad:0.5", "happy", "sad"])).vector
    torch.testing.assert_close(mixture, (happy + sad) / 2, atol=1e-6, rtol=0)


def test_intensity_scales_the_displacement(bank: EmotionBank) -> None:
    half, full = bank.embed(_specs(["angry:0.5", "angry"])).vector
    torch.testing.assert_close(half, full / 2, atol=1e-6, rtol=0)


def test_tokens_differ_between_emotions(bank: EmotionBank) -> None:
    tokens = bank.embed(_specs(list(CATEGORIES))).tokens.detach()
    for first, second in combinations(range(len(CATEGORIES)), 2):
        assert not torch.allclose(tokens[first], tokens[second], atol=1e-3), (CATEGORIES[first], CATEGORIES[second])


def test_tokens_depend_on_intensity(bank: EmotionBank) -> None:
    weak, strong = bank.embed(_specs(["happy:0.2", "happy"])).tokens.detach()
    assert not torch.allclose(weak, strong, atol=1e-3)


def _slot_similarity(tokens: torch.Tensor) -> float:
    """The largest cosine similarity between two different tokens of one embedding (N, D)."""
    unit = torch.nn.functional.normalize(tokens - tokens.mean(-1, keepdim=True), dim=-1)
    similarity = unit @ unit.T
    return float(similarity[~torch.eye(len(tokens), dtype=torch.bool)].max())


def test_slot_projections_make_the_tokens_of_one_emotion_differ(tmp_path: Path) -> None:
    specs = _specs(["angry", "happy"])
    plain = EmotionBank().eval().embed(specs).tokens.detach()
    slotted_bank = EmotionBank(slot_projections=True).eval()
    slotted = slotted_bank.embed(specs).tokens.detach()
    # Without them the codebook's atoms are too alike: every token of an emotion is the same token.
    assert min(_slot_similarity(t) for t in plain) > 0.99
    assert max(_slot_similarity(t) for t in slotted) < 0.9
    loaded = _assert_round_trip(slotted_bank, tmp_path / "slotted")
    assert loaded.slot_projection is not None


def test_posterior_of_each_prototype_is_its_own_category(bank: EmotionBank) -> None:
    posterior = bank.posterior(bank.prototype_mean.detach())
    assert posterior.shape == (len(CATEGORIES), len(CATEGORIES))
    torch.testing.assert_close(posterior.sum(-1), torch.ones(len(CATEGORIES)))
    assert torch.equal(posterior.argmax(-1), torch.arange(len(CATEGORIES)))


def test_sample_is_reproducible_with_a_seeded_generator(bank: EmotionBank) -> None:
    embedding = bank.embed(_specs(["happy", "sad:0.5"]))
    first = bank.sample(embedding, torch.Generator().manual_seed(7))
    again = bank.sample(embedding, torch.Generator().manual_seed(7))
    other = bank.sample(embedding, torch.Generator().manual_seed(8))
    assert first.shape == embedding.vector.shape
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # draws stay within a few prior standard deviations (0.15) of the mean
    assert (first - embedding.vector).abs().max().item() < 6 * bank.config.prior_std


def _assert_round_trip(bank: EmotionBank, directory: Path) -> EmotionBank:
    bank.save_pretrained(directory)
    files = {path.name for path in directory.iterdir()}
    assert any(name.endswith(".safetensors") for name in files)
    assert EmotionBank.config_name in files
    config = json.loads((directory / EmotionBank.config_name).read_text())
    assert config["embedding_dim"] == bank.config.embedding_dim

    loaded = EmotionBank.from_pretrained(directory).eval()
    assert loaded.categories == bank.categories
    for name, tensor in bank.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    specs = _specs(SPECS)
    with torch.no_grad():
        assert torch.equal(bank.eval().embed(specs).tokens, loaded.embed(specs).tokens)
    return loaded


def test_save_and_load_default_bank(bank: EmotionBank, tmp_path: Path) -> None:
    _assert_round_trip(bank, tmp_path / "bank")


def test_save_and_load_custom_changed_bank(tmp_path: Path) -> None:
    bank = EmotionBank(embedding_dim=32, num_codes=16, num_tokens=2, prior_scale=1.5, seed=3)
    with torch.no_grad():
        bank.codebook.add_(torch.randn(bank.codebook.shape, generator=torch.Generator().manual_seed(11)))
        bank.token_queries.mul_(5.0)
    loaded = _assert_round_trip(bank, tmp_path / "custom")
    assert loaded.config.num_codes == 16 and loaded.config.num_tokens == 2
    assert loaded.codebook.shape == (16, 32)
    # the loaded bank holds the changed parameters, not a fresh initialisation
    assert not torch.equal(loaded.codebook, EmotionBank(embedding_dim=32, num_codes=16, num_tokens=2,
                                                        prior_scale=1.5, seed=3).codebook)


def test_load_casts_to_the_asked_dtype_and_reports_device_like_diffusers_models(bank: EmotionBank,
                                                                                 tmp_path: Path) -> None:
    # Pipelines read .device/.dtype of their components and pass torch_dtype when loading.
    bank.save_pretrained(tmp_path / "bank")
    loaded = EmotionBank.from_pretrained(tmp_path / "bank", torch_dtype=torch.float64)
    assert loaded.dtype == torch.float64 and loaded.codebook.dtype == torch.float64
    assert loaded.device == torch.device("cpu")
    assert torch.allclose(loaded.codebook, bank.codebook.double())


@pytest.mark.parametrize("text", ["happy:0.6", "sad:0.8", "angry", "surprised:0.7", "neutral"])
def test_points_the_bank_made_read_back_as_their_emotion(text: str) -> None:
    bank = EmotionBank()
    spec = EmotionSpec.parse(text)
    with torch.no_grad():
        embedding = bank.embedding_from_vector(bank.embed(spec).vector)
    assert bank.categories[int(embedding.weights[0].argmax())] == spec.dominant()
    expected = 0.0 if spec.is_neutral else spec.intensity
    assert float(embedding.intensity[0]) == pytest.approx(expected, abs=0.1)


def test_bundled_embedder_saved_by_diffusers_loads_as_it_was_saved(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from emostudio.conditioning.embedder import DisentangledEmotionEmbedder
    from emostudio.generation.analysis import default_model_dir

    for kind, folder in ((EmotionBank, "bank"), (DisentangledEmotionEmbedder, "embedder")):
        saved_dir = default_model_dir() / folder
        config = json.loads((saved_dir / kind.config_name).read_text())
        assert "_diffusers_version" in config  # written by diffusers' ModelMixin
        model = kind.from_pretrained(saved_dir)
        assert not model.training
        weights = load_file(saved_dir / "diffusion_pytorch_model.safetensors")
        assert weights.keys() == model.state_dict().keys()
        for name, tensor in weights.items():
            assert torch.equal(model.state_dict()[name], tensor), name
        model.save_pretrained(tmp_path / folder)
        written = json.loads((tmp_path / folder / kind.config_name).read_text())
        assert {k: v for k, v in written.items() if k in config and not k.startswith("_")} == \
            {k: v for k, v in config.items() if not k.startswith("_")}
        # Options added since it was saved are written at the values that reproduce it (their defaults).
        added = {k: v for k, v in written.items() if k not in config and not k.startswith("_")}
        assert added == {k: v for k, v in kind().config.items() if k in added}
