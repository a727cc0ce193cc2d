"""The neural talking head, measured: emotion effect, lip sync, adapter cost, memory against clip length.

    python benchmarks/neural_talking_head.py --model RUN_DIR [--seeds 2] [--seconds 2] [--out results.json]
        [--only emotion,lips,fit,cost,svd-cost,memory] [--repeats 6] [--portrait FACE.png] [--emotions all]

* **Emotion effect**: a frame classifier trained separately (logistic regression on the face
  region of the training clips' frames, grey and averaged down to 16x16; not the adapter's own probe) reads the emotion of
  clips generated for each emotion, with the same model and seed at the model's emotion scale and
  at emotion scale 0 (the audio-only result). Reported per emotion: the share of frames read as
  the requested emotion. The classifier learns from the training frames passed through the model's
  own VAE, since every generated frame comes out of that decoder (a classifier fitted on the sharp
  frames reads the decoder's blur as one emotion); its accuracy on the held-out sentence's
  round-tripped frames is reported as the ceiling a generated clip can reach.
* **Lip sync**: mouth opening (darkness of the lip box) against the speech's loudness envelope,
  correlated frame by frame, against the same clip generated from speech shifted by half its length.
* **Lip sync** is also measured on the training clips themselves (through the VAE), the figure a
  generated clip can be compared with.
* **Fit with and without the emotion stream** (``fit``): the model's own diffusion loss on the
  training clips' windows, per emotion, with the emotion stream on and off (reference and audio on,
  the same noise). A diagnostic, not evidence of quality: an emotion stream that helps the model
  draw its training clips lowers it; one that has learnt a code of its own raises it.
* **Adapter cost**: one training step (forward and backward) of the same UNet and batch with and
  without the adapters: the ratio of step times (interleaved runs, CPU time of one thread) and of
  the bytes saved for backward (the activation memory a step holds); on the tiny UNet, and on a
  UNet of SVD-xt's proportions (random frozen weights, the adapters training) at a small latent.
* **Memory against clip length**: peak resident memory of generating 1x, 2x and 4x the clip, each
  in its own process.

Timings on a shared machine are noisy: only ratios measured side by side in one run are reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")  # the default; --emotions all: every category


def face_features(frames: np.ndarray, box: tuple[float, float, float, float], size: int = 16) -> np.ndarray:
    """The grey face region of (F, H, W, 3) frames at ``size`` x ``size``, standardised per frame.

    Averaged down to 16 x 16, the face keeps the brows, eyes and mouth the VAE leaves and loses the
    pixel noise a classifier would otherwise fit (on held-out training frames 0.66 read correctly,
    against 0.50 with every pixel of the region).
    """
    import cv2

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    grey = np.stack([cv2.resize(frame[y0:y1, x0:x1].mean(-1).astype(np.float32), (size, size),
                                interpolation=cv2.INTER_AREA) for frame in frames]).reshape(len(frames), -1)
    return (grey - grey.mean(1, keepdims=True)) / (grey.std(1, keepdims=True) + 1e-6)


def vae_round_trip(vae, frames: np.ndarray) -> np.ndarray:
    """(F, H, W, 3) uint8 frames encoded and decoded by the model's VAE, as generated frames are."""
    pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        latents = vae.encode(pixels.to(vae.dtype)).latent_dist.mode()
        decoded = vae.decode(latents, num_frames=len(frames)).sample.float()
    return ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def mouth_opening(frames: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """(F,) darkness of the box around the lips' landmarks (x, y pixels of the frames)."""
    x0, y0 = np.floor(lips.min(0)).astype(int)
    x1, y1 = np.ceil(lips.max(0)).astype(int)
    return 255 - frames[:, y0:y1, x0:x1].mean(axis=(1, 2, 3))


def train_frame_classifier(model_dir: Path, vae, resolution: int, fps: float, face_scale: float,
                           emotions: tuple[str, ...] = EMOTIONS):
    """Logistic regression on the training clips' frames (the corpus the model was trained on), as the VAE
    returns them; with its accuracy on the frames of clips of one sentence when fitted on the others (overall
    and per emotion: an emotion it cannot read there, it cannot judge in generated frames either), and the
    mouth-opening/loudness correlation of those frames (what the lip-sync figure can reach)."""
    from sklearn.linear_model import LogisticRegression

    from emostudio.generation.face.lipsync import loudness_envelope
    from emostudio.train.data.manifest import read_manifest
    from emostudio.train.talking_head import load_clip_frames

    config = json.loads((model_dir / "config.json").read_text())
    manifest = Path(config["manifest"] or model_dir / "corpus" / "manifest.jsonl")
    features, labels, texts, box, correlations = [], [], [], None, []
    for clip in read_manifest(manifest):
        if clip.emotion not in emotions or not clip.video:
            continue
        frames, face, lip_box, audio = load_clip_frames(clip, fps, resolution, 10.0, face_scale)
        box = box or face
        decoded = vae_round_trip(vae, np.stack(frames))
        features.append(face_features(decoded, box))
        labels += [clip.emotion] * len(frames)
        texts += [clip.text] * len(frames)
        loudness = loudness_envelope(audio, 16_000, np.arange(len(frames)) / fps)
        correlations.append(np.corrcoef(mouth_opening(decoded, np.reshape(lip_box, (2, 2))), loudness)[0, 1])
    features, labels, texts = np.concatenate(features), np.array(labels), np.array(texts)
    held_out = texts == texts[-1]
    check = LogisticRegression(max_iter=3000, C=0.01).fit(features[~held_out], labels[~held_out])
    right = check.predict(features[held_out]) == labels[held_out]
    per_emotion = {e: float(np.mean(right[labels[held_out] == e])) for e in emotions if np.any(labels[held_out] == e)}
    classifier = LogisticRegression(max_iter=3000, C=0.01).fit(features, labels)
    return classifier, box, float(np.mean(right)), per_emotion, float(np.nanmean(correlations))


def generate(backend, portrait, audio_path: Path, emotion: str, seed: int, fps: float, scale: float | None,
             shift: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """Frames at the model's resolution for ``audio_path`` (optionally circularly shifted) in ``emotion``."""
    from emostudio.conditioning import EmotionSpec
    from emostudio.generation.face.talking_head import DrivingSpeech
    from emostudio.generation.media import read_audio
    from emostudio.generation.speech.base import SegmentTiming

    audio, rate = read_audio(audio_path)
    audio = np.roll(audio, int(shift * len(audio)))
    spec = EmotionSpec.parse(emotion)
    speech = DrivingSpeech(audio, rate, [SegmentTiming("", spec, 0.0, len(audio) / rate)], None)
    chosen = backend.with_options(emotion_scale=scale)
    frames = np.stack(list(chosen.frames(portrait, speech, fps, seed)))
    return frames, audio, rate


def emotion_effect(args, backend, portrait, speech: Path, fps: float) -> dict:
    import cv2

    emotions = args.emotions
    classifier, box, ceiling, per_emotion, lips = train_frame_classifier(
        args.model, backend.pipeline.vae, backend.resolution, fps, backend.face_scale, emotions)
    print(f"frame classifier: {ceiling:.2f} of held-out training frames (through the VAE) read correctly; per "
          "emotion " + ", ".join(f"{e} {share:.2f}" for e, share in per_emotion.items()), flush=True)
    print(f"training clips (through the VAE): mouth opening vs loudness r = {lips:.2f}", flush=True)
    results: dict[str, object] = {"classifier held-out accuracy": ceiling,
                                  "classifier held-out accuracy per emotion": per_emotion,
                                  "training clips lip sync r": lips}
    for emotion in emotions:
        rows = {"model scale": [], "scale 0": []}
        for seed in range(args.seeds):
            for name, scale in (("model scale", None), ("scale 0", 0.0)):
                frames, _, _ = generate(backend, portrait, speech, emotion, seed, fps, scale)
                small = np.stack([cv2.resize(f, (backend.resolution,) * 2, interpolation=cv2.INTER_AREA)
                                  for f in frames])
                predicted = classifier.predict(face_features(small, box))
                rows[name].append(float(np.mean(predicted == emotion)))
        results[emotion] = {name: statistics.mean(values) for name, values in rows.items()}
        blind = per_emotion.get(emotion, 0.0) <= 1 / len(emotions)
        print(f"{emotion:>10}: read as requested {results[emotion]['model scale']:.2f} "
              f"(emotion scale 0: {results[emotion]['scale 0']:.2f}; chance {1 / len(emotions):.2f})"
              + ("; the classifier reads this emotion no better than chance in the training frames themselves, "
                 "so this row says nothing" if blind else ""), flush=True)
    results["mean"] = {name: statistics.mean(results[e][name] for e in emotions) for name in ("model scale", "scale 0")}
    print(f"      mean: read as requested {results['mean']['model scale']:.2f} "
          f"(emotion scale 0: {results['mean']['scale 0']:.2f})", flush=True)
    return results


def lip_sync(args, backend, portrait, speech: Path, fps: float) -> dict:
    from emostudio.generation.face import topology
    from emostudio.generation.face.diffusion import to_close_up
    from emostudio.generation.face.lipsync import loudness_envelope
    from emostudio.generation.media import read_audio

    # The lips where the model draws them (a close-up for a model trained on close-ups), at the output's size.
    square = backend.framing(portrait)
    lips = to_close_up(portrait.landmarks[topology.LIPS_OUTER_LOOP], square, portrait.size)
    true_audio, true_rate = read_audio(speech)
    correlations = {"speech": [], "shifted speech": []}
    for seed in range(args.seeds):
        for name, shift in (("speech", 0.0), ("shifted speech", 0.5)):
            frames, audio, rate = generate(backend, portrait, speech, "neutral", seed, fps, None, shift)
            opening = mouth_opening(frames, lips)
            loudness = loudness_envelope(true_audio, true_rate, np.arange(len(frames)) / fps)
            correlations[name].append(float(np.corrcoef(opening, loudness)[0, 1]))
    result = {name: statistics.mean(values) for name, values in correlations.items()}
    print(f"lip sync: mouth opening vs loudness r = {result['speech']:.2f} (shifted-speech control "
          f"{result['shifted speech']:.2f})", flush=True)
    return result


def training_fit(args, backend, draws: int = 3) -> dict:
    import dataclasses

    from emostudio.conditioning.adapters import LatentEmotionProbe
    from emostudio.train.common import load_config
    from emostudio.train.talking_head import (TalkingHeadConfig, TalkingHeadTrainingModel, WindowDataset, collate,
                                              encode_clip, pick_references, prepare_clips)

    config = load_config(TalkingHeadConfig, args.model / "config.json", drop_reference=0.0, drop_audio=0.0,
                         emotion_loss_weight=0.0)
    config = dataclasses.replace(config, manifest=config.manifest or str(args.model / "corpus" / "manifest.jsonl"))
    pipeline = backend.pipeline
    with torch.no_grad():
        clips = [encode_clip(pipeline, clip, config) for clip in prepare_clips(config)
                 if clip.split == "train" and clip.emotion in args.emotions]
        references, _ = pick_references(pipeline, clips, config)
    windows = WindowDataset(clips, references, pipeline.emotion_bank, config.frames_per_sample)
    probe = LatentEmotionProbe.from_pretrained(str(args.model / "probe"))
    losses: dict[str, dict[str, list[float]]] = {e: {"emotion on": [], "emotion off": []} for e in args.emotions}
    for name, dropped in (("emotion on", 0.0), ("emotion off", 1.0)):
        model = TalkingHeadTrainingModel(pipeline, probe, dataclasses.replace(config, drop_emotion=dropped)).eval()
        for item in range(len(windows)):
            batch = collate([windows[item]])
            with torch.no_grad():
                loss = statistics.mean(float(model(batch, torch.Generator().manual_seed(draw))["diffusion"])
                                       for draw in range(draws))
            losses[clips[windows.index[item][0]].clip.emotion][name].append(loss)
    results = {}
    for emotion, rows in losses.items():
        results[emotion] = {name: statistics.mean(values) for name, values in rows.items()}
        change = results[emotion]["emotion on"] / results[emotion]["emotion off"] - 1
        print(f"{emotion:>10}: training-window loss {results[emotion]['emotion on']:.3f} with the emotion stream, "
              f"{results[emotion]['emotion off']:.3f} without ({abs(change):.0%} {'higher' if change > 0 else 'lower'} "
              "with it)", flush=True)
    return results


def adapter_cost(repeats: int = 6) -> dict:
    """Step time (CPU seconds of one thread) and saved-activation bytes of a UNet step with and without the adapters."""
    from emostudio.conditioning import EmotionBank, EmotionSpec
    from emostudio.generation.face.diffusion import AudioTokenProjector, EmotionTalkingHeadPipeline
    from emostudio.train.talking_head import tiny_audio_encoder, tiny_backbone

    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for resolution, frames in ((64, 8), (128, 8)):
        parts = tiny_backbone(resolution)
        pipeline = EmotionTalkingHeadPipeline.with_new_adapters(**parts, audio_encoder=tiny_audio_encoder())
        unet, adapter = pipeline.unet, pipeline.adapter
        projector: AudioTokenProjector = pipeline.audio_projector
        bank = EmotionBank()
        latent = resolution // 8
        sample = torch.randn(2, frames, 8, latent, latent)
        context = torch.randn(2, 1, 32)
        time_ids = torch.ones(2, 3)
        audio = torch.randn(2, frames, 5, 32)
        emotion = bank.embed(EmotionSpec.parse("happy")).tokens.detach()

        def step(with_adapters: bool) -> tuple[float, int]:
            saved = [0]

            def pack(tensor):
                saved[0] += tensor.numel() * tensor.element_size()
                return tensor

            if not with_adapters:
                adapter.detach(unet)
            start = time.thread_time()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                if with_adapters:
                    tokens = {"audio": projector(audio), "emotion": emotion.expand(2, -1, -1)}
                    with adapter.conditioned(tokens=tokens, region=torch.ones(2, 1, latent, latent)):
                        out = unet(sample, torch.ones(2), context, added_time_ids=time_ids).sample
                else:
                    out = unet(sample, torch.ones(2), context, added_time_ids=time_ids).sample
            out.square().mean().backward()
            seconds = time.thread_time() - start
            if not with_adapters:
                adapter.attach(unet)
            return seconds, saved[0]

        step(True), step(False)  # warm up
        times = {True: [], False: []}
        memory = {}
        for _ in range(repeats):
            for flag in (True, False):  # interleaved, so load changes hit both alike
                seconds, saved = step(flag)
                times[flag].append(seconds)
                memory[flag] = saved
        ratio_time = statistics.median(times[True]) / statistics.median(times[False])
        ratio_memory = memory[True] / memory[False]
        results[f"{resolution}px x {frames} frames"] = {"step_time_ratio": ratio_time,
                                                        "activation_memory_ratio": ratio_memory}
        print(f"adapter cost at {resolution}px, {frames} frames, batch 2, one thread: step CPU time x{ratio_time:.3f}, "
              f"activation memory x{ratio_memory:.3f}", flush=True)
    torch.set_num_threads(threads)
    return results


def adapter_cost_svd_proportions(repeats: int = 3, latent: int = 16, frames: int = 4) -> dict:
    """The same comparison on a UNet of SVD-xt's proportions (its block widths, heads and depth; random
    frozen weights, the adapters training as in the recipe), batch 1, a small latent, one thread, timed
    in CPU seconds of that thread."""
    from diffusers import UNetSpatioTemporalConditionModel

    from emostudio.conditioning import EmotionBank, EmotionSpec
    from emostudio.conditioning.adapters import DecoupledCrossAttentionAdapter
    from emostudio.generation.face.diffusion import spatial_cross_attention

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(  # stable-video-diffusion-img2vid-xt's UNet config
        block_out_channels=(320, 640, 1280, 1280), num_attention_heads=(5, 10, 20, 20), cross_attention_dim=1024,
        layers_per_block=2, in_channels=8, out_channels=4, addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=768, num_frames=25).requires_grad_(False)
    bank = EmotionBank()
    adapter = DecoupledCrossAttentionAdapter.for_backbone(
        unet, {"audio": 1024, "emotion": bank.config.embedding_dim}, select=spatial_cross_attention)
    sample = torch.randn(1, frames, 8, latent, latent)
    context = torch.randn(1, 1, 1024)
    time_ids = torch.tensor([[6.0, 127.0, 0.02]])
    tokens = {"audio": torch.randn(1, frames, 4, 1024),
              "emotion": bank.embed(EmotionSpec.parse("happy")).tokens.detach()}
    region = torch.ones(1, 1, latent, latent)

    def step(with_adapters: bool) -> tuple[float, int]:
        saved = [0]

        def pack(tensor):
            saved[0] += tensor.numel() * tensor.element_size()
            return tensor

        if with_adapters:
            adapter.attach(unet)
        # The input needs a gradient in both cases, so backward runs through the whole frozen backbone alike.
        noisy = sample.clone().requires_grad_(True)
        # CPU time of this thread (the only one computing): far less disturbed by other jobs than wall time.
        start = time.thread_time()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with adapter.conditioned(tokens=tokens, region=region):
                out = unet(noisy, torch.ones(1), context, added_time_ids=time_ids).sample
            loss = out.square().mean()
        loss.backward()
        seconds = time.thread_time() - start
        adapter.detach(unet)
        return seconds, saved[0]

    parameters = sum(p.numel() for p in unet.parameters())
    step(True), step(False)  # warm up
    times: dict[bool, list[float]] = {True: [], False: []}
    memory = {}
    for _ in range(repeats):
        for flag in (True, False):
            seconds, saved = step(flag)
            times[flag].append(seconds)
            memory[flag] = saved
    torch.set_num_threads(threads)
    result = {"unet_parameters": parameters, "adapter_parameters": sum(p.numel() for p in adapter.parameters()),
              "step_seconds_with": times[True], "step_seconds_without": times[False],
              "step_time_ratio": statistics.median(times[True]) / statistics.median(times[False]),
              "activation_memory_ratio": memory[True] / memory[False]}
    print(f"adapter cost on SVD-xt's proportions ({parameters / 1e9:.2f} B-parameter UNet, latent {latent}x{latent}, "
          f"{frames} frames, batch 1, one thread): step CPU time x{result['step_time_ratio']:.3f} "
          f"({statistics.median(times[True]):.1f} s / {statistics.median(times[False]):.1f} s), "
          f"activation memory x{result['activation_memory_ratio']:.3f}", flush=True)
    return result


def memory_against_length(args) -> dict:
    results = {}
    for factor in (1, 2, 4):
        command = [sys.executable, __file__, "--model", str(args.model), "--memory-probe",
                   str(factor * args.seconds), *(["--steps", str(args.steps)] if args.steps else [])]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        results[f"{factor * args.seconds:g} s"] = float(output)
        print(f"memory: {factor * args.seconds:g} s of video peaks at {float(output):.0f} MiB resident", flush=True)
    return results


def memory_probe(model: Path, seconds: float, steps: int | None) -> None:
    from emostudio.conditioning import EmotionSpec
    from emostudio.generation.face.diffusion import DiffusionTalkingHead
    from emostudio.generation.face.perception import analyze_portrait
    from emostudio.generation.face.talking_head import DrivingSpeech
    from emostudio.generation.speech.base import SegmentTiming

    backend = DiffusionTalkingHead(model, num_inference_steps=steps)
    portrait = analyze_portrait(None, 128)
    rate = 16_000
    times = np.arange(int(seconds * rate)) / rate
    audio = (0.3 * np.sin(2 * np.pi * 180 * times) * (np.sin(2 * np.pi * 3 * times) > 0)).astype(np.float32)
    speech = DrivingSpeech(audio, rate, [SegmentTiming("", EmotionSpec.parse("happy"), 0.0, seconds)], None)
    for _ in backend.frames(portrait, speech, float(backend.located.record.get("fps", 12.5)), 0):
        pass
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a folder from 'emostudio train talking-head'")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--portrait", type=Path, default=None,
                        help="the face to animate (default: the bundled astronaut photo; e.g. RUN/corpus/portraits/"
                             "astro-a.png, the face the tiny recipe trains on)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the memory probe's shortest clip")
    parser.add_argument("--emotions", default=",".join(EMOTIONS),
                        help="comma-separated emotions the classifier learns and the clips are asked for, or 'all' "
                             f"(default: {','.join(EMOTIONS)})")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--repeats", type=int, default=6, help="alternating repeats of the adapter-cost steps")
    parser.add_argument("--only", default="emotion,lips,fit,cost,svd-cost,memory",
                        help="comma-separated parts to measure (default: all)")
    parser.add_argument("--memory-probe", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from emostudio.conditioning.taxonomy import CATEGORIES

    args.emotions = CATEGORIES if args.emotions == "all" else tuple(e.strip() for e in args.emotions.split(",") if e.strip())
    unknown = [e for e in args.emotions if e not in CATEGORIES]
    if unknown:
        parser.error(f"unknown emotion {unknown[0]!r}; choose from {', '.join(CATEGORIES)} or 'all'")
    if args.memory_probe is not None:
        memory_probe(args.model, args.memory_probe, args.steps)
        return

    from emostudio.generation.face.diffusion import DiffusionTalkingHead
    from emostudio.generation.face.perception import analyze_portrait
    from emostudio.generation.speech.piper import PiperSpeechBackend

    torch.manual_seed(0)
    backend = DiffusionTalkingHead(args.model, num_inference_steps=args.steps)
    fps = float(backend.located.record.get("fps", 12.5))
    portrait = analyze_portrait(args.portrait, 128)
    results: dict[str, object] = {"machine": "shared 2-core CPU (timings are ratios measured side by side)"}
    # The driving speech is an input only: it lives as long as the run, outside the caller's folder.
    with tempfile.TemporaryDirectory() as scratch:
        speech = Path(scratch) / "speech.wav"
        parts = {"emotion": ("emotion_effect", lambda: emotion_effect(args, backend, portrait, speech, fps)),
                 "lips": ("lip_sync", lambda: lip_sync(args, backend, portrait, speech, fps)),
                 "fit": ("training_fit", lambda: training_fit(args, backend)),
                 "cost": ("adapter_cost", lambda: adapter_cost(args.repeats)),
                 "svd-cost": ("adapter_cost_svd_proportions",
                              lambda: adapter_cost_svd_proportions(max(args.repeats // 2, 1))),
                 "memory": ("memory_mib", lambda: memory_against_length(args))}
        wanted = [part.strip() for part in args.only.split(",") if part.strip()]
        unknown = [part for part in wanted if part not in parts]
        if unknown:
            parser.error(f"unknown part {unknown[0]!r}; choose from {', '.join(parts)}")
        PiperSpeechBackend().speak("We will talk about this later.", "neutral", seed=0).save(speech)
        for part in wanted:
            name, measure = parts[part]
            results[name] = measure()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
        print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
