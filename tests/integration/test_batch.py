"""Batch generation as a user runs it: bad rows, failures, interruption and resume, several processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image
from skimage import data

from emostudio.errors import EmostudioError
from emostudio.generation.media import read_video_info
from emostudio.ui.batch import MANIFEST, load_jobs, read_manifest, run_batch
from emostudio.ui.cli import main


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_all_bad_rows_are_reported_at_once_and_nothing_runs(tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n".join([
        json.dumps({"id": "ok", "task": "speak", "text": "Fine."}),
        json.dumps({"id": "ok", "task": "speak", "text": "Same id."}),
        json.dumps({"id": "b", "task": "sing", "text": "x"}),
        json.dumps({"id": "c", "task": "speak", "text": "x", "emotion": "hapy"}),
        json.dumps({"id": "d", "task": "talk", "text": "x", "portrait": "missing.jpg"}),
        json.dumps({"id": "e", "task": "talk"}),
        json.dumps({"id": "f", "task": "speak", "text": "x", "intensity": 3}),
        json.dumps({"id": "g/h", "task": "speak", "text": "x", "colour": "red"}),
        "{broken",
    ]) + "\n")
    out = tmp_path / "out"
    assert main(["batch", str(jobs), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    for line, words in [(2, "already used on line 1"), (3, "task must be"), (4, "did you mean 'happy'"),
                        (5, "does not exist"), (6, "either text or audio"), (7, "outside 0..1"),
                        (8, "unknown column"), (9, "not valid JSON")]:
        assert f"line {line}: " in error and words in error, f"line {line} not reported with {words!r}"
    assert "line 1:" not in error
    assert not out.exists(), "validation happens before anything runs"


def test_csv_with_options_column(tmp_path):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text('id,task,text,emotion,options\n'
                    'one,speak,Hello from a spreadsheet.,happy,"{""seed"": 3, ""intensity"": 0.5}"\n')
    (job,) = load_jobs(jobs)
    assert (job.id, job.task, job.seed, job.intensity, job.line) == ("one", "speak", 3, 0.5, 2)


def test_one_failing_job_does_not_stop_the_others_and_is_retried(tmp_path):
    cat = tmp_path / "cat.png"
    Image.fromarray(data.chelsea()).save(cat)
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [
        {"id": "hello", "task": "speak", "text": "Hello there.", "emotion": "happy", "seed": 1},
        {"id": "cat", "task": "talk", "text": "Meow.", "portrait": "cat.png", "size": 128},
        {"id": "bye", "task": "speak", "text": "[sad] Goodbye.", "seed": 2},
    ])
    out = tmp_path / "out"
    summary = run_batch(jobs, out)
    assert (summary.total, summary.done, summary.failed) == (3, 2, 1)
    states = read_manifest(out)
    assert states["cat"]["state"] == "failed" and "No face" in states["cat"]["error"]
    assert soundfile.info(out / "hello.wav").duration > 0.3 and (out / "bye.wav").exists()
    assert not (out / "cat.mp4").exists()

    # The user fixes the portrait and runs the same command: only the failed job runs again.
    Image.fromarray(data.astronaut()).save(cat)
    again = run_batch(jobs, out)
    assert (again.done, again.skipped, again.failed) == (1, 2, 0)
    states = read_manifest(out)
    assert states["cat"]["state"] == "done" and states["cat"]["attempt"] == 2
    assert states["hello"]["attempt"] == 1
    assert read_video_info(out / "cat.mp4")["has_audio"]


def test_interrupted_run_resumes_without_redoing_or_corrupting(tmp_path):
    rows = [{"id": f"clip{i}", "task": "talk", "text": f"This is clip number {i}, spoken slowly.",
             "size": 192, "seed": i} for i in range(5)]
    jobs = write_jsonl(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "emostudio", "batch", str(jobs), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            states = read_manifest(out) if out.exists() else {}
            if any(s["state"] == "done" for s in states.values()):
                break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)  # the hardest interruption: no cleanup at all
    finally:
        process.wait()
    interrupted = read_manifest(out)
    finished = {i for i, s in interrupted.items() if s["state"] == "done"}
    assert 1 <= len(finished) < 5

    summary = run_batch(jobs, out)
    assert summary.skipped == len(finished) and summary.done == 5 - len(finished) and summary.failed == 0
    states = read_manifest(out)
    for job_id in finished:
        assert states[job_id]["attempt"] == 1, "finished jobs are not run again"
    for row in rows:
        info = read_video_info(out / f"{row['id']}.mp4")
        assert info["frames"] > 10 and info["has_audio"]
    assert not list(out.glob(".*partial*")), "temporary files of the killed run are cleaned up"


def test_jobs_split_between_processes(tmp_path):
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [
        {"id": f"line{i}", "task": "speak", "text": f"Sentence number {i}.", "seed": i} for i in range(4)])
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "emostudio.ui.batch",
         str(jobs), "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    records = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert {r["process"] for r in records if r["state"] == "running"} == {0, 1}
    assert all(read_manifest(out)[f"line{i}"]["state"] == "done" for i in range(4))
    for i in range(4):
        audio, _ = soundfile.read(out / f"line{i}.wav")
        assert np.abs(audio).max() > 0.05


def test_empty_and_unknown_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(EmostudioError, match="no jobs"):
        load_jobs(tmp_path / "empty.jsonl")
    (tmp_path / "jobs.txt").write_text("x")
    with pytest.raises(EmostudioError, match="neither .jsonl nor .csv"):
        load_jobs(tmp_path / "jobs.txt")
    with pytest.raises(EmostudioError, match="does not exist"):
        load_jobs(tmp_path / "missing.csv")


def test_style_jobs_grade_footage_and_stills(tmp_path):
    still = tmp_path / "scene.png"
    Image.fromarray(data.astronaut()[::4, ::4]).save(still)
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [
        {"id": "warm", "task": "style", "input": "scene.png", "emotion": "happy", "duration": 1, "size": 64},
        {"id": "turn", "task": "style", "input": "scene.png", "emotion": "[sad] [angry @0.5s]",
         "options": {"duration": 1, "seed": 2}},
    ])
    summary = run_batch(jobs, tmp_path / "out")
    assert (summary.done, summary.failed) == (2, 0)
    info = read_video_info(tmp_path / "out" / "warm.mp4")
    assert info["height"] == 64 and info["duration"] == pytest.approx(1.0, abs=0.1)
    assert read_video_info(tmp_path / "out" / "turn.mp4")["height"] == 128


def test_bad_style_rows_are_reported(tmp_path):
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [
        {"id": "a", "task": "style", "text": "no input"},
        {"id": "b", "task": "style", "input": "missing.mp4"},
        {"id": "c", "task": "style", "input": "jobs.jsonl", "emotion": "[happy] [sad]"},
        {"id": "d", "task": "speak", "text": "x", "duration": 3},
    ])
    with pytest.raises(EmostudioError) as caught:
        load_jobs(jobs)
    message = str(caught.value)
    for line, words in [(1, "style needs input"), (2, "does not exist"), (3, "needs a start time"),
                        (4, "belong to style jobs")]:
        assert f"line {line}: " in message and words in message
