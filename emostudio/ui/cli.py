"""The ``emostudio`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import EmostudioError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emostudio", description="Emotion-controlled speech, talking heads "
                                     "and video.")
    commands = parser.add_subparsers(dest="command", required=True)

    speak = commands.add_parser("speak", help="speak text with an emotion", description=(
        "Speak TEXT with an emotion. Inline tags switch emotion mid-text: "
        "'[happy] Great news! [sad:0.6] But we have to leave.'"))
    speak.add_argument("text", help="the text to speak, or '-' to read it from standard input")
    speak.add_argument("--emotion", "-e", default="neutral", help="a category (happy), a mixture "
                       "(happy:0.7+surprised:0.3), a VAD point (vad:0.5,0.4,0.1) or a description "
                       "('quietly furious'); default: neutral")
    speak.add_argument("--intensity", "-i", type=float, default=None, help="overall intensity from 0 to 1")
    _add_emotion_from(speak)
    speak.add_argument("--voice", default=None, help="a Piper .onnx voice (its .onnx.json beside it); "
                       "default: the bundled en_US-joe-medium")
    speak.add_argument("--backend", choices=["piper", "neural"], default="piper", help="piper: the embedded "
                       "voice (default); neural: a SpeechT5 model trained with 'emostudio train tts' (needs --model)")
    speak.add_argument("--model", default=None, metavar="RUN_DIR", help="for --backend neural: the output folder "
                       "of 'emostudio train tts' or 'emostudio train voice'")
    speak.add_argument("--seed", type=int, default=None, help="make the take reproducible")
    speak.add_argument("--output", "-o", default="speech.wav", help="output .wav, .flac or .ogg (default: "
                       "speech.wav)")
    speak.set_defaults(handler=_speak)

    talk = commands.add_parser("talk", help="a talking-head video of a portrait", description=(
        "Animate a portrait saying TEXT (inline emotion tags allowed) or lip-syncing an AUDIO recording, "
        "with an emotion. Without --portrait, a bundled public-domain portrait is used."))
    source = talk.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", "-t", help="text to speak ('-' reads standard input)")
    source.add_argument("--audio", "-a", help="a recording to lip-sync (wav, flac, ogg, mp3, m4a or a video's sound)")
    talk.add_argument("--portrait", "-p", default=None, help="a photo with one face (default: bundled portrait)")
    talk.add_argument("--emotion", "-e", default="neutral", help="emotion, as for 'speak'")
    talk.add_argument("--intensity", "-i", type=float, default=None, help="overall intensity from 0 to 1")
    _add_emotion_from(talk)
    talk.add_argument("--voice", default=None, help="a Piper .onnx voice for --text")
    talk.add_argument("--model", default=None, metavar="RUN_DIR", help="speak --text with a neural model "
                      "('emostudio train tts' or 'train voice' output) instead of a Piper voice; with --backend "
                      "diffusion: the talking-head model ('emostudio train talking-head' output)")
    talk.add_argument("--backend", choices=["warp", "diffusion"], default="warp", help="warp: the embedded face "
                      "rig (default); diffusion: a neural talking head on Stable Video Diffusion (needs --model)")
    talk.add_argument("--lora", default=None, metavar="FACE_DIR", help="for --backend diffusion: a face LoRA "
                      "tuned on --model ('emostudio train talking-head --video')")
    talk.add_argument("--emotion-scale", type=float, default=None, help="for --backend diffusion: emotion "
                      "guidance (0: the audio-only result; default: the model's)")
    talk.add_argument("--steps", type=int, default=None, help="for --backend diffusion: denoising steps")
    talk.add_argument("--size", type=int, default=512, help="output width and height in pixels (default 512)")
    talk.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    talk.add_argument("--seed", type=int, default=None, help="make blinks, head motion and voice repeatable")
    talk.add_argument("--style", action="store_true", help="also grade the clip with the same emotions "
                      "(colour, light and camera, as 'emostudio style' does)")
    talk.add_argument("--output", "-o", default="talk.mp4", help="output .mp4 (default: talk.mp4)")
    talk.add_argument("--export-blendshapes", default=None, metavar="ANIM.json|.csv",
                      help="also write ARKit blendshape weights per frame (and the speech as a .wav beside them)")
    talk.add_argument("--no-video", action="store_true", help="write only the --export-blendshapes animation")
    talk.set_defaults(handler=_talk)

    style = commands.add_parser("style", help="grade footage or a still with an emotion", description=(
        "Tell INPUT (a video, whose sound is kept, or a still image, which becomes a clip with gentle camera "
        "motion) in an emotion: colour, light, texture and camera motion from the GradingHead. The emotion "
        "may change over time: '[calm] [fearful @4s] [sad:0.6 @9.5s]'."))
    style.add_argument("input", nargs="?", help="a video (mp4, mov, mkv, webm, ...) or an image (jpg, png, webp, "
                       "...); not with --backend neural")
    style.add_argument("--emotion", "-e", default="neutral", help="an emotion as for 'speak', or a timeline of "
                       "tags with start times: '[happy] [sad @4s]'")
    style.add_argument("--intensity", "-i", type=float, default=None, help="overall intensity from 0 to 1 "
                       "(0 leaves a video untouched)")
    style.add_argument("--seed", type=int, default=None, help="make grain and camera shake repeatable")
    style.add_argument("--size", type=int, default=None, help="output height in pixels, even (default: the "
                       "input's)")
    style.add_argument("--duration", type=float, default=None, help="seconds of video made from a still "
                       "(default 6)")
    style.add_argument("--export-lut", default=None, metavar="LOOK.cube", help="also write the colour of the "
                       "look (at the start) as a 3D LUT for Resolve, Premiere or FFmpeg")
    style.add_argument("--look", default=None, metavar="RUN_DIR", help="a look fitted by 'emostudio train grading' "
                       "(default: the published colour-emotion findings)")
    style.add_argument("--backend", choices=["grading", "neural"], default="grading", help="grading: grade INPUT "
                       "with FFmpeg filters (default); neural: generate --prompt with a Wan2.1 emotion adapter "
                       "trained by 'emostudio train video-adapter' (needs --model)")
    style.add_argument("--model", default=None, metavar="RUN_DIR", help="for --backend neural: the output folder of "
                       "'emostudio train video-adapter'")
    style.add_argument("--prompt", default=None, help="for --backend neural: what the clip shows")
    style.add_argument("--emotion-scale", type=float, default=1.0, help="for --backend neural: strength of the "
                       "emotion adapter, apart from the prompt's guidance (0: the base model; default 1)")
    style.add_argument("--output", "-o", default="styled.mp4", help="output .mp4 (default: styled.mp4)")
    style.set_defaults(handler=_style)

    serve = commands.add_parser("serve", help="start the web app", description="Start the Gradio app "
                                "(Speak, Talking head, Emotion lab, Batch) on the bundled defaults.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument("--speech-model", default=None, metavar="RUN_DIR", help="offer this neural speech model "
                       "('emostudio train tts' or 'train voice' output) in the Speak tab")
    serve.add_argument("--talking-head-model", default=None, metavar="RUN_DIR", help="offer this diffusion "
                       "talking head ('emostudio train talking-head' output) in the Talking head tab")
    serve.set_defaults(handler=_serve)

    batch = commands.add_parser("batch", help="run many speak/talk jobs from a JSONL or CSV file",
                                description="Run every job in JOBS (JSONL or CSV; see the README for the "
                                "columns). All rows are checked first; a manifest in --out makes reruns resume.")
    batch.add_argument("jobs", help="the jobs file (.jsonl or .csv)")
    batch.add_argument("--out", "-o", required=True, help="output folder (holds the outputs and manifest.jsonl)")
    batch.set_defaults(handler=_batch)

    analyze = commands.add_parser("analyze", help="the emotion of a recording over time", description=(
        "Read the emotion of an audio or video clip, second by second, with the trained emotion embedder; "
        "print it and save a plot."))
    analyze.add_argument("clip", help="an audio or video file")
    analyze.add_argument("--embedder", default=None, help="a folder from 'emostudio train embedder' (default: "
                         "the bundled one)")
    analyze.add_argument("--window", type=float, default=1.0, help="seconds per step (default 1)")
    analyze.add_argument("--plot", default=None, help="PNG to write (default: CLIP's name with .emotion.png)")
    analyze.set_defaults(handler=_analyze)

    train = commands.add_parser("train", help="train a model (runs the accelerate training script)",
                                description="Train a model; the same script runs under 'accelerate launch -m "
                                "emostudio.train.embedder'. Arguments after the model name go to the script.")
    train.add_argument("model", choices=["embedder", "grading", "tts", "voice", "talking-head", "video-adapter"])
    train.add_argument("arguments", nargs=argparse.REMAINDER)
    train.set_defaults(handler=_train)

    data = commands.add_parser("data", help="datasets: make the synthetic corpus, or a manifest of a published one")
    data.add_argument("action", choices=["synth", "corpus"])
    data.add_argument("arguments", nargs=argparse.REMAINDER)
    data.set_defaults(handler=_data)

    verify = commands.add_parser("verify", help="check the Content Credentials of media files", description=(
        "Check the signed C2PA Content Credentials of each FILE: whether they are present and valid, who signed, "
        "what generated it and with which emotion. Exits non-zero if any file lacks valid credentials."))
    verify.add_argument("files", nargs="+", metavar="FILE", help="wav, flac or mp4 files")
    verify.set_defaults(handler=_verify)

    emotions = commands.add_parser("emotions", help="list the emotions, or show how one resolves")
    emotions.add_argument("description", nargs="*", help="an emotion in any form, e.g. 'nervous but hopeful'")
    emotions.set_defaults(handler=_emotions)
    return parser


def _add_emotion_from(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--emotion-from", default=None, metavar="CLIP", help="take the emotion of a reference "
                        "recording (audio or video of anyone; its identity is not transferred)")
    parser.add_argument("--embedder", default=None, help="the emotion embedder for --emotion-from (default: bundled)")


def _emotion_argument(args: argparse.Namespace):
    if getattr(args, "emotion_from", None):
        from .studio import Studio

        spec = Studio.emotion_from(args.emotion_from, args.embedder)
        print(f"Emotion of {args.emotion_from}: {spec.describe()}", file=sys.stderr)
        return spec
    return args.emotion


def _speak(args: argparse.Namespace) -> None:
    from ..generation.media import AUDIO_SUFFIXES, check_output_path
    from .studio import Studio

    text = sys.stdin.read() if args.text == "-" else args.text
    check_output_path(args.output, AUDIO_SUFFIXES)
    if args.backend == "neural" and not args.model:
        raise EmostudioError("--backend neural needs --model RUN_DIR (a folder from 'emostudio train tts').")
    if args.model and args.backend != "neural":
        raise EmostudioError("--model is for --backend neural; add '--backend neural' or drop --model.")
    studio = Studio(voice=args.voice)
    emotion = _emotion_argument(args)
    studio.resolve(emotion, args.intensity)  # a bad emotion fails before the voice loads
    if args.model:
        from ..generation.speech.neural import locate_run

        locate_run(args.model)  # a missing or partial model folder fails before anything loads
    print("Loading the voice...", file=sys.stderr)
    result = studio.speak(text, emotion, args.intensity, seed=args.seed, model=args.model)
    path = result.save(args.output)
    emotions = ", ".join(f"{segment.spec}" for segment in result.segments)
    print(f"Wrote {path} ({result.duration:.1f} s of speech; emotion {emotions}).")


def _talk(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .studio import Studio

    text = sys.stdin.read() if args.text == "-" else args.text
    if args.backend == "diffusion":
        from ..generation.face.diffusion_run import check_talk_options

        check_talk_options(args.model, args.lora, args.steps, args.output)  # before anything loads
    elif args.lora or args.emotion_scale is not None or args.steps is not None:
        raise EmostudioError("--lora, --emotion-scale and --steps are for --backend diffusion; add it or drop them.")
    elif args.model:
        from ..generation.speech.neural import locate_run

        if text is None:
            raise EmostudioError("--model speaks --text; drop it when lip-syncing --audio.")
        locate_run(args.model)
    bar = tqdm(total=0, unit="frame", desc="Rendering", file=sys.stderr, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = Studio(voice=args.voice).talk(
            text=text, audio=args.audio, emotion=_emotion_argument(args), intensity=args.intensity,
            portrait=args.portrait,
            size=args.size, fps=args.fps, seed=args.seed, output=args.output, progress=progress, style=args.style,
            model=args.model, blendshapes=args.export_blendshapes, video=not args.no_video,
            backend=args.backend, lora=args.lora, emotion_scale=args.emotion_scale, steps=args.steps)
    finally:
        bar.close()
    for warning in result.warnings:
        print(f"note: {warning}", file=sys.stderr)
    emotions = ", ".join(str(segment.spec) for segment in result.segments)
    if result.animation_path is not None:
        print(f"Wrote {result.animation_path} (ARKit blendshapes, {result.frames} frames at {result.fps:g} fps) and "
              f"{result.animation_path.with_suffix('.wav')}.")
    if result.video_path is not None:
        print(f"Wrote {result.video_path} ({result.duration:.1f} s, {result.frames} frames at {result.fps:g} fps; "
              f"emotion {emotions}).")


def _style(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from ..generation.media import VIDEO_SUFFIXES, check_output_path
    from .studio import Studio

    check_output_path(args.output, VIDEO_SUFFIXES)
    if args.intensity is not None and not 0.0 <= args.intensity <= 1.0:
        raise EmostudioError(f"Intensity {args.intensity:g} is out of range; give a number from 0 to 1.")
    if args.backend == "neural":
        return _style_neural(args)
    if args.model or args.prompt:
        raise EmostudioError("--model and --prompt are for --backend neural; add '--backend neural' or drop them.")
    if not args.input:
        raise EmostudioError("Give the footage or still to style (INPUT), or generate with --backend neural.")
    bar = tqdm(total=0, unit="frame", desc="Grading", file=sys.stderr, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = Studio(look=args.look).style(args.input, args.emotion, args.intensity, seed=args.seed, size=args.size,
                                duration=args.duration, output=args.output, export_lut=args.export_lut,
                                progress=progress)
    finally:
        bar.close()
    how = "copied untouched (intensity 0)" if result.copied else f"{result.width}x{result.height}"
    print(f"Wrote {result.path} ({result.duration:.1f} s, {how}; emotion {result.timeline.describe()}).")
    if args.export_lut:
        print(f"Wrote {args.export_lut} (the look's colour as a 3D LUT).")


def _style_neural(args: argparse.Namespace) -> None:
    from ..generation.video.neural import as_timeline, check_run

    if not args.model or not args.prompt:
        raise EmostudioError("--backend neural needs --model RUN_DIR (from 'emostudio train video-adapter') and "
                             "--prompt (what the clip shows).")
    if args.input or args.look or args.export_lut:
        raise EmostudioError("--backend neural generates from --prompt; drop INPUT, --look and --export-lut.")
    if not 0.0 <= args.emotion_scale <= 10.0:
        raise EmostudioError(f"Emotion scale {args.emotion_scale:g} is out of range; give a number from 0 to 10.")
    if args.duration is not None and not 0.0 < args.duration <= 60.0:
        raise EmostudioError(f"Duration {args.duration:g} is out of range; give 0 to 60 seconds.")
    as_timeline(args.emotion)  # a bad emotion fails before the model loads
    check_run(args.model)
    from ..generation.video.neural import EmotionVideoPipeline, generate_clip

    print("Loading the video model...", file=sys.stderr)
    pipe = EmotionVideoPipeline.from_run(args.model)
    result = generate_clip(pipe, args.prompt, args.emotion, args.output, intensity=args.intensity,
                           emotion_scale=args.emotion_scale, seed=args.seed or 0, duration=args.duration,
                           size=args.size)
    height, width = result.frames.shape[1:3]
    print(f"Wrote {result.path} ({result.duration:.1f} s, {width}x{height}; emotion {result.timeline.describe()}).")


def _analyze(args: argparse.Namespace) -> None:
    from pathlib import Path

    from ..conditioning import CATEGORIES
    from ..generation.analysis import UNCLEAR_BELOW, analyze_clip
    from .plots import save_emotion_over_time

    def describe(weights, confidence: float) -> str:
        if confidence < UNCLEAR_BELOW:
            return "neutral/unclear"
        ranked = sorted(zip(CATEGORIES, weights), key=lambda item: -item[1])
        return " + ".join(f"{name} {w:.0%}" for name, w in ranked if w >= 0.1)

    overall, rows = analyze_clip(args.clip, args.embedder, args.window)
    print(f"{'seconds':>13}  intensity  confidence  emotion")
    for start, end, weights, intensity, confidence in rows:
        print(f"{start:6.1f}-{end:6.1f}  {intensity:9.2f}  {confidence:10.2f}  {describe(weights, confidence)}")
    print(f"{'whole clip':>13}  {overall.intensity:9.2f}  {overall.confidence:10.2f}  "
          f"{describe(overall.weights, overall.confidence)}")
    plot = Path(args.plot) if args.plot else Path(args.clip).with_suffix(".emotion.png")
    save_emotion_over_time(rows, plot, title=Path(args.clip).name)
    print(f"Wrote {plot}")


def _train(args: argparse.Namespace) -> None:
    import importlib

    script = importlib.import_module(f"..train.{args.model.replace('-', '_')}", __package__)
    if script.main(args.arguments) != 0:
        raise SystemExit(2)


def _data(args: argparse.Namespace) -> None:
    import importlib

    script = importlib.import_module(f"..train.{args.action}", __package__)
    if script.main(args.arguments) != 0:
        raise SystemExit(2)


def _serve(args: argparse.Namespace) -> None:
    if args.speech_model:
        from ..generation.speech.neural import locate_run

        locate_run(args.speech_model)  # a wrong folder fails before the app starts
    if args.talking_head_model:
        from ..generation.face.diffusion_run import locate_model

        locate_model(args.talking_head_model)
    from .app import launch

    launch(host=args.host, port=args.port, speech_model=args.speech_model,
           talking_head_model=args.talking_head_model)


def _batch(args: argparse.Namespace) -> None:
    from .batch import run_batch

    summary = run_batch(args.jobs, args.out)
    if summary.failed:
        raise EmostudioError(f"{summary.failed} of {summary.total} jobs failed (see {summary.manifest}); run the "
                             "same command again to retry them.")


def _verify(args: argparse.Namespace) -> None:
    from ..generation.provenance import read_credentials

    failed = 0
    for name in args.files:
        try:
            found = read_credentials(name)
        except EmostudioError as error:
            print(f"{name}: NO VALID CREDENTIALS: {error}")
            failed += 1
            continue
        if found.valid:
            inputs = f"; inputs: {', '.join(found.ingredients)}" if found.ingredients else ""
            print(f"{name}: valid Content Credentials, signed by {found.signer}; generated by {found.generator} "
                  f"({found.claim_generator}); emotion {found.emotion}{inputs}")
        else:
            print(f"{name}: INVALID Content Credentials (signed by {found.signer}): {'; '.join(found.problems)}; "
                  "the file was changed after signing or the signature is broken.")
            failed += 1
    if failed:
        raise EmostudioError(f"{failed} of {len(args.files)} files have no valid Content Credentials.")


def _emotions(args: argparse.Namespace) -> None:
    from ..conditioning import EmotionSpec
    from ..conditioning.taxonomy import CATEGORIES, CATEGORY_VAD, VAD_SOURCES, VOCABULARY

    if not args.description:
        print(f"{'category':<11} {'valence':>8} {'arousal':>8} {'dominance':>10}  source")
        for name in CATEGORIES:
            v, a, d = CATEGORY_VAD[name]
            print(f"{name:<11} {v:>8.2f} {a:>8.2f} {d:>10.2f}  {VAD_SOURCES[name]}")
        print("\nWords: " + ", ".join(sorted(VOCABULARY)))
        print("\nMix with '+' and weights (happy:0.7+surprised:0.3), give a VAD point (vad:0.5,0.4,0.1), or "
              "describe a feeling in a few words ('quietly furious').")
        return
    text = " ".join(args.description)
    spec = EmotionSpec.parse(text)
    print(f"{text!r} -> {spec.describe()}")
    print(f"as a spec: {spec}")
    similarities = {k.split(':', 1)[1]: v for k, v in spec.details.items() if k.startswith("similarity:")}
    if similarities:
        ranked = sorted(similarities.items(), key=lambda item: -item[1])
        print("similarity to each category: " + ", ".join(f"{n} {s:.2f}" for n, s in ranked))
    from ..conditioning import EmotionBank, ProsodyHead

    controls = ProsodyHead().controls(EmotionBank().embed(spec))[0]
    print(f"speech prosody: pitch {controls.f0_shift_semitones:+.1f} st, range x{controls.f0_range_factor:.2f}, "
          f"tempo x{controls.tempo_factor:.2f}, loudness {controls.loudness_db:+.1f} dB, "
          f"tilt {controls.tilt_db:+.1f} dB, pauses x{controls.pause_factor:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
