"""EmotionVideoPipeline on a tiny Wan2.1 built from configs (transformer, VAE, UMT5 encoder, tokenizer made here)."""

import numpy as np
import pytest
import torch
from diffusers import WanPipeline

from emostudio.conditioning.adapters import DecoupledCrossAttentionAdapter, DecoupledCrossAttnProcessor
from emostudio.conditioning.bank import EmotionBank
from emostudio.conditioning.timeline import TimedTimeline
from emostudio.errors import EmostudioError
from emostudio.generation.runs import mark_run
from emostudio.generation.video.neural import (ADAPTER_FOLDER, BACKBONE_FOLDER, BANK_FOLDER, EMOTION_STREAM,
                                               VIDEO_ADAPTER_KIND, EmotionVideoPipeline, GenerationSettings,
                                               check_run, frames_for, latent_frame_times)
from emostudio.train.video_adapter import VideoAdapterConfig, make_caption_tokenizer, tiny_backbone

PROMPT = "a street at night"
FRAMES = 5  # two latent frames


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors this small run fastest on one thread (and leave the other cores to other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def components(tmp_path_factory):
    torch.manual_seed(0)
    config = VideoAdapterConfig()
    tokenizer = make_caption_tokenizer([PROMPT], tmp_path_factory.mktemp("tokenizer"))
    return tiny_backbone(config, tokenizer)


def _pipeline(components) -> EmotionVideoPipeline:
    pipe = EmotionVideoPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _adapter(pipe: EmotionVideoPipeline, trained: bool) -> tuple[DecoupledCrossAttentionAdapter, EmotionBank]:
    bank = EmotionBank()
    adapter = DecoupledCrossAttentionAdapter.for_backbone(pipe.transformer, {EMOTION_STREAM: bank.config.embedding_dim})
    if trained:  # stands in for training: outputs away from their zero initialisation
        generator = torch.Generator().manual_seed(3)
        for name, parameter in adapter.named_parameters():
            if "to_out" in name:
                with torch.no_grad():
                    parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return adapter, bank


def _generate(pipe, **kwargs) -> np.ndarray:
    return pipe(PROMPT, height=32, width=32, num_frames=FRAMES, num_inference_steps=3, guidance_scale=2.0,
                max_sequence_length=16, generator=torch.Generator().manual_seed(0), output_type="np",
                **kwargs).frames[0]


def test_an_untrained_adapter_and_scale_zero_leave_the_base_model_unchanged(components):
    pipe = _pipeline(components)
    base = _generate(pipe)
    reference = WanPipeline(**components)
    reference.set_progress_bar_config(disable=True)
    np.testing.assert_array_equal(_generate(reference), base)  # the subclass is Wan's pipeline when no adapter is set

    adapter, bank = _adapter(pipe, trained=False)
    pipe.set_emotion_adapter(adapter, bank)
    assert sum(isinstance(p, DecoupledCrossAttnProcessor) for p in pipe.transformer.attn_processors.values()) == 2
    np.testing.assert_array_equal(_generate(pipe, emotion="fearful"), base)  # zero-initialised outputs

    trained, bank = _adapter(pipe, trained=True)
    pipe.set_emotion_adapter(trained, bank)
    np.testing.assert_array_equal(_generate(pipe, emotion="fearful", emotion_scale=0.0), base)
    fearful = _generate(pipe, emotion="fearful")
    happy = _generate(pipe, emotion="happy")
    assert np.abs(fearful - base).max() > 1e-3
    assert np.abs(fearful - happy).max() > 1e-3
    half = _generate(pipe, emotion="fearful", emotion_scale=0.5)
    # The emotion scale is a dial: half way moves less than the full scale.
    assert 0 < np.abs(half - base).mean() < np.abs(fearful - base).mean()
    pipe.emotion_adapter.detach(pipe.transformer)


def test_intensity_and_timeline_reach_every_latent_frame(components):
    pipe = _pipeline(components)
    adapter, bank = _adapter(pipe, trained=True)
    pipe.set_emotion_adapter(adapter, bank)
    times = latent_frame_times(17, 4, fps=4.0)  # five latent frames: 0 s, then the middle of each group of four
    np.testing.assert_allclose(times, [0.0, 0.625, 1.625, 2.625, 3.625])

    steady = pipe.emotion_tokens("angry", 17, 4.0)
    assert steady.shape[:2] == (1, 5)
    torch.testing.assert_close(steady[0, 0], steady[0, -1])
    timeline = TimedTimeline.parse("[happy] [sad @2s]")
    changing = pipe.emotion_tokens(timeline, 17, 4.0)[0]
    happy, sad = pipe.emotion_tokens("happy", 17, 4.0)[0, 0], pipe.emotion_tokens("sad", 17, 4.0)[0, 0]
    torch.testing.assert_close(changing[0], happy)
    torch.testing.assert_close(changing[-1], sad)
    middle = changing[2]  # 1.625 s: inside the one-second ramp centred on 2 s
    assert (middle - happy).norm() > 1e-3 and (middle - sad).norm() > 1e-3

    faint = pipe.emotion_tokens("angry", 17, 4.0, intensity=0.0)[0, 0]
    neutral = pipe.emotion_tokens("neutral", 17, 4.0)[0, 0]
    torch.testing.assert_close(faint, neutral)  # intensity 0 is the neutral prototype

    # A timeline changes the generated clip against its first emotion held throughout.
    held = _generate(pipe, emotion="happy", fps=2.0)
    turning = _generate(pipe, emotion="[happy] [sad @1s]", fps=2.0)
    assert np.abs(held - turning).max() > 1e-4
    pipe.emotion_adapter.detach(pipe.transformer)


def test_a_run_folder_round_trips_through_safetensors(components, tmp_path):
    pipe = _pipeline(components)
    adapter, bank = _adapter(pipe, trained=True)
    pipe.set_emotion_adapter(adapter, bank)
    expected = _generate(pipe, emotion="fearful")
    adapter.detach(pipe.transformer)
    WanPipeline(**components).save_pretrained(tmp_path / BACKBONE_FOLDER)
    adapter.save_pretrained(tmp_path / ADAPTER_FOLDER)
    bank.save_pretrained(tmp_path / BANK_FOLDER)
    GenerationSettings(height=32, width=32, num_frames=FRAMES, fps=8.0).write(tmp_path)
    mark_run(tmp_path, VIDEO_ADAPTER_KIND, backbone="wan2.1")
    assert list((tmp_path / ADAPTER_FOLDER).glob("*.safetensors"))

    loaded = EmotionVideoPipeline.from_run(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.generation_settings.num_frames == FRAMES
    np.testing.assert_allclose(_generate(loaded, emotion="fearful"), expected, atol=1e-5)


def test_run_folders_are_checked_before_loading(tmp_path):
    with pytest.raises(EmostudioError, match="does not exist"):
        check_run(tmp_path / "missing")
    mark_run(tmp_path / "speech", "tts")
    with pytest.raises(EmostudioError, match="not 'video-adapter'"):
        check_run(tmp_path / "speech")
    mark_run(tmp_path / "partial", VIDEO_ADAPTER_KIND)
    with pytest.raises(EmostudioError, match="incomplete"):
        check_run(tmp_path / "partial")


def test_durations_map_to_wan_frame_counts():
    assert [frames_for(seconds, 16.0) for seconds in (0.0, 1.0, 5.0)] == [1, 17, 81]
    assert all(frames_for(seconds, 8.0) % 4 == 1 for seconds in np.linspace(0.1, 10, 37))



def test_lora_saved_apart_from_the_base_is_applied_by_the_run(components, tmp_path):
    from emostudio.generation.runs import add_lora, save_lora
    from emostudio.generation.video.neural import LORA_FOLDER, LORA_TARGETS

    clean = _pipeline(components)
    WanPipeline(**components).save_pretrained(tmp_path / BACKBONE_FOLDER)
    adapter, bank = _adapter(clean, trained=False)
    adapter.save_pretrained(tmp_path / ADAPTER_FOLDER)
    bank.save_pretrained(tmp_path / BANK_FOLDER)
    mark_run(tmp_path, VIDEO_ADAPTER_KIND, backbone="wan2.1")
    base = _generate(EmotionVideoPipeline.from_run(tmp_path))

    tuned = EmotionVideoPipeline.from_run(tmp_path)
    add_lora(tuned.transformer, LORA_TARGETS, rank=2)
    with torch.no_grad():
        for name, parameter in tuned.transformer.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5, generator=torch.Generator().manual_seed(1))
    expected = _generate(tuned)
    assert np.abs(expected - base).max() > 1e-3
    save_lora(tuned.transformer, tmp_path / LORA_FOLDER, LORA_TARGETS, rank=2)
    np.testing.assert_allclose(_generate(EmotionVideoPipeline.from_run(tmp_path)), expected, atol=1e-5)


def test_memory_settings_keep_the_adapter_and_fall_back_to_sdpa(components):
    pipe = _pipeline(components)
    adapter, bank = _adapter(pipe, trained=True)
    pipe.set_emotion_adapter(adapter, bank)
    expected = _generate(pipe, emotion="sad")
    attention = pipe.enable_gpu_savings("cpu", offload=False)
    import importlib.util

    assert attention == ("xformers" if importlib.util.find_spec("xformers") else "sdpa")
    assert pipe.vae.use_tiling
    np.testing.assert_allclose(_generate(pipe, emotion="sad"), expected, atol=1e-5)
    pipe.emotion_adapter.detach(pipe.transformer)
    pipe.vae.disable_tiling()


def test_a_damaged_run_folder_is_one_sentence(components, tmp_path):
    (tmp_path / BACKBONE_FOLDER).mkdir()
    (tmp_path / ADAPTER_FOLDER).mkdir()
    (tmp_path / BANK_FOLDER).mkdir()
    mark_run(tmp_path, VIDEO_ADAPTER_KIND, backbone="wan2.1")
    with pytest.raises(EmostudioError, match="could not be loaded"):
        EmotionVideoPipeline.from_run(tmp_path)
    (tmp_path / "generation.json").write_text("{not json")
    with pytest.raises(EmostudioError, match="unreadable"):
        EmotionVideoPipeline.from_run(tmp_path)
