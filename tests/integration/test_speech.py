"""Emotional speech on the real bundled Piper voice, measured on the audio it produces."""

from __future__ import annotations

import numpy as np
import pytest

from emostudio.conditioning import EmotionSpec, Timeline
from emostudio.errors import EmostudioError
from emostudio.generation.speech import MAX_TEXT_CHARS, PiperSpeechBackend, PiperVoice
from emostudio.generation.speech.analysis import measure_prosody

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs away into the forest."

# Direction of change relative to neutral: Murray & Arnott (1993) for the five emotions they
# review; surprise and contempt as in emostudio.conditioning.heads. 0 = "normal" (unchanged).
PUBLISHED_DIRECTIONS = {
    #            F0  tempo loudness
    "happy":     (+1, +1, +1),
    "sad":       (-1, -1, -1),
    "angry":     (+1, +1, +1),
    "fearful":   (+1, +1, 0),
    "disgusted": (-1, -1, -1),
    "surprised": (+1, +1, +1),
    "contempt":  (-1, -1, -1),
}
# Smallest change that counts as a move: semitones, tempo ratio - 1, decibels.
THRESHOLDS = {"f0_semitones": 1.0, "tempo_ratio": 0.04, "loudness_db": 1.0}


@pytest.fixture(scope="module")
def backend() -> PiperSpeechBackend:
    return PiperSpeechBackend()


@pytest.fixture(scope="module")
def neutral(backend):
    result = backend.speak(SENTENCE, "neutral", seed=0)
    return result, measure_prosody(result.waveform, result.sample_rate)


@pytest.mark.parametrize("emotion", sorted(PUBLISHED_DIRECTIONS))
def test_emotion_moves_prosody_in_published_direction(backend, neutral, emotion):
    result = backend.speak(SENTENCE, emotion, seed=0)
    delta = measure_prosody(result.waveform, result.sample_rate).delta(neutral[1])
    measured = {"f0_semitones": delta["f0_semitones"], "tempo_ratio": delta["tempo_ratio"] - 1.0,
                "loudness_db": delta["loudness_db"]}
    for (name, value), direction in zip(measured.items(), PUBLISHED_DIRECTIONS[emotion]):
        if direction == 0:
            assert abs(value) < 2 * THRESHOLDS[name], f"{emotion}: {name} should stay near neutral, got {value:.2f}"
        else:
            assert value * direction > THRESHOLDS[name], f"{emotion}: {name} moved {value:+.2f}, expected sign {direction}"


def test_intensity_zero_is_exactly_neutral(backend, neutral):
    result = backend.speak(SENTENCE, "angry", intensity=0.0, seed=0)
    np.testing.assert_array_equal(result.waveform, neutral[0].waveform)


def test_intensity_scales_the_effect(backend, neutral):
    half = backend.speak(SENTENCE, "sad:0.5", seed=0)
    full = backend.speak(SENTENCE, "sad", seed=0)
    half_shift = measure_prosody(half.waveform, half.sample_rate).delta(neutral[1])["f0_semitones"]
    full_shift = measure_prosody(full.waveform, full.sample_rate).delta(neutral[1])["f0_semitones"]
    assert full_shift < half_shift < 0


def test_same_seed_same_audio(backend):
    first = backend.speak("Seeds make takes repeatable.", "happy", seed=7)
    second = backend.speak("Seeds make takes repeatable.", "happy", seed=7)
    np.testing.assert_array_equal(first.waveform, second.waveform)


def test_word_and_phoneme_timings(backend):
    result = backend.speak("Hello there, my old friend. How have you been?", "happy", seed=0)
    assert [w.label for w in result.words] == ["Hello", "there", "my", "old", "friend", "How", "have", "you", "been"]
    for timings in (result.words, result.phonemes):
        starts = np.array([t.start for t in timings])
        ends = np.array([t.end for t in timings])
        assert np.all(ends > starts)
        assert np.all(starts[1:] >= ends[:-1] - 1e-6), "timings overlap"
        assert ends[-1] <= result.duration + 1e-6
    # The pause between the sentences separates "friend" from "How".
    assert result.words[5].start - result.words[4].end > 0.1
    # Each word contains the phonemes spoken inside it.
    first_word = result.words[0]
    inside = [p for p in result.phonemes if first_word.start - 1e-6 <= p.start < first_word.end]
    assert "".join(p.label for p in inside).replace("ː", "").startswith("h")


def test_timings_follow_the_audio(backend):
    """Word spans from the voice's durations line up with where the audio is loud."""
    result = backend.speak("One. Two. Three.", "neutral", seed=0)
    rate = result.sample_rate
    for word in result.words:
        inside = result.waveform[int(word.start * rate): int(word.end * rate)]
        assert np.sqrt(np.mean(inside**2)) > 0.01
    for before, after in zip(result.words[:-1], result.words[1:]):
        gap = result.waveform[int(before.end * rate) + 200: int(after.start * rate) - 200]
        assert np.sqrt(np.mean(gap**2)) < 0.01


def test_timeline_segments_carry_their_emotions(backend):
    result = backend.speak("[happy] What wonderful news this is! [sad] But now we have to leave.", seed=0)
    assert [s.spec.dominant() for s in result.segments] == ["happy", "sad"]
    happy, sad = result.segments
    assert happy.end < sad.start
    rate = result.sample_rate
    happy_f0 = measure_prosody(result.waveform[: int(happy.end * rate)], rate).f0_median_hz
    sad_f0 = measure_prosody(result.waveform[int(sad.start * rate):], rate).f0_median_hz
    assert happy_f0 > sad_f0 * 2 ** (3 / 12), "the happy part should be several semitones higher"
    assert "happy" in result.metadata["emotion"] and "sad" in result.metadata["emotion"]


def test_timeline_controls_glide_between_segments(backend):
    timeline = Timeline.parse("[angry] Stop that right now. [sad] I am so tired of this.")
    result = backend.synthesize(timeline, seed=0)
    controls = backend.controls_for(timeline.specs)
    curves = backend._curves(result.segments, controls, result.duration)
    step = np.abs(np.diff(curves.loudness_db)).max()
    jump = abs(controls[0].loudness_db - controls[1].loudness_db)
    assert jump > 5
    assert step < jump / 10, "loudness changes over a ramp, not in one step"


def test_saved_file_is_marked_synthetic(backend, tmp_path):
    import soundfile

    from emostudio.generation.media import read_metadata

    path = backend.speak("Marked as synthetic.", "happy", seed=0).save(tmp_path / "out.wav")
    audio, rate = soundfile.read(path)
    assert rate == 22050 and len(audio) > rate // 2
    metadata = read_metadata(path)
    assert "SYNTHETIC" in metadata["comment"] and "happy" in metadata["comment"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("!!! ...", "no words"),
    ("a" * (MAX_TEXT_CHARS + 1), "limit"),
    ("[happy Great", "unmatched"),
])
def test_bad_text(backend, text, message):
    with pytest.raises(EmostudioError, match=message):
        backend.speak(text, "happy")


def test_missing_and_corrupt_voices(tmp_path):
    with pytest.raises(EmostudioError, match="does not exist"):
        PiperVoice(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(EmostudioError, match="is missing"):
        PiperVoice(corrupt)
    from emostudio.generation.speech.piper import default_voice_path

    corrupt.with_name("corrupt.onnx.json").write_text(default_voice_path().with_suffix(".onnx.json").read_text())
    with pytest.raises(EmostudioError, match="not a readable ONNX voice"):
        PiperVoice(corrupt)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(default_voice_path().read_bytes()[:200_000])
    truncated.with_name("truncated.onnx.json").write_text("{not json")
    with pytest.raises(EmostudioError, match="not a valid Piper config"):
        PiperVoice(truncated)


def test_spec_objects_are_accepted(backend):
    spec = EmotionSpec.parse("happy:0.5+surprised:0.5")
    result = backend.speak("Mixtures work too.", spec, seed=0)
    assert result.segments[0].spec == spec


def test_optimised_voice_graph_is_cached_and_rebuilt(tmp_path, monkeypatch):
    """The patched, optimised graph is kept under $XDG_CACHE_HOME and speaks as the fresh one does."""
    import os
    import shutil
    import subprocess
    import sys

    from emostudio.generation.speech.piper import default_voice_path, voice_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    voice_path = tmp_path / "voice.onnx"
    shutil.copyfile(default_voice_path(), voice_path)
    shutil.copyfile(default_voice_path().with_name(default_voice_path().name + ".json"), tmp_path / "voice.onnx.json")
    assert voice_cache_dir() == tmp_path / "cache" / "emostudio" / "voices"

    def take(voice: PiperVoice) -> np.ndarray:
        ids, _ = voice.phoneme_ids(voice.phonemizer.sentences("Cached voices speak alike.")[0].phonemes)
        return voice.run(ids, voice.length_scale, voice.noise_scale, voice.noise_w, seed=5).audio

    fresh = PiperVoice(voice_path)
    assert fresh.has_durations
    cached_files = list(voice_cache_dir().iterdir())
    assert len(cached_files) == 1 and cached_files[0].suffix == ".onnx"
    cached = PiperVoice(voice_path)
    assert cached.has_durations
    np.testing.assert_allclose(take(cached), take(fresh), atol=1e-5)

    # Loading from the cache skips patching the graph, so the onnx library is not even imported.
    check = ("import sys; from emostudio.generation.speech.piper import PiperVoice; "
             f"PiperVoice({str(voice_path)!r}); print('onnx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

    cached_files[0].write_bytes(b"damaged" * 1000)
    repaired = PiperVoice(voice_path)
    np.testing.assert_allclose(take(repaired), take(fresh), atol=1e-5)
    assert cached_files[0].stat().st_size > 1_000_000

    later = voice_path.stat().st_mtime_ns + 5_000_000_000
    os.utime(voice_path, ns=(later, later))  # the voice changed: its graph is built again, the stale one removed
    PiperVoice(voice_path)
    rebuilt = list(voice_cache_dir().iterdir())
    assert len(rebuilt) == 1 and rebuilt[0] != cached_files[0]
