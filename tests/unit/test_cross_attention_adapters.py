"""Decoupled cross-attention adapters on real (tiny) diffusion backbones: SVD's UNet and Wan's transformer."""

import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel, WanTransformer3DModel
from torch import nn

from emostudio.conditioning.adapters import (DecoupledCrossAttentionAdapter, DecoupledCrossAttnProcessor,
                                             LatentEmotionProbe, stream_dropout)
from emostudio.conditioning.bank import EmotionBank
from emostudio.conditioning.spec import EmotionSpec

FRAMES = 3


def _svd_unet() -> UNetSpatioTemporalConditionModel:
    torch.manual_seed(0)
    return UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=(4, 8), in_channels=4, out_channels=4, layers_per_block=1, sample_size=16,
        projection_class_embeddings_input_dim=96, addition_time_embed_dim=32).eval()


def _svd_call(unet, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(batch, FRAMES, 4, 16, 16, generator=generator)
    context = torch.randn(batch, 1, 32, generator=generator)
    with torch.no_grad():
        return unet(sample, torch.tensor(10.0), context, added_time_ids=torch.ones(batch, 3)).sample


def _wan() -> WanTransformer3DModel:
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=4,
                                 out_channels=4, text_dim=32, freq_dim=32, ffn_dim=32, num_layers=2,
                                 cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32).eval()


def _wan_call(model, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(batch, 4, FRAMES, 8, 8, generator=generator)
    text = torch.randn(batch, 5, 32, generator=generator)
    with torch.no_grad():
        return model(latents, torch.tensor([500] * batch), text).sample


def _spatial_only(name: str) -> bool:
    return name.endswith("attn2.processor") and "temporal" not in name


def _train_outputs(adapter: DecoupledCrossAttentionAdapter) -> None:
    torch.manual_seed(3)
    for name, parameter in adapter.named_parameters():
        if "to_out" in name:
            nn.init.normal_(parameter, std=0.5)


def _emotion_tokens(batch: int = 2) -> torch.Tensor:
    bank = EmotionBank()
    return bank.embed([EmotionSpec.parse("angry")] * batch).tokens.detach()


def test_svd_adapter_is_a_noop_at_init_and_at_scale_zero():
    unet = _svd_unet()
    reference = _svd_call(unet)
    adapter = DecoupledCrossAttentionAdapter.for_backbone(unet, {"emotion": 64, "audio": 12}, select=_spatial_only)
    adapter.attach(unet)
    assert all(isinstance(p, DecoupledCrossAttnProcessor) == _spatial_only(n) for n, p in unet.attn_processors.items())
    tokens = {"emotion": _emotion_tokens(), "audio": torch.randn(2, FRAMES, 5, 12)}
    with adapter.conditioned(tokens=tokens):
        assert torch.equal(_svd_call(unet), reference)  # zero-initialised outputs
    _train_outputs(adapter)
    with adapter.conditioned(tokens=tokens, scales={"emotion": 0.0, "audio": 0.0}):
        assert torch.equal(_svd_call(unet), reference)
    with adapter.conditioned(tokens=tokens, scales={"emotion": 1.0, "audio": 0.0}):
        emotion_only = _svd_call(unet)
    assert not torch.allclose(emotion_only, reference)
    assert torch.equal(_svd_call(unet), reference)  # outside the context: no conditioning
    adapter.detach(unet)
    assert not any(isinstance(p, DecoupledCrossAttnProcessor) for p in unet.attn_processors.values())


def test_per_row_scales_switch_one_stream_off_for_some_rows_only():
    unet = _svd_unet()
    adapter = DecoupledCrossAttentionAdapter.for_backbone(unet, {"emotion": 64, "audio": 12}, select=_spatial_only)
    _train_outputs(adapter)
    adapter.attach(unet)
    tokens = {"emotion": _emotion_tokens(), "audio": torch.randn(2, FRAMES, 5, 12)}
    with adapter.conditioned(tokens=tokens, scales={"emotion": 0.0}):
        audio_only = _svd_call(unet)
    with adapter.conditioned(tokens=tokens, scales={"emotion": torch.tensor([0.0, 1.0])}):
        mixed = _svd_call(unet)
    # Row 0 has emotion switched off: exactly the audio-only result; row 1 is moved by emotion.
    assert torch.equal(mixed[0], audio_only[0])
    assert not torch.allclose(mixed[1], audio_only[1])


def test_region_mask_restricts_the_streams():
    unet = _svd_unet()
    reference = _svd_call(unet)
    adapter = DecoupledCrossAttentionAdapter.for_backbone(unet, {"emotion": 64}, select=_spatial_only)
    _train_outputs(adapter)
    adapter.attach(unet)
    with adapter.conditioned(tokens={"emotion": _emotion_tokens()}, region=torch.zeros(2, 1, 16, 16)):
        assert torch.equal(_svd_call(unet), reference)
    half = torch.zeros(2, 1, 16, 16)
    half[..., :8] = 1.0
    with adapter.conditioned(tokens={"emotion": _emotion_tokens()}, region=half):
        assert not torch.allclose(_svd_call(unet), reference)


def test_wan_adapter_noop_per_frame_tokens_and_round_trip(tmp_path):
    model = _wan()
    reference = _wan_call(model)
    adapter = DecoupledCrossAttentionAdapter.for_backbone(model, {"emotion": 64})
    assert len(adapter.config.layer_dims) == 2  # one cross-attention per Wan block
    adapter.attach(model)
    shared = _emotion_tokens()
    with adapter.conditioned(tokens={"emotion": shared}, frames_in_sequence=FRAMES):
        assert torch.equal(_wan_call(model), reference)
    _train_outputs(adapter)
    with adapter.conditioned(tokens={"emotion": shared}, frames_in_sequence=FRAMES):
        moved = _wan_call(model)
    assert not torch.allclose(moved, reference)
    # The same tokens given per frame are the same conditioning.
    per_frame = shared[:, None].expand(-1, FRAMES, -1, -1)
    with adapter.conditioned(tokens={"emotion": per_frame}, frames_in_sequence=FRAMES):
        torch.testing.assert_close(_wan_call(model), moved)

    adapter.save_pretrained(tmp_path)
    loaded = DecoupledCrossAttentionAdapter.from_pretrained(tmp_path)
    fresh = _wan()
    loaded.attach(fresh)
    with loaded.conditioned(tokens={"emotion": shared}, frames_in_sequence=FRAMES):
        torch.testing.assert_close(_wan_call(fresh), moved)


def test_adapter_refuses_another_backbone_and_unknown_streams():
    adapter = DecoupledCrossAttentionAdapter.for_backbone(_wan(), {"emotion": 64})
    with pytest.raises(ValueError, match="another backbone"):
        adapter.attach(_svd_unet())
    with pytest.raises(ValueError, match="Unknown token stream"):
        with adapter.conditioned(tokens={"audio": torch.zeros(1, 1, 64)}):
            pass
    with pytest.raises(ValueError, match="No attention layer"):
        DecoupledCrossAttentionAdapter.for_backbone(_wan(), {"emotion": 64}, select=lambda name: False)


def test_stream_dropout_and_probe_train_towards_the_requested_emotion():
    drops = stream_dropout(10_000, 0.3, torch.Generator().manual_seed(0))
    assert set(drops.unique().tolist()) == {0.0, 1.0} and abs(1 - drops.mean().item() - 0.3) < 0.02

    bank = EmotionBank().requires_grad_(False)
    probe = LatentEmotionProbe(latent_channels=4, embedding_dim=64)
    generator = torch.Generator().manual_seed(0)
    specs = [EmotionSpec.parse(name) for name in ("happy", "sad", "angry", "fearful")]
    weights, _ = bank.weights_for(specs)
    # Latents whose statistics differ per emotion, as a trained generator's would.
    latents = torch.randn(4, 4, FRAMES, 8, 8, generator=generator) + torch.arange(4.0).reshape(4, 1, 1, 1, 1)
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2)
    first = probe.loss(latents, bank, weights).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = probe.loss(latents, bank, weights)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
    assert (bank.classify(probe(latents)).argmax(-1) == weights.argmax(-1)).all()


def test_discrimination_loss_trains_the_probe_on_real_latents_only():
    bank = EmotionBank()
    probe = LatentEmotionProbe(latent_channels=4, embedding_dim=64)
    generator = torch.Generator().manual_seed(0)
    weights, _ = bank.weights_for([EmotionSpec.parse(name) for name in ("happy", "sad")])
    clean = torch.randn(2, FRAMES, 4, 8, 8, generator=generator)
    denoised = torch.randn(2, FRAMES, 4, 8, 8, generator=generator, requires_grad=True)
    trainable = [*probe.parameters(), *bank.classifier.parameters()]

    probe.discrimination_loss(denoised, clean, bank, weights, channel_dim=2).backward()
    combined = [parameter.grad.clone() for parameter in trainable]
    assert denoised.grad.abs().sum() > 0  # the generator is pushed
    assert all(parameter.requires_grad for parameter in trainable)

    for parameter in trainable:
        parameter.grad = None
    probe.loss(clean, bank, weights, channel_dim=2).backward()
    # The probe and the classifier learn exactly what the real latents alone teach them.
    for parameter, gradient in zip(trainable, combined):
        torch.testing.assert_close(parameter.grad, gradient)


def test_grid_probe_tells_where_in_the_frame_a_change_is():
    upper = torch.zeros(1, 4, FRAMES, 8, 8)
    upper[..., :4, :] = 1.0
    lower = upper.flip(-2)  # the same values, so the same mean and spread, in the other half
    whole = LatentEmotionProbe(latent_channels=4, embedding_dim=64)
    gridded = LatentEmotionProbe(latent_channels=4, embedding_dim=64, grid=4)
    torch.testing.assert_close(whole(upper), whole(lower))
    assert (gridded(upper) - gridded(lower)).abs().max() > 1e-3


def test_processor_adds_the_decoupled_attention_of_the_layers_own_query():
    unet = _svd_unet()
    name = next(n for n in unet.attn_processors if _spatial_only(n))
    attn = dict(unet.named_modules())[name.removesuffix(".processor")]
    adapter = DecoupledCrossAttentionAdapter.for_backbone(unet, {"emotion": 64, "audio": 12}, select=_spatial_only)
    _train_outputs(adapter)
    base = attn.processor
    adapter.attach(unet)
    generator = torch.Generator().manual_seed(5)
    hidden = torch.randn(2 * FRAMES, 16, attn.to_q.in_features, generator=generator)
    context = torch.randn(2 * FRAMES, 1, 32, generator=generator)
    tokens = {"emotion": _emotion_tokens(), "audio": torch.randn(2, FRAMES, 5, 12, generator=generator)}
    region = torch.rand(2, 1, 4, 4, generator=generator)
    scales = {"emotion": torch.tensor([0.0, 2.0]), "audio": 0.5}
    with torch.no_grad(), adapter.conditioned(tokens=tokens, scales=scales, region=region):
        got = attn.processor(attn, hidden, context)
    # The same sum written out: each stream's attention from the layer's own query, scaled, masked.
    with torch.no_grad():
        expected = base(attn, hidden, context)
        query = attn.to_q(hidden).unflatten(-1, (attn.heads, -1)).transpose(1, 2)
        mask = region.repeat_interleave(FRAMES, 0).reshape(2 * FRAMES, 16, 1)
        streams = adapter.layers[name.removesuffix(".processor").replace(".", "__")]
        for stream, stream_tokens, weight in (("emotion", tokens["emotion"].repeat_interleave(FRAMES, 0), [0.0, 2.0]),
                                              ("audio", tokens["audio"].flatten(0, 1), [0.5, 0.5])):
            key = streams[stream].to_k(stream_tokens).unflatten(-1, (attn.heads, -1)).transpose(1, 2)
            value = streams[stream].to_v(stream_tokens).unflatten(-1, (attn.heads, -1)).transpose(1, 2)
            attended = torch.nn.functional.scaled_dot_product_attention(query, key, value)
            attended = streams[stream].to_out(attended.transpose(1, 2).flatten(2))
            row_weight = torch.tensor(weight).repeat_interleave(FRAMES).reshape(-1, 1, 1)
            expected = expected + row_weight * mask * attended
    torch.testing.assert_close(got, expected)
    # Rows with the emotion stream switched off get the audio stream alone, exactly.
    with torch.no_grad(), adapter.conditioned(tokens={"audio": tokens["audio"]}, scales={"audio": 0.5}, region=region):
        audio_only = attn.processor(attn, hidden, context)
    assert torch.equal(got[:FRAMES], audio_only[:FRAMES])
