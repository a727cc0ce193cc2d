"""Each command loads only what it uses: speaking a sentence must not load the face stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FACE_STACK = ("emostudio.generation.face.talking_head", "emostudio.generation.face.perception", "mediapipe", "cv2",
              "gradio")
# Seconds of start-up each, none of which speaking with the default voice and prosody needs.
HEAVY = ("torch", "torch._dynamo", "diffusers", "transformers", "scipy.signal")


def _modules_after(code: str, cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_speak_does_not_import_the_face_stack(tmp_path: Path) -> None:
    output = tmp_path / "hello.wav"
    modules = _modules_after(f"from emostudio.ui.cli import main\nassert main(['speak', 'Hi.', '-o', {str(output)!r}]) == 0",
                             tmp_path)
    assert output.exists()
    assert "emostudio.generation.speech.piper" in modules  # the check below looks at a real run
    loaded = sorted(name for name in FACE_STACK if name in modules)
    assert not loaded, f"speak imported {loaded}"
    heavy = sorted(name for name in HEAVY if name in modules)
    assert not heavy, f"speak imported {heavy}"


def test_parsing_an_emotion_imports_neither_torch_nor_diffusers(tmp_path: Path) -> None:
    modules = _modules_after("import emostudio\nfrom emostudio.conditioning import EmotionSpec\n"
                             "EmotionSpec.parse('happy:0.7+surprised:0.3')\nimport emostudio.ui.cli", tmp_path)
    assert "emostudio.conditioning.spec" in modules
    assert not {"torch", "diffusers", "mediapipe", "cv2"} & modules


def test_the_emotion_core_does_not_import_diffusers(tmp_path: Path) -> None:
    modules = _modules_after("from emostudio.conditioning import EmotionBank, ProsodyHead, GradingHead\n"
                             "from emostudio.conditioning.embedder import DisentangledEmotionEmbedder\n"
                             "EmotionBank(), ProsodyHead(), GradingHead(), DisentangledEmotionEmbedder()", tmp_path)
    assert "emostudio.conditioning.embedder" in modules and "torch" in modules
    assert not {"diffusers", "torch._dynamo", "transformers"} & modules


def test_style_with_the_published_look_does_not_import_torch(tmp_path: Path) -> None:
    import numpy as np

    from emostudio.generation.media import VideoWriter

    clip, output = tmp_path / "clip.mp4", tmp_path / "styled.mp4"
    with VideoWriter(clip, 64, 48, 25) as video:
        for index in range(12):
            video.write(np.full((48, 64, 3), 40 + 10 * index, np.uint8))
    modules = _modules_after(f"from emostudio.ui.cli import main\n"
                             f"assert main(['style', {str(clip)!r}, '-e', 'happy', '-o', {str(output)!r}]) == 0",
                             tmp_path)
    assert output.exists() and "emostudio.generation.video.grading" in modules
    assert not {"torch", "diffusers", "transformers", "mediapipe"} & modules


def test_talk_with_the_shipped_expressions_does_not_import_torch(tmp_path: Path) -> None:
    output = tmp_path / "talk.mp4"
    modules = _modules_after(f"from emostudio.ui.cli import main\n"
                             f"assert main(['talk', '--text', 'Hi.', '--size', '128', '-o', {str(output)!r}]) == 0",
                             tmp_path)
    assert output.exists() and "emostudio.generation.face.talking_head" in modules
    assert not {"torch", "diffusers", "transformers", "scipy.ndimage"} & modules
