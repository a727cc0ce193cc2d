"""The command line as a user meets it: real runs, exit codes, and no partial files on errors."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from emostudio.generation.media import read_metadata
from emostudio.ui.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_speak_writes_a_marked_wav(tmp_path, capsys):
    out = tmp_path / "happy.wav"
    assert main(["speak", "What a wonderful day!", "--emotion", "happy:0.7+surprised:0.3", "--seed", "1",
                 "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    audio, rate = soundfile.read(out)
    assert rate == 22050 and len(audio) > rate
    assert "happy" in read_metadata(out)["comment"]


def test_speak_reads_stdin(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Read from a pipe."))
    out = tmp_path / "stdin.flac"
    assert main(["speak", "-", "--emotion", "sad", "-o", str(out)]) == 0
    assert soundfile.info(out).format == "FLAC"


@pytest.mark.parametrize("args, message", [
    (["speak", "", "-o", "{out}"], "empty"),
    (["speak", "Hello", "--emotion", "hapy", "-o", "{out}"], "did you mean 'happy'"),
    (["speak", "Hello", "--emotion", "happy:0.7+sad:0.7", "-o", "{out}"], "sum to 1.40"),
    (["speak", "Hello", "--emotion", "happy:x", "-o", "{out}"], "Could not read"),
    (["speak", "Hello", "--intensity", "1.5", "-o", "{out}"], "out of range"),
    (["speak", "x" * 6000, "-o", "{out}"], "limit"),
    (["speak", "Hello", "--voice", "{tmp}/missing.onnx", "-o", "{out}"], "does not exist"),
    (["speak", "Hello", "-o", "{tmp}/no/such/folder/out.wav"], "does not exist"),
    (["speak", "Hello", "-o", "{tmp}/out.mp3"], ".wav"),
    (["talk", "--text", "Hello", "--no-video"], "nothing to write"),
    (["talk", "--text", "Hello", "--export-blendshapes", "{tmp}/anim.txt", "--no-video"], ".json or .csv"),
])
def test_bad_input_exits_non_zero_with_one_sentence(tmp_path, capsys, args, message):
    out = tmp_path / "out.wav"
    argv = [a.format(out=out, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and message in error
    assert not any(tmp_path.glob("*.wav")) and not any(tmp_path.glob(".*partial*"))


def test_output_under_a_file_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    assert main(["speak", "Hello", "-o", str(blocker / "out.wav")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_emotions_lists_categories_and_resolves_descriptions(capsys):
    assert main(["emotions"]) == 0
    listing = capsys.readouterr().out
    for name in ("neutral", "happy", "contempt", "Russell & Mehrabian (1977)"):
        assert name in listing
    assert main(["emotions", "quietly", "furious"]) == 0
    resolved = capsys.readouterr().out
    assert "angry" in resolved and "pitch" in resolved


def test_console_script_runs_as_a_module(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "emostudio", "emotions", "joy"], capture_output=True,
                               text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "happy 100%" in completed.stdout


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.+?)\n```", readme, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_talk_prints_nothing_on_stderr(tmp_path):
    # MediaPipe's native graphs log to fd 2 behind Python's back, so only a real process shows it.
    out = tmp_path / "talk.mp4"
    completed = subprocess.run([sys.executable, "-m", "emostudio", "talk", "--text", "Hi.", "--size", "128",
                                "--fps", "10", "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert out.stat().st_size > 0 and "Wrote" in completed.stdout
