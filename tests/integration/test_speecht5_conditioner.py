"""The speaker-embedding conditioner on a real (tiny, randomly initialised) SpeechT5."""

import torch
from torch import nn
from transformers import SpeechT5Config, SpeechT5ForTextToSpeech

from emostudio.conditioning.adapters import SpeakerEmotionConditioner
from emostudio.conditioning.bank import EmotionBank
from emostudio.conditioning.spec import EmotionSpec

SPEAKER_DIM = 16


def _tiny_speecht5() -> SpeechT5ForTextToSpeech:
    torch.manual_seed(0)
    config = SpeechT5Config(vocab_size=40, hidden_size=32, encoder_layers=1, decoder_layers=1,
                            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                            decoder_ffn_dim=64, speech_decoder_prenet_units=32, speech_decoder_postnet_units=32,
                            speech_decoder_postnet_layers=2, speaker_embedding_dim=SPEAKER_DIM, num_mel_bins=80,
                            reduction_factor=2, max_speech_positions=600, max_text_positions=200)
    return SpeechT5ForTextToSpeech(config).eval()


def _mel(model, speaker):
    ids = torch.arange(4, 16)[None]
    # SpeechT5's decoder prenet keeps its dropout on at inference: same seed, same draw.
    torch.manual_seed(1)
    with torch.no_grad():
        return model.generate_speech(ids, speaker, minlenratio=1.0, maxlenratio=1.0)


def test_conditioner_moves_speecht5_only_with_emotion():
    model = _tiny_speecht5()
    bank = EmotionBank()
    conditioner = SpeakerEmotionConditioner(speaker_dim=SPEAKER_DIM, hidden_dim=8)
    nn.init.normal_(conditioner.to_offset.weight, std=2.0)
    speaker = torch.randn(1, SPEAKER_DIM)
    plain = _mel(model, speaker)
    at_zero = _mel(model, conditioner(speaker, bank.embed(EmotionSpec.parse("angry:0"))))
    angry = _mel(model, conditioner(speaker, bank.embed(EmotionSpec.parse("angry:1"))))
    torch.testing.assert_close(at_zero, plain)
    assert (angry - plain).abs().mean() > 1e-3


def test_speecht5_loss_trains_the_conditioner_through_the_speaker_embedding():
    model = _tiny_speecht5().train()
    model.requires_grad_(False)
    bank = EmotionBank()
    conditioner = SpeakerEmotionConditioner(speaker_dim=SPEAKER_DIM, hidden_dim=8)
    ids = torch.arange(4, 16)[None]
    labels = torch.randn(1, 20, 80)
    speaker = conditioner(torch.randn(1, SPEAKER_DIM), bank.embed(EmotionSpec.parse("happy:1")))
    # transformers 5's SpeechT5 needs the attention mask when labels are given (guided attention).
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), speaker_embeddings=speaker, labels=labels).loss
    loss.backward()
    assert conditioner.to_offset.weight.grad is not None
    assert conditioner.to_offset.weight.grad.abs().sum() > 0
