"""Reading emotion from real recordings: normalised audio, voice variants, confidence on weak input."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from emostudio.conditioning import CATEGORIES, EmotionSpec
from emostudio.conditioning.embedder import (
    PROSODY_TRACKS,
    SAMPLE_RATE,
    audio_channels,
    normalised_audio_features,
    pitch_track,
    speech_evidence,
)
from emostudio.generation.analysis import (
    UNCLEAR_BELOW,
    ClipFeatures,
    load_embedder,
    read_emotion,
    spec_from_clip,
)
from emostudio.generation.media import write_audio
from emostudio.train.data.features import vary_recording


@functools.cache
def spoken(emotion: str) -> np.ndarray:
    """A sentence said by the bundled voice with a strong emotion, 16 kHz."""
    from emostudio.conditioning import Timeline
    from emostudio.generation.speech.piper import PiperSpeechBackend
    from emostudio.conditioning.embedder import _resample

    result = PiperSpeechBackend().synthesize(
        Timeline.constant("I told you to put it on the table, not under it.", EmotionSpec.parse(emotion)), seed=0)
    return _resample(result.waveform, result.sample_rate)


def pitch_shifted(audio: np.ndarray, semitones: float) -> np.ndarray:
    """The same recording with its pitch moved (PSOLA), its formants and timing kept."""
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(audio, SAMPLE_RATE)
    f0 = pitch_track(audio, SAMPLE_RATE, int(len(audio) / 160) + 1)
    median = float(np.median(f0[f0 > 0]))
    return call(sound, "Change gender", 60, 700, 1.0, median * 2 ** (semitones / 12), 1.0, 1.0).values[0]


def f0(audio: np.ndarray) -> np.ndarray:
    track = pitch_track(audio, SAMPLE_RATE, int(len(audio) / 160) + 1)
    return track[track > 0]


def reading(audio: np.ndarray):
    embedder, bank = load_embedder()
    return read_emotion(ClipFeatures(audio, SAMPLE_RATE, None, 25.0, len(audio) / SAMPLE_RATE), embedder, bank)


def embedding_mean(audio: np.ndarray) -> torch.Tensor:
    from emostudio.generation.analysis import embed

    embedder, bank = load_embedder()
    mean, _ = embed(ClipFeatures(audio, SAMPLE_RATE, None, 25.0, len(audio) / SAMPLE_RATE), embedder, bank)
    return mean


def category(audio: np.ndarray) -> str:
    """The most likely category of the bundled embedder's reading."""
    return CATEGORIES[int(load_embedder()[1].posterior(embedding_mean(audio)).argmax())]


# -- what the audio branch sees -------------------------------------------------------------------


def test_normalised_features_ignore_the_recording_level():
    audio = spoken("angry")
    features = normalised_audio_features(audio, SAMPLE_RATE)
    assert features.shape[1] == audio_channels("normalised") == 64 + len(PROSODY_TRACKS)
    for decibels in (-10.0, 10.0):
        scaled = normalised_audio_features(audio * 10 ** (decibels / 20), SAMPLE_RATE)
        assert torch.allclose(features, scaled, atol=1e-3)


def test_normalised_pitch_is_relative_to_the_recording():
    audio = spoken("happy")
    features = normalised_audio_features(audio, SAMPLE_RATE)
    higher = normalised_audio_features(pitch_shifted(audio, 4.0), SAMPLE_RATE)
    pitch, voiced = features[:, 64], features[:, 65] > 0
    # The absolute pitch moved by a third of an octave; the track relative to the median did not.
    raw, raw_higher = pitch_track(audio, SAMPLE_RATE, len(features)), pitch_track(pitch_shifted(audio, 4.0),
                                                                                 SAMPLE_RATE, len(features))
    assert 12 * np.log2(np.median(raw_higher[raw_higher > 0]) / np.median(raw[raw > 0])) == pytest.approx(4, abs=0.5)
    both = voiced & (higher[:, 65] > 0)
    assert both.sum() > 50
    assert float((pitch[both] - higher[both, 64]).abs().median()) * 6 < 0.5  # semitones


def test_voice_variants_change_the_speaker_not_the_length():
    audio = spoken("sad")
    first = vary_recording(audio, SAMPLE_RATE, np.random.default_rng([0, 1, 7]))
    again = vary_recording(audio, SAMPLE_RATE, np.random.default_rng([0, 1, 7]))
    other = vary_recording(audio, SAMPLE_RATE, np.random.default_rng([0, 2, 7]))
    def shift(variant: np.ndarray) -> float:
        return float(12 * np.log2(np.median(f0(variant)) / np.median(f0(audio))))

    # The seed decides the speaker (Praat's resynthesis itself is not bit-exact from run to run).
    assert len(first) == len(again) and shift(first) == pytest.approx(shift(again), abs=0.2)
    assert abs(shift(first) - shift(other)) > 0.5 or len(first) != len(other)
    assert 0.85 < len(first) / len(audio) < 1.15 and np.abs(first).max() <= 1.0


# -- the bundled embedder on transformed and weak input --------------------------------------------


@pytest.mark.parametrize("emotion", ["angry", "sad"])
def test_reading_survives_pitch_and_level_changes(emotion):
    audio = spoken(emotion)
    expected = category(audio)
    for changed in (pitch_shifted(audio, 4.0), pitch_shifted(audio, -4.0), audio * 10 ** (10 / 20),
                    audio * 10 ** (-10 / 20)):
        assert category(changed) == expected


def test_pitch_and_level_move_the_embedding_less_than_emotion_does():
    """Read as points, not just as the top category: a voice 4 semitones higher or lower stays
    nearer its own reading than readings of the same sentence in another emotion typically are,
    and a level change moves nothing."""
    emotions = ("neutral", "happy", "sad", "angry", "fearful", "disgusted")
    means = {emotion: embedding_mean(spoken(emotion))[0] for emotion in emotions}
    between = torch.stack([(means[a] - means[b]).norm() for a in emotions for b in emotions if a < b]).median()
    for emotion in emotions:
        audio = spoken(emotion)
        for semitones in (4.0, -4.0):
            assert (embedding_mean(pitch_shifted(audio, semitones))[0] - means[emotion]).norm() < between
        for decibels in (10.0, -10.0):
            louder = embedding_mean(audio * 10 ** (decibels / 20))[0]
            assert (louder - means[emotion]).norm() < 0.05 * between


def test_weak_input_reads_as_unclear():
    rate = SAMPLE_RATE
    seconds = np.arange(3 * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 150 * seconds)
    noise = np.random.default_rng(0).standard_normal(3 * rate) * 0.1
    word = spoken("angry")[: rate]
    padded = np.concatenate([np.zeros(6 * rate), word, np.zeros(3 * rate)])
    for weak in (tone, noise, padded):
        assert speech_evidence(weak, rate) < 0.3
        assert reading(weak).confidence < UNCLEAR_BELOW
    # Ordinary speech is full evidence: what is left of its confidence is the category's certainty.
    assert speech_evidence(spoken("angry"), rate) > 0.8
    strong = reading(spoken("angry"))
    certainty = float(load_embedder()[1].posterior(embedding_mean(spoken("angry"))).max())
    assert strong.confidence > 0.8 * (certainty - 1 / len(CATEGORIES)) / (1 - 1 / len(CATEGORIES))


def test_a_weak_reading_transfers_a_weak_emotion(tmp_path):
    rate = SAMPLE_RATE
    word = spoken("angry")[: rate]
    padded = np.concatenate([np.zeros(6 * rate), word, np.zeros(3 * rate)])
    weak_path = write_audio(tmp_path / "weak.wav", padded, rate)
    weak = spec_from_clip(weak_path)
    raw = reading(padded)
    # The transferred intensity is the reading's, scaled down by its (low) confidence.
    assert raw.confidence < UNCLEAR_BELOW
    assert weak.intensity == pytest.approx(raw.intensity * raw.confidence, rel=0.02)  # 16-bit file
    assert weak.intensity < UNCLEAR_BELOW and "unclear" in weak.label


def test_analyze_says_unclear_for_noise(tmp_path, capsys):
    from emostudio.ui.cli import main

    noise = np.random.default_rng(1).standard_normal(3 * SAMPLE_RATE) * 0.1
    clip = write_audio(tmp_path / "noise.wav", noise, SAMPLE_RATE)
    assert main(["analyze", str(clip), "--plot", str(tmp_path / "noise.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.strip() and line.strip()[0].isdigit()]
    assert len(rows) == 3 and all("neutral/unclear" in line for line in rows)
    assert "whole clip" in lines[-2] and "neutral/unclear" in lines[-2]
