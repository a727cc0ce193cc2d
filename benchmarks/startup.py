"""Start-up of the command line: import time per command, and whole-process speed against plain Piper.

Every figure is a new process, as a user starting a command gets. Runs alternate between the
contenders and medians are reported, so a busy machine hurts both sides alike:

- import: seconds to import what each command loads, over a bare ``python -c pass``;
- cold speak: ``emostudio speak "Hello there." --emotion happy`` against a plain onnxruntime run of
  the same Piper voice (load the .onnx, phonemize with espeak-ng, synthesize, write a WAV);
- paragraph: ``emostudio speak`` of a ~16 s paragraph, whole-process real-time factor;
- talk: ``emostudio talk --text`` of a ~9 s clip at the default size, whole process over clip length.

    python benchmarks/startup.py [--repeats 5] [--talk-repeats 1]

To compare with another version, run it with that checkout first on PYTHONPATH.

Where the time goes: ``python -X importtime -m emostudio.ui.cli speak ...`` (imports) and
``python -m cProfile -s cumtime -m emostudio.ui.cli speak ...`` (the rest).

What those showed, and what was done (2-core machine):

- importing was most of a cold ``speak``: the emotion core subclassed diffusers' ``ModelMixin``, and
  ``import diffusers`` pulls in ``torch._dynamo`` (about 5 s); torch itself is about 1.4 s; the
  prosody transform's one first-order low-pass imported ``scipy.signal`` (about 1.9 s). Now the
  emotion core is plain torch modules that read and write diffusers' folder format
  (``conditioning/pretrained.py``), the published prosody table is mixed with numpy when no fitted
  head is given (no torch at all on the default path), and the low-pass is numpy;
- loading the voice was onnxruntime's session initialisation, mostly graph optimisation (about
  2 s, plus ``onnx`` to patch the graph). The patched, optimised graph is now cached under
  ``$XDG_CACHE_HOME/emostudio/voices`` and loads in about 0.4 s without re-optimising;
- what remains is numpy, onnxruntime and parselmouth imports, synthesis, PSOLA and signing.

``talk`` (``python -X importtime -m emostudio.ui.cli talk --text ...`` and cProfile) showed:

- torch (about 2 s) loaded for the expression table alone: the shipped table is now mixed with
  numpy in ``conditioning/controls.py`` beside the prosody and grading tables, equal to what the
  untrained ExpressionHead gives; torch loads only for a fitted head or bank;
- ``scipy.ndimage`` (about 0.5 s, its array-API dispatch) for ``gaussian_filter1d`` on a few
  per-frame curves: now a numpy filter with the same kernel and edges (``face/smoothing.py``);
- per frame: the backward map gathered a (pixels, 2, 3) array for an ``einsum`` (now three
  multiply-adds on a gather, with an identity map for uncovered pixels; the same floats), and each
  frame's RGB -> YUV conversion built a new threaded scaler (now one per video; the same bytes);
- MediaPipe (about 0.8 s) imports matplotlib through ``mediapipe/__init__.py``, which imports all
  of ``mediapipe.python.solutions`` (drawing utilities included) before any submodule can load:
  a plain import of the face mesh alone cannot avoid it;
- the portrait's analysis is not overlapped with synthesis: MediaPipe runs with file descriptor 2
  sent to /dev/null (its native logs), which would swallow the other thread's messages, and
  onnxruntime already keeps both cores busy while synthesising.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile

SHORT = "Hello there."
PARAGRAPH = ("The storm had passed by the time we reached the harbour. Boats rocked gently against the pier, "
             "and the fishermen were already mending their nets. Nobody spoke of what had happened the night "
             "before, but everyone knew that the old lighthouse would never shine again. We walked home slowly, "
             "saying very little.")
TALK_TEXT = ("Thank you all for coming today. I know the journey was long, and the weather did not help. "
             "Let us begin with the good news, and then the plans for next year.")

COMMAND_IMPORTS = {
    "emotions": "import emostudio.ui.cli, emostudio.conditioning",
    # speak with the default voice and prosody: the voice's runtime and PSOLA, no torch (older versions
    # loaded the emotion bank and prosody head, torch and diffusers, when the voice was made)
    "speak": "import emostudio.ui.cli, emostudio.ui.studio, emostudio.generation.speech.piper, "
             "emostudio.conditioning.controls, onnxruntime, parselmouth",
    "talk": "import emostudio.ui.cli, emostudio.ui.studio, emostudio.generation.face.talking_head",
    "verify": "import emostudio.ui.cli, emostudio.generation.provenance, c2pa",
    "style": "import emostudio.ui.cli, emostudio.ui.studio, emostudio.generation.video.grading",
    "batch": "import emostudio.ui.cli, emostudio.ui.batch",
    "serve": "import emostudio.ui.cli, emostudio.ui.app",
}

PLAIN_PIPER = """
import json, sys, numpy as np, onnxruntime, soundfile
from emostudio.generation.speech.phonemize import EspeakPhonemizer
from emostudio.generation.speech.piper import default_voice_path
path = default_voice_path()
config = json.loads(path.with_name(path.name + '.json').read_text())
session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
id_map, pieces = config['phoneme_id_map'], []
for sentence in EspeakPhonemizer(config['espeak']['voice']).sentences(sys.argv[1]):
    ids = [id_map['^'][0], id_map['_'][0]]
    for char in sentence.phonemes:
        if char in id_map:
            ids += [id_map[char][0], id_map['_'][0]]
    ids.append(id_map['$'][0])
    scales = np.array([0.667, 1.0, 0.8], np.float32)
    pieces.append(session.run(None, {'input': np.array([ids], np.int64), 'input_lengths': np.array([len(ids)]),
                                     'scales': scales})[0].reshape(-1))
soundfile.write(sys.argv[2], np.concatenate(pieces), config['audio']['sample_rate'])
"""


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all threads) of a whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = seconds(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "emostudio.ui.cli", *arguments]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--talk-repeats", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emostudio-startup-"))
    # The first run makes the local signing certificate and any cached voice graph: not a cold start to time.
    subprocess.run(cli("speak", SHORT, "-o", str(work / "warm.wav")), check=True, capture_output=True)

    bare = statistics.median(seconds([sys.executable, "-c", "pass"]) for _ in range(args.repeats))
    print(f"{'command':<9} {'import s':>9}")
    for name, code in COMMAND_IMPORTS.items():
        try:
            taken = statistics.median(seconds([sys.executable, "-c", code]) for _ in range(args.repeats))
        except subprocess.CalledProcessError:  # a command this version does not have
            print(f"{name:<9} {'n/a':>9}")
            continue
        print(f"{name:<9} {taken - bare:>9.2f}")

    ours, plain = [], []
    for _ in range(args.repeats):
        ours.append(seconds(cli("speak", SHORT, "--emotion", "happy", "-o", str(work / "short.wav"))))
        plain.append(seconds([sys.executable, "-c", PLAIN_PIPER, SHORT, str(work / "plain.wav")]))
    speak_s, plain_s = statistics.median(ours), statistics.median(plain)
    print(f"\ncold speak {SHORT!r}: emostudio {speak_s:.2f} s, plain onnxruntime Piper {plain_s:.2f} s, "
          f"ratio {speak_s / plain_s:.2f}")

    # Beside the wall-clock RTF (the target), CPU seconds (a busy machine inflates them far less) and plain
    # Piper speaking the same paragraph, the floor that synthesis alone sets on this machine.
    paragraph, paragraph_cpu, plain_paragraph = [], [], []
    for _ in range(args.repeats):
        wall, cpu = timed(cli("speak", PARAGRAPH, "--emotion", "calm", "-o", str(work / "paragraph.wav")))
        paragraph.append(wall)
        paragraph_cpu.append(cpu)
        plain_paragraph.append(seconds([sys.executable, "-c", PLAIN_PIPER, PARAGRAPH, str(work / "plain_p.wav")]))
    spoken = soundfile.info(str(work / "paragraph.wav")).duration
    print(f"paragraph ({spoken:.1f} s of speech): {statistics.median(paragraph):.2f} s, whole-process RTF "
          f"{statistics.median(paragraph) / spoken:.2f} (CPU {statistics.median(paragraph_cpu) / spoken:.2f}); "
          f"plain onnxruntime Piper {statistics.median(plain_paragraph):.2f} s, RTF "
          f"{statistics.median(plain_paragraph) / soundfile.info(str(work / 'plain_p.wav')).duration:.2f}")

    talking = [timed(cli("talk", "--text", TALK_TEXT, "--emotion", "happy", "--seed", "0", "-o",
                         str(work / "talk.mp4"))) for _ in range(args.talk_repeats)]
    from emostudio.generation.media import read_video_info

    clip = read_video_info(work / "talk.mp4")["duration"]
    talk_s = statistics.median(wall for wall, _ in talking)
    print(f"talk ({clip:.1f} s clip, default size): {talk_s:.2f} s, {talk_s / clip:.2f}x real time "
          f"(CPU {statistics.median(cpu for _, cpu in talking) / clip:.2f}x)")


if __name__ == "__main__":
    main()
