"""Time of the bundled embedder's recipe, stage by stage: wall clock and CPU time.

Runs the recipe's commands as a user would, each in its own process:

1. ``emostudio data synth --out OUT/corpus --sentences 2 --audio-sentences 4`` (clips with faces,
   and sound-only clips);
2. the features ``train embedder`` computes first (face tracking, normalised audio features and the
   voice variants), run on their own here so their time is seen apart;
3. ``emostudio train embedder --config configs/embedder_synthetic.yaml`` (the training itself).

CPU time is reported beside wall-clock time because a shared machine stretches the wall clock.
``--threads-ratio`` also measures, side by side in alternating runs, what the stages' own thread
settings buy: a small corpus made with ``--threads 1`` and ``--threads 0`` (the libraries'
defaults), and a few training steps with ``cpu_threads`` 1 and 0.

    python benchmarks/embedder_recipe.py --out /tmp/recipe [--threads-ratio] [--skip-recipe]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "embedder_synthetic.yaml"
FEATURES = """
import sys
from pathlib import Path
from emostudio.train.common import limit_cpu_threads, load_config
from emostudio.train.data.features import cache_features
from emostudio.train.data.manifest import read_manifest
from emostudio.train.embedder import EmbedderConfig
config = load_config(EmbedderConfig, sys.argv[1])
limit_cpu_threads(config.cpu_threads)  # as train embedder does before it computes them
manifest = Path(sys.argv[2])
cache_features(read_manifest(manifest), manifest.parent, Path(sys.argv[3]), show_progress=False,
               kind=config.audio_features, voice_variants=config.voice_variants, seed=config.seed)
"""


def timed(command: list[str], log: Path) -> dict[str, float]:
    """Run a command; its wall-clock and CPU minutes (user + system of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    with open(log, "w", encoding="utf-8") as output:
        subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=True, env=environment)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_minutes": (time.perf_counter() - start) / 60, "cpu_minutes": cpu / 60}


def emostudio(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "emostudio", *arguments]


def recipe(out: Path) -> dict[str, dict[str, float]]:
    corpus, run = out / "corpus", out / "run"
    stages = {
        "synthetic corpus": emostudio("data", "synth", "--out", str(corpus), "--sentences", "2",
                                      "--audio-sentences", "4"),
        "features": [sys.executable, "-c", FEATURES, str(CONFIG), str(corpus / "manifest.jsonl"),
                     str(run / "features")],
        "training": emostudio("train", "embedder", "--config", str(CONFIG), "--manifest",
                              str(corpus / "manifest.jsonl"), "--output-dir", str(run)),
    }
    return {name: timed(command, out / f"{name.replace(' ', '_')}.log") for name, command in stages.items()}


def threads_ratio(out: Path, rounds: int) -> dict[str, float]:
    """Wall and CPU time with the libraries' default threads over one thread, alternating runs."""
    small = out / "small"
    results: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        for threads in ("1", "0"):
            shutil.rmtree(small / threads, ignore_errors=True)
            results.setdefault(f"synth_{threads}", []).append(timed(emostudio(
                "data", "synth", "--out", str(small / threads), "--identities", "3", "--sentences", "1",
                "--audio-sentences", "1", "--intensities", "1.0", "--threads", threads), out / "small.log"))
    manifest = small / "1" / "manifest.jsonl"
    for _ in range(rounds):
        for threads in ("1", "0"):
            config = out / f"threads_{threads}.yaml"
            settings = [line for line in CONFIG.read_text(encoding="utf-8").splitlines()
                        if not line.startswith(("cpu_threads:", "max_steps:", "report_to:"))]
            config.write_text("\n".join(settings + [f"cpu_threads: {threads}", "max_steps: 40", "report_to: none"])
                              + "\n", encoding="utf-8")
            run = out / f"threads_run_{threads}"
            shutil.rmtree(run, ignore_errors=True)
            results.setdefault(f"train_{threads}", []).append(timed(emostudio(
                "train", "embedder", "--config", str(config), "--manifest", str(manifest), "--output-dir",
                str(run)), out / "threads_train.log"))

    def total(key: str, what: str) -> float:
        return sum(row[what] for row in results[key])

    return {f"{stage}_{what}_default_over_one": total(f"{stage}_0", f"{what}_minutes") / total(f"{stage}_1",
                                                                                               f"{what}_minutes")
            for stage in ("synth", "train") for what in ("wall", "cpu")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="a scratch folder (emptied first)")
    parser.add_argument("--skip-recipe", action="store_true", help="only the thread comparison")
    parser.add_argument("--threads-ratio", action="store_true", help="compare one thread with the defaults")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per setting for the ratio")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    results: dict = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]}
    if not args.skip_recipe:
        results["stages"] = recipe(out)
        for name, row in results["stages"].items():
            print(f"{name:>18}: {row['wall_minutes']:6.1f} min wall, {row['cpu_minutes']:6.1f} min CPU")
        print(f"{'total':>18}: {sum(r['wall_minutes'] for r in results['stages'].values()):6.1f} min wall, "
              f"{sum(r['cpu_minutes'] for r in results['stages'].values()):6.1f} min CPU")
    if args.threads_ratio:
        results["threads"] = threads_ratio(out, args.rounds)
        for key, value in results["threads"].items():
            print(f"{key}: {value:.2f}")
    results["load_average_at_end"] = os.getloadavg()[0]
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"load average {results['load_average_at_start']:.1f} at the start, {results['load_average_at_end']:.1f} "
          f"at the end, {results['cpus']} CPUs")


if __name__ == "__main__":
    main()
