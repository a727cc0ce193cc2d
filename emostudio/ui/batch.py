"""Batch generation: many speak, talk and style jobs from a JSONL or CSV file, resumable, on one or many processes.

Every row is checked before anything runs, and all bad rows are reported at once with their line
numbers. Progress is kept in ``OUT/manifest.jsonl``, an append-only log with one line per state
change; a job's state is its last line. Running the same command again skips finished jobs and
retries failed or interrupted ones. Outputs are written atomically, so a killed run leaves no
half-written file, and one failing job never stops the others.

On several processes or GPUs, launch the same module with accelerate's launcher (or torchrun on a
CPU-only machine); the pending jobs are split between processes, which share the manifest
(appends of one short line are atomic):

    accelerate launch --multi_gpu --num_processes 4 -m emostudio.ui.batch jobs.jsonl --out results/
    torchrun --nproc_per_node 2 -m emostudio.ui.batch jobs.jsonl --out results/
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EmostudioError, invalid_lines

TASKS = ("speak", "talk", "style")
COLUMNS = ("id", "task", "text", "emotion", "intensity", "portrait", "audio", "voice", "input", "seed", "size",
           "fps", "duration", "options", "backend", "model")
BACKENDS = ("piper", "neural", "diffusion")
OPTION_KEYS = ("intensity", "seed", "size", "fps", "duration")
MANIFEST = "manifest.jsonl"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class Job:
    line: int
    id: str
    task: str
    text: str | None = None
    emotion: str | None = None
    intensity: float | None = None
    portrait: str | None = None
    audio: str | None = None
    voice: str | None = None
    seed: int | None = None
    size: int | None = None  # talk: width and height (default 512); style: output height (default: the input's)
    fps: float = 25.0
    input: str | None = None
    duration: float | None = None
    model: str | None = None  # a neural run folder (backend "neural"); None: the Piper voice
    backend: str = "piper"  # "diffusion": a talk job on a talking-head run folder (``model``)

    @property
    def output_name(self) -> str:
        return f"{self.id}.wav" if self.task == "speak" else f"{self.id}.mp4"


@dataclass
class BatchSummary:
    total: int
    done: int
    skipped: int
    failed: int
    manifest: Path
    seconds: float
    rows: list[dict[str, Any]] = field(default_factory=list)


# -- reading and checking ----------------------------------------------------------------------

def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs from a JSONL or CSV file."""
    if not path.is_file():
        raise EmostudioError(f"The jobs file {path} does not exist; give a .jsonl or .csv file.")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    rows: list[tuple[int, dict[str, Any]]] = []
    if suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                rows.append((number, {"__error__": f"not valid JSON ({error.msg})"}))
                continue
            rows.append((number, row if isinstance(row, dict) else {"__error__": "not a JSON object"}))
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for row in reader:
            cleaned = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
            rows.append((reader.line_num, {k: v for k, v in cleaned.items() if v not in ("", None)}))
    else:
        raise EmostudioError(f"{path.name} is neither .jsonl nor .csv; write one job per line in either format.")
    if not rows:
        raise EmostudioError(f"The jobs file {path} has no jobs; add one row per job.")
    return rows


def _check_row(number: int, row: dict[str, Any], base: Path) -> tuple[Job | None, list[str]]:
    from ..conditioning import EmotionSpec, TimedTimeline
    from ..generation.speech import make_timeline

    problems: list[str] = []
    if "__error__" in row:
        return None, [row["__error__"]]
    options = row.pop("options", None)
    if options is not None:
        if isinstance(options, str):
            try:
                options = json.loads(options)
            except json.JSONDecodeError:
                options = None
        if not isinstance(options, dict) or set(options) - set(OPTION_KEYS):
            problems.append(f"options must be a JSON object with keys among {', '.join(OPTION_KEYS)}")
        else:
            row = {**options, **row}
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(COLUMNS)}")
    job_id, task = str(row.get("id", "")).strip(), str(row.get("task", "")).strip().lower()
    if not job_id:
        problems.append("id is missing")
    elif not _ID_RE.match(job_id):
        problems.append(f"id {job_id!r} must be letters, digits, '.', '_' or '-' (it names the output file)")
    if task not in TASKS:
        problems.append(f"task must be 'speak', 'talk' or 'style', not {task or 'empty'!r}")

    def number_field(name: str, kind: type, low: float, high: float) -> Any:
        if name not in row:
            return None
        try:
            value = kind(row[name])
        except (TypeError, ValueError):
            problems.append(f"{name} {row[name]!r} is not a number")
            return None
        if not low <= value <= high:
            problems.append(f"{name} {value} is outside {low:g}..{high:g}")
            return None
        return value

    intensity = number_field("intensity", float, 0.0, 1.0)
    seed = number_field("seed", int, 0, 2**31 - 1)
    size = number_field("size", int, 64, 2160) if task == "style" else number_field("size", int, 128, 1024)
    if size is not None and size % 2:
        problems.append(f"size {size} must be even")
    fps = number_field("fps", float, 1.0, 60.0)
    duration = number_field("duration", float, 1.0, 120.0)

    def existing(name: str) -> str | None:
        if name not in row:
            return None
        candidate = Path(str(row[name])).expanduser()
        candidate = candidate if candidate.is_absolute() else base / candidate
        if not candidate.is_file():
            problems.append(f"{name} file {row[name]!r} does not exist")
        return str(candidate)

    portrait, audio, voice, footage = existing("portrait"), existing("audio"), existing("voice"), existing("input")
    backend = str(row.get("backend") or "piper").strip().lower()
    model = None
    if backend not in BACKENDS:
        problems.append(f"backend must be 'piper', 'neural' or 'diffusion', not {backend!r}")
    elif backend == "diffusion":
        if task != "talk":
            problems.append("backend 'diffusion' is for talk jobs")
        elif not row.get("model"):
            problems.append("backend 'diffusion' needs model (a folder from 'emostudio train talking-head')")
        else:
            from ..generation.face.diffusion_run import locate_model

            candidate = Path(str(row["model"])).expanduser()
            model = str(candidate if candidate.is_absolute() else base / candidate)
            try:
                locate_model(model)
            except EmostudioError as error:
                problems.append(str(error).rstrip("."))
    elif backend == "neural":
        if task != "speak":
            problems.append("backend 'neural' is for speak jobs")
        elif not row.get("model"):
            problems.append("backend 'neural' needs model (a folder from 'emostudio train tts')")
        else:
            from ..generation.speech.neural import locate_run

            candidate = Path(str(row["model"])).expanduser()
            model = str(candidate if candidate.is_absolute() else base / candidate)
            try:
                locate_run(model)
            except EmostudioError as error:
                problems.append(str(error).rstrip("."))
    elif row.get("model"):
        problems.append("model belongs to backend 'neural' or 'diffusion'")
    text = row.get("text")
    text = str(text) if text is not None else None
    emotion = str(row["emotion"]) if row.get("emotion") not in (None, "") else None
    try:
        if task == "style" and emotion:
            TimedTimeline.parse(emotion)  # footage takes a timeline by seconds
            emotion_tags = True
        else:
            emotion_tags = False
        spec = EmotionSpec.parse(emotion) if emotion and not emotion_tags else EmotionSpec.neutral()
        if intensity is not None:
            spec = spec.with_intensity(intensity)
    except EmostudioError as error:
        problems.append(str(error).rstrip("."))
        spec = EmotionSpec.neutral()
    if task == "speak":
        if portrait or audio:
            problems.append("speak jobs take text only; portrait and audio belong to talk jobs")
        if not text:
            problems.append("speak needs text")
    if task == "talk" and (text is None) == (audio is None):
        problems.append("talk needs either text or audio, not both")
    if task == "style":
        if not footage:
            problems.append("style needs input (a video or an image) and takes no text, portrait or audio")
        elif text or portrait or audio:
            problems.append("style takes input only; text, portrait and audio belong to speak and talk jobs")
    elif footage or duration is not None:
        problems.append("input and duration belong to style jobs")
    if text:
        try:
            make_timeline(text, spec)
        except EmostudioError as error:
            problems.append(str(error).rstrip("."))
    if problems:
        return None, problems
    return Job(number, job_id, task, text, emotion, intensity, portrait, audio, voice, seed, size,
               fps if fps is not None else 25.0, footage, duration, model, backend), []


def load_jobs(path: str | os.PathLike) -> list[Job]:
    """All jobs of a file, or an EmostudioError naming every bad row by line number."""
    source = Path(path)
    rows = read_rows(source)
    jobs: list[Job] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for number, row in rows:
        job, row_problems = _check_row(number, dict(row), source.parent)
        job_id = str(row.get("id", "")).strip()
        if job_id and job_id in first_line:
            row_problems.append(f"id {job_id!r} is already used on line {first_line[job_id]}")
        elif job_id:
            first_line[job_id] = number
        if row_problems:
            problems.append(f"line {number}: " + "; ".join(row_problems))
        elif job is not None:
            jobs.append(job)
    if problems:
        raise invalid_lines(problems, len(rows), f"rows in {source.name}", "fix them and run again (nothing was run)")
    return jobs


# -- the manifest --------------------------------------------------------------------------------

def read_manifest(out: Path) -> dict[str, dict[str, Any]]:
    """The last recorded state of each job id."""
    states: dict[str, dict[str, Any]] = {}
    path = out / MANIFEST
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            if isinstance(record, dict) and "id" in record:
                states[record["id"]] = record
    return states


def record(out: Path, **entry: Any) -> None:
    line = json.dumps({**entry, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, ensure_ascii=False) + "\n"
    # One short line in append mode is written whole, so several processes can share the file.
    descriptor = os.open(out / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line.encode("utf-8"))
    finally:
        os.close(descriptor)


def _remove_partials(out: Path) -> None:
    """Temporary files a killed run left behind (finished outputs are never temporary)."""
    for leftover in out.glob(".*.partial.*"):
        leftover.unlink(missing_ok=True)


# -- running -------------------------------------------------------------------------------------

def run_job(studio, job: Job, out: Path) -> Path:
    target = out / job.output_name
    if job.task == "speak":
        return studio.speak(job.text, job.emotion, job.intensity, voice=job.voice, seed=job.seed,
                            model=job.model).save(target)
    if job.task == "style":
        studio.style(job.input, job.emotion, job.intensity, seed=job.seed, size=job.size, duration=job.duration,
                     output=target)
        return target
    studio.talk(text=job.text, audio=job.audio, emotion=job.emotion, intensity=job.intensity, portrait=job.portrait,
                voice=job.voice, size=job.size or 512, fps=job.fps, seed=job.seed, output=target,
                **({"backend": "diffusion", "model": job.model} if job.backend == "diffusion" else {}))
    return target


def run_batch(jobs: str | os.PathLike, out: str | os.PathLike,
              progress: Callable[[int, int], None] | None = None, studio=None) -> BatchSummary:
    """Run every pending job of ``jobs`` into ``out``; see the module docstring.

    ``studio`` lets a caller that already holds loaded models (the app) lend them.
    """
    import torch
    from accelerate import PartialState
    from tqdm import tqdm

    from .studio import Studio

    started = time.perf_counter()
    all_jobs = load_jobs(jobs)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    # On a CPU-only machine, processes started by torchrun (or accelerate's multi-CPU config) still
    # split the work; with GPUs, `accelerate launch --multi_gpu` does.
    state = PartialState(cpu=not torch.cuda.is_available())
    previous = read_manifest(folder)
    finished = {job.id for job in all_jobs if previous.get(job.id, {}).get("state") == "done"
                and (folder / job.output_name).exists()}
    pending = [job for job in all_jobs if job.id not in finished]
    if state.is_main_process:
        _remove_partials(folder)
    state.wait_for_everyone()

    studio = studio or Studio()
    with state.split_between_processes(pending) as mine:
        bar = tqdm(mine, desc=f"jobs (process {state.process_index})" if state.num_processes > 1 else "jobs",
                   unit="job", file=sys.stderr, disable=None, position=state.process_index)
        for done_count, job in enumerate(bar, start=1):
            attempt = int(previous.get(job.id, {}).get("attempt", 0)) + 1
            record(folder, id=job.id, state="running", attempt=attempt, process=state.process_index)
            begin = time.perf_counter()
            try:
                path = run_job(studio, job, folder)
            except Exception as error:  # one failing job must not stop the others
                message = str(error) if isinstance(error, EmostudioError) else f"{type(error).__name__}: {error}"
                record(folder, id=job.id, state="failed", attempt=attempt, error=message,
                       seconds=round(time.perf_counter() - begin, 3))
            else:
                record(folder, id=job.id, state="done", attempt=attempt, output=path.name,
                       seconds=round(time.perf_counter() - begin, 3))
            if progress is not None:
                progress(done_count, len(mine))
        bar.close()
    state.wait_for_everyone()

    final = read_manifest(folder)
    rows = [{"id": job.id, "task": job.task, "state": final.get(job.id, {}).get("state", "pending"),
             "output": final.get(job.id, {}).get("output", ""), "error": final.get(job.id, {}).get("error", "")}
            for job in all_jobs]
    summary = BatchSummary(
        total=len(all_jobs),
        done=sum(row["state"] == "done" for row in rows) - len(finished),
        skipped=len(finished),
        failed=sum(row["state"] == "failed" for row in rows),
        manifest=folder / MANIFEST,
        seconds=time.perf_counter() - started,
        rows=rows,
    )
    if state.is_main_process:
        print(f"{summary.total} jobs: {summary.done} done, {summary.skipped} already done, {summary.failed} failed "
              f"in {summary.seconds:.1f} s; manifest: {summary.manifest}", file=sys.stderr)
        for row in rows:
            if row["state"] == "failed":
                print(f"  {row['id']}: {row['error']}", file=sys.stderr)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``accelerate launch -m emostudio.ui.batch``."""
    parser = argparse.ArgumentParser(prog="emostudio.ui.batch", description=__doc__.splitlines()[0])
    parser.add_argument("jobs")
    parser.add_argument("--out", "-o", required=True)
    args = parser.parse_args(argv)
    try:
        summary = run_batch(args.jobs, args.out)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())

