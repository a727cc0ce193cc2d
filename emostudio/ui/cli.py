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
    speak.add_argument("--voice", default=None, help="a Piper .onnx voice (its .onnx.json beside it); "
                       "default: the bundled en_US-joe-medium")
    speak.add_argument("--seed", type=int, default=None, help="make the take reproducible")
    speak.add_argument("--output", "-o", default="speech.wav", help="output .wav, .flac or .ogg (default: "
                       "speech.wav)")
    speak.set_defaults(handler=_speak)

    emotions = commands.add_parser("emotions", help="list the emotions, or show how one resolves")
    emotions.add_argument("description", nargs="*", help="an emotion in any form, e.g. 'nervous but hopeful'")
    emotions.set_defaults(handler=_emotions)
    return parser


def _speak(args: argparse.Namespace) -> None:
    from ..generation.media import AUDIO_SUFFIXES, check_output_path
    from ..generation.speech import PiperSpeechBackend, make_timeline, resolve_emotion

    text = sys.stdin.read() if args.text == "-" else args.text
    check_output_path(args.output, AUDIO_SUFFIXES)
    timeline = make_timeline(text, resolve_emotion(args.emotion, args.intensity))
    print("Loading the voice...", file=sys.stderr)
    backend = PiperSpeechBackend(args.voice)
    result = backend.synthesize(timeline, seed=args.seed)
    path = result.save(args.output)
    emotions = ", ".join(f"{segment.spec}" for segment in result.segments)
    print(f"Wrote {path} ({result.duration:.1f} s of speech; emotion {emotions}).")


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
