"""EmotionTalkingHeadPipeline on a tiny SVD built from configs: no-op adapters, separate guidance, windows, saving."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from emostudio.conditioning.adapters import DecoupledCrossAttnProcessor
from emostudio.errors import EmostudioError
from emostudio.generation.face.diffusion import (FACE_LORA_KIND, LORA_TARGETS, TALKING_HEAD_KIND,
                                                 EmotionTalkingHeadPipeline, blend_overlap, close_up, close_up_square,
                                                 locate_model, overlap_weights, to_close_up, window_starts)
from emostudio.generation.runs import load_lora, mark_run, save_lora
from emostudio.train.common import add_lora
from emostudio.train.talking_head import save_backbone, tiny_audio_encoder, tiny_backbone

SIZE = 32
FPS = 12.5


def _pipeline() -> EmotionTalkingHeadPipeline:
    pipeline = EmotionTalkingHeadPipeline.with_new_adapters(**tiny_backbone(SIZE), audio_encoder=tiny_audio_encoder())
    for module in pipeline.components.values():
        if isinstance(module, nn.Module):
            module.eval().requires_grad_(False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _inputs():
    generator = np.random.default_rng(0)
    image = generator.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    audio = (0.1 * generator.standard_normal(16_000)).astype(np.float32)
    return image, audio


def _run(pipeline, frames: int = 4, steps: int = 2, **options) -> torch.Tensor:
    image, audio = _inputs()
    options = {"num_inference_steps": steps, "window_frames": 8, "overlap_frames": 2, "face_box": (8, 8, 24, 24),
               **options}
    return pipeline(image, audio, frames, FPS, output_type="latent", generator=torch.Generator().manual_seed(0),
                    **options).frames


def _train_outputs(pipeline) -> None:
    """Give the zero-initialised outputs weights, as training would."""
    torch.manual_seed(3)
    for name, parameter in pipeline.adapter.named_parameters():
        if "to_out" in name:
            nn.init.normal_(parameter, std=0.3)


def test_adapters_are_exact_noops_at_init_and_at_scale_zero():
    pipeline = _pipeline()
    processors = pipeline.unet.attn_processors
    adapted = [name for name, p in processors.items() if isinstance(p, DecoupledCrossAttnProcessor)]
    assert adapted and all("temporal" not in name and "attn2" in name for name in adapted)
    at_init = _run(pipeline, emotion="angry")
    off = {"audio_guidance_scale": 0.0, "emotion_guidance_scale": 0.0}
    pipeline.adapter.detach(pipeline.unet)
    bare = _run(pipeline, emotion="angry")
    bare_off = _run(pipeline, emotion="angry", **off)
    assert torch.equal(at_init, bare)

    pipeline.adapter.attach(pipeline.unet)
    _train_outputs(pipeline)
    assert torch.equal(_run(pipeline, emotion="angry", **off), bare_off)
    assert not torch.allclose(_run(pipeline, emotion="angry"), bare)


def test_emotion_tokens_of_one_emotion_differ_from_one_another():
    # One token repeated would reach every place of the face as the same offset.
    tokens = _pipeline().emotion_tokens("angry")
    unit = torch.nn.functional.normalize(tokens - tokens.mean(-1, keepdim=True), dim=-1)
    similarity = unit @ unit.T
    assert len(tokens) > 1 and similarity[~torch.eye(len(tokens), dtype=torch.bool)].max() < 0.9


def test_emotion_scale_zero_is_exactly_the_audio_only_result():
    pipeline = _pipeline()
    _train_outputs(pipeline)
    audio_only = _run(pipeline, emotion=None)
    assert torch.equal(_run(pipeline, emotion="angry", emotion_guidance_scale=0.0), audio_only)
    assert not torch.allclose(_run(pipeline, emotion="angry", emotion_guidance_scale=1.0), audio_only)
    # Per-frame tokens are the same conditioning as one emotion for the clip.
    tokens = pipeline.emotion_tokens("angry")
    torch.testing.assert_close(_run(pipeline, emotion_tokens=tokens[None].expand(4, -1, -1)),
                               _run(pipeline, emotion="angry"))


def test_guidance_scales_are_separate():
    pipeline = _pipeline()
    _train_outputs(pipeline)

    def one_step(audio: float, emotion: float, reference: float = 2.0) -> torch.Tensor:
        # One Euler step to sigma 0 returns the guided denoised latent: affine in each scale.
        return _run(pipeline, steps=1, emotion="happy", reference_guidance_scale=reference,
                    audio_guidance_scale=audio, emotion_guidance_scale=emotion)

    emotion_effect = one_step(1.0, 1.0) - one_step(1.0, 0.0)
    assert emotion_effect.abs().max() > 2e-2
    # The emotion term is the same whatever the audio (lip) scale, and scales on its own.
    torch.testing.assert_close(one_step(3.0, 1.0) - one_step(3.0, 0.0), emotion_effect, atol=5e-4, rtol=1e-3)
    torch.testing.assert_close(one_step(1.0, 2.0) - one_step(1.0, 1.0), emotion_effect, atol=5e-4, rtol=1e-3)
    # The audio term does not depend on the emotion scale, nor the reference term on either.
    audio_effect = one_step(2.0, 0.0) - one_step(1.0, 0.0)
    assert audio_effect.abs().max() > 2e-2
    torch.testing.assert_close(one_step(2.0, 2.0) - one_step(1.0, 2.0), audio_effect, atol=5e-4, rtol=1e-3)
    reference_effect = one_step(1.0, 1.0, reference=3.0) - one_step(1.0, 1.0)
    torch.testing.assert_close(one_step(0.0, 0.0, reference=3.0) - one_step(0.0, 0.0), reference_effect,
                               atol=5e-4, rtol=1e-3)


def test_long_clips_are_made_in_blended_windows_of_flat_size():
    assert window_starts(5, 8, 2) == [0]
    assert window_starts(20, 8, 2) == [0, 6, 12]
    assert window_starts(15, 8, 2) == [0, 6, 12]
    weights = overlap_weights(3)
    assert torch.all(weights[:-1] > weights[1:]) and 0 < weights.min() and weights.max() < 1
    previous, current = torch.zeros(1, 3, 2), torch.ones(1, 3, 2)
    torch.testing.assert_close(blend_overlap(previous, current, weights)[0, :, 0], 1 - weights)

    pipeline = _pipeline()
    _train_outputs(pipeline)
    seen: list[int] = []
    pipeline.unet.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    long = _run(pipeline, frames=17, steps=1, emotion="sad", window_frames=6, overlap_frames=2)
    assert long.shape[0] == 17 and max(seen) == 6  # the UNet never sees more than one window
    seen.clear()
    single = _run(pipeline, frames=5, steps=1, emotion="sad", window_frames=6, overlap_frames=2)
    assert max(seen) == 5 and single.shape[0] == 5
    # The first window's frames are the same however long the clip runs after them.
    torch.testing.assert_close(long[:4], _run(pipeline, frames=9, steps=1, emotion="sad", window_frames=6,
                                              overlap_frames=2)[:4])
    frames = pipeline(*_inputs(), 9, FPS, num_inference_steps=1, window_frames=6, overlap_frames=2,
                      emotion="sad", generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape == (9, SIZE, SIZE, 3) and frames.dtype == np.uint8


def _write_run(pipeline, folder, backbone=".") -> None:
    save_backbone(pipeline.components, folder)
    pipeline.save_adapters(folder)
    mark_run(folder, TALKING_HEAD_KIND, backbone=backbone, resolution=SIZE, fps=FPS)


def test_adapters_and_lora_save_and_load_as_safetensors(tmp_path):
    from emostudio.generation.face.diffusion import load_pipeline

    pipeline = _pipeline()
    _train_outputs(pipeline)
    add_lora(pipeline.unet, LORA_TARGETS, rank=2, adapter_name="face")
    torch.manual_seed(4)
    for name, parameter in pipeline.unet.named_parameters():
        if "lora_B" in name:
            nn.init.normal_(parameter, std=0.1)
    expected = _run(pipeline, emotion="happy")

    run, face = tmp_path / "run", tmp_path / "face"
    save_lora(pipeline.unet, face / "lora", LORA_TARGETS, 2, adapter_name="face")
    # The run's UNet is saved without the face LoRA: a fresh tiny UNet is the base.
    plain = _pipeline()
    plain.adapter.load_state_dict(pipeline.adapter.state_dict())
    plain.audio_projector.load_state_dict(pipeline.audio_projector.state_dict())
    _write_run(plain, run)
    record = json.loads((run / "emostudio_run.json").read_text())
    mark_run(face, FACE_LORA_KIND, base=str(run), base_run_id=record["run_id"])
    for part in ("adapter", "audio_projector", "emotion_bank"):
        assert [p.suffix for p in (run / part).iterdir() if p.suffix not in (".json",)] == [".safetensors"]
    assert (face / "lora" / "lora.safetensors").is_file()

    loaded = load_pipeline(locate_model(run, face))
    torch.testing.assert_close(_run(loaded, emotion="happy"), expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(_run(load_pipeline(locate_model(run)), emotion="happy"), expected)

    other = tmp_path / "other"
    _write_run(_pipeline(), other)
    with pytest.raises(EmostudioError, match="another model"):
        locate_model(other, face)
    fresh = tiny_backbone(SIZE)["unet"]
    assert load_lora(fresh, face / "lora")


def test_run_folder_checks_name_what_is_wrong(tmp_path):
    with pytest.raises(EmostudioError, match="does not exist"):
        locate_model(tmp_path / "missing")
    run = tmp_path / "run"
    _write_run(_pipeline(), run)
    locate_model(run)
    import shutil

    shutil.rmtree(run / "adapter")
    with pytest.raises(EmostudioError, match="incomplete"):
        locate_model(run)
    speech = tmp_path / "speech"
    mark_run(speech, "tts")
    with pytest.raises(EmostudioError, match="'tts' model"):
        locate_model(speech)


def test_probe_loss_counts_only_the_rows_asked_for():
    from emostudio.conditioning.adapters import LatentEmotionProbe
    from emostudio.conditioning.bank import EmotionBank
    from emostudio.conditioning.spec import EmotionSpec

    bank = EmotionBank()
    probe = LatentEmotionProbe(latent_channels=4)
    latents = torch.randn(3, 2, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    weights, _ = bank.weights_for([EmotionSpec.parse(n) for n in ("happy", "sad", "angry")])
    everything = probe.loss(latents, bank, weights, channel_dim=2)
    torch.testing.assert_close(probe.loss(latents, bank, weights, channel_dim=2, row_weights=torch.ones(3)),
                               everything)
    first_only = probe.loss(latents[:1], bank, weights[:1], channel_dim=2)
    torch.testing.assert_close(probe.loss(latents, bank, weights, channel_dim=2,
                                          row_weights=torch.tensor([1.0, 0.0, 0.0])), first_only)


def test_close_up_frames_the_face_and_maps_its_points():
    image = np.full((128, 128, 3), 40, np.uint8)
    image[70:74, 50:54] = 250  # a bright mark inside the face box
    box = (40.0, 30.0, 90.0, 90.0)
    square = close_up_square(box, 1.2)
    assert square[2] == pytest.approx(72.0) and square[0] + square[2] / 2 == pytest.approx(65.0)
    framed = close_up(image, square, 64)
    assert framed.shape == (64, 64, 3)
    mark = to_close_up(np.array([[52.0, 72.0]]), square, 64)[0]
    brightest = np.unravel_index(framed[..., 0].argmax(), framed.shape[:2])
    assert abs(brightest[1] - mark[0]) <= 1.5 and abs(brightest[0] - mark[1]) <= 1.5
    corners = to_close_up(np.reshape(box, (2, 2)), square, 64)
    assert corners.min() > 0 and corners.max() < 64  # the whole face is in the close-up
    # The whole picture as the "square" is the picture resized.
    assert np.array_equal(close_up(image, (0.0, 0.0, 128.0), 128), image)
