"""The commands' outputs carry valid Content Credentials, with the portrait recorded as an input."""

from __future__ import annotations

from pathlib import Path

import PIL.Image

from emostudio.generation.face.perception import default_portrait
from emostudio.generation.provenance import read_credentials
from emostudio.ui.cli import main


def test_speak_and_talk_outputs_verify(tmp_path: Path, capsys) -> None:
    speech = tmp_path / "hello.wav"
    assert main(["speak", "Hello there.", "--emotion", "happy", "-o", str(speech)]) == 0
    found = read_credentials(speech)
    assert found.valid and found.emotion.startswith("happy") and "piper" in found.generator.lower()

    portrait = tmp_path / "me.jpg"
    PIL.Image.fromarray(default_portrait()).save(portrait)
    clip = tmp_path / "me.mp4"
    assert main(["talk", "--text", "Hi.", "--emotion", "sad", "--portrait", str(portrait), "--size", "128",
                 "--fps", "10", "-o", str(clip)]) == 0
    found = read_credentials(clip)
    assert found.valid and found.emotion.startswith("sad") and found.ingredients == ["me.jpg"]
    capsys.readouterr()
    assert main(["verify", str(speech), str(clip)]) == 0
    assert capsys.readouterr().out.count(": valid Content Credentials") == 2


def test_style_output_is_signed_with_the_footage_as_ingredient(tmp_path: Path) -> None:
    import numpy as np

    from emostudio.generation.media import VideoWriter, provenance

    footage = tmp_path / "scene.mp4"
    with VideoWriter(footage, 64, 48, 10, metadata=provenance("test camera", "neutral")) as video:
        for index in range(10):
            video.write(np.full((48, 64, 3), 20 * index, np.uint8))
    styled = tmp_path / "styled.mp4"
    assert main(["style", str(footage), "--emotion", "sad", "-o", str(styled)]) == 0
    found = read_credentials(styled)
    assert found.valid and "style" in found.generator and found.emotion.startswith("sad")
    assert found.ingredients == ["scene.mp4"]
