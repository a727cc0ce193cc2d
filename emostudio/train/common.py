"""What every training script shares: config files, the Accelerator, checkpoints and resuming.

Scripts follow diffusers' example training scripts: an ``Accelerator`` with mixed precision,
gradient accumulation and TensorBoard logging; ``checkpoint-<step>`` folders saved with
``save_state`` every N steps, keeping at most ``checkpoints_total_limit``; ``resume_from_checkpoint``
("latest" or a path) restores model, optimiser, scheduler and random states, and the data order
is a function of (seed, epoch), so a resumed run continues the same loss curve. Multi-GPU and
multi-node come from accelerate's own configuration.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

from ..errors import EmostudioError
from ..generation.runs import (RUN_KIND_FILE, add_lora, load_lora, mark_run, open_run,  # noqa: F401  (shared by every recipe)
                               save_lora)

ConfigType = TypeVar("ConfigType", bound="TrainingConfig")


@dataclasses.dataclass
class TrainingConfig:
    """Keys every training config understands; scripts subclass this with their own."""

    manifest: str = ""
    output_dir: str = "emostudio-run"
    seed: int = 0
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"  # no, fp16, bf16
    checkpointing_steps: int = 200
    checkpoints_total_limit: int | None = 3
    resume_from_checkpoint: str | None = None  # "latest" or a checkpoint folder
    report_to: str = "tensorboard"
    num_workers: int = 0
    cpu_threads: int = 0  # at most this many CPU threads per process (0: torch's default, one per core)
    validation_steps: int = 0  # validate every N optimisation steps (0: only where a script does at epoch ends)


def load_config(kind: type[ConfigType], path: str | os.PathLike | None, **overrides: Any) -> ConfigType:
    """Read a YAML config into ``kind``; unknown keys and wrong types are errors naming the key."""
    import yaml

    values: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        if not source.is_file():
            raise EmostudioError(f"The config {source} does not exist; write a YAML file of training settings.")
        try:
            loaded = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise EmostudioError(f"{source} is not valid YAML ({error}); fix the file.") from error
        if not isinstance(loaded, dict):
            raise EmostudioError(f"{source} must hold a mapping of settings (key: value).")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    fields = {field.name: field for field in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        where = f" in {path}" if path else ""
        raise EmostudioError(f"Unknown config key(s) {', '.join(unknown)}{where}; the keys are {', '.join(fields)}.")
    defaults = kind()
    for key, value in values.items():
        expected = type(getattr(defaults, key))
        if value is None or getattr(defaults, key) is None or isinstance(value, expected):
            continue
        if expected is list and isinstance(value, str):  # "freeze: audio" means the list [audio]
            values[key] = [value]
            continue
        if expected is bool:  # bool("no") is True: only YAML's true and false say yes or no
            raise EmostudioError(f"Config key {key!r} should be true or false, not {value!r}.")
        try:
            values[key] = expected(value) if not isinstance(value, bool) else value
        except (TypeError, ValueError) as error:
            raise EmostudioError(f"Config key {key!r} should be {expected.__name__}, not {value!r}.") from error
    config = kind(**values)
    if config.mixed_precision not in ("no", "fp16", "bf16"):
        raise EmostudioError(f"mixed_precision must be no, fp16 or bf16, not {config.mixed_precision!r}.")
    return config


def limit_cpu_threads(threads: int) -> None:
    """Run torch, OpenCV and the OpenMP and BLAS pools started from now on with at most ``threads`` threads.

    Small models gain little from more threads than one, and where the cores are busy with other
    work, pools of one spinning thread per core are many times slower than a single thread.
    0 leaves the libraries' defaults.
    """
    if threads <= 0:
        return
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        import cv2
    except ImportError:  # OpenCV comes with the face stack; training without it needs no limit there
        return
    cv2.setNumThreads(threads)


def make_accelerator(config: TrainingConfig):
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed

    limit_cpu_threads(config.cpu_threads)
    output = Path(config.output_dir)
    project = ProjectConfiguration(project_dir=str(output), logging_dir=str(output / "logs"))
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        log_with=None if config.report_to in ("", "none") else config.report_to,
        project_config=project,
    )
    set_seed(config.seed)
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        (output / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2))
    return accelerator


def checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """``checkpoint-<step>`` folders, oldest first."""
    folder = Path(output_dir)
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def save_checkpoint(accelerator, config: TrainingConfig, step: int) -> Path:
    """Save the training state at ``step``, removing the oldest beyond the total limit first."""
    target = Path(config.output_dir) / f"checkpoint-{step}"
    if accelerator.is_main_process and config.checkpoints_total_limit is not None:
        existing = checkpoints(config.output_dir)
        surplus = len(existing) - config.checkpoints_total_limit + 1
        for old in existing[: max(surplus, 0)]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(target))
    return target


def resume(accelerator, config: TrainingConfig) -> int:
    """Load the checkpoint asked for and return its global step (0 when starting fresh)."""
    if not config.resume_from_checkpoint:
        return 0
    if config.resume_from_checkpoint == "latest":
        found = checkpoints(config.output_dir)
        if not found:
            accelerator.print(f"No checkpoint in {config.output_dir}; starting a new run.")
            return 0
        path = found[-1]
    else:
        path = Path(config.resume_from_checkpoint)
        if not path.is_dir():
            raise EmostudioError(f"The checkpoint {path} does not exist; use 'latest' or a checkpoint-<step> folder.")
    try:
        accelerator.load_state(str(path))
    except (RuntimeError, KeyError, ValueError, FileNotFoundError) as error:
        raise EmostudioError(f"{path} is not a checkpoint of this model ({str(error).splitlines()[0][:200]}); "
                             "resume from a checkpoint this script saved.") from error
    accelerator.print(f"Resumed from {path}")
    return int(path.name.split("-")[-1])


# ---------------------------------------------------------------------------------------------
# Pieces every neural recipe shares: validation hooks (LoRA and typed run folders: generation/runs.py)
# ---------------------------------------------------------------------------------------------



def is_due(step: int, every: int | None) -> bool:
    """Whether a hook that runs every ``every`` optimisation steps runs at ``step`` (None/0: never)."""
    return bool(every) and step > 0 and step % int(every) == 0


def run_validation(accelerator, step: int, every: int | None, validate) -> Any:
    """Call ``validate(step)`` on the main process when due; its return value is logged if a dict."""
    if not is_due(step, every) or not accelerator.is_main_process:
        return None
    result = validate(step)
    if isinstance(result, dict):
        accelerator.log({f"validation/{k}": v for k, v in result.items()}, step=step)
    return result


def fit(accelerator, config: TrainingConfig, model, optimizer, train_loader, scheduler, trainable: list,
        total_steps: int, steps_per_epoch: int, order: torch.Generator, validate) -> tuple[list[dict], dict]:
    """The optimisation loop the recipes share: resume, accumulate, checkpoint, validate.

    ``model(batch, crops)`` returns a dict of losses with ``"loss"`` the one to minimise; ``crops``
    is seeded by the step, and the data order by ``order`` per epoch, so a resumed run sees the same
    batches. ``validate`` runs every ``config.validation_steps``.
    """
    import math

    import torch
    from tqdm import tqdm

    global_step = resume(accelerator, config)
    first_epoch = global_step // steps_per_epoch
    skip = (global_step % steps_per_epoch) * config.gradient_accumulation_steps
    crops = torch.Generator()
    history: list[dict[str, float]] = []
    metrics: dict[str, float] = {}
    bar = tqdm(total=total_steps, initial=global_step, desc="training", disable=not accelerator.is_main_process)
    for epoch in range(first_epoch, math.ceil(total_steps / steps_per_epoch)):
        model.train()
        # The data order and crops depend only on (seed, epoch, step), so a resumed run sees the same batches.
        order.manual_seed(config.seed + epoch)
        loader = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
        skip = 0
        for batch in loader:
            crops.manual_seed(config.seed * 100_003 + global_step)
            with accelerator.accumulate(model):
                parts = model(batch, crops)
                accelerator.backward(parts["loss"])
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if accelerator.sync_gradients:
                global_step += 1
                bar.update(1)
                values = {k: float(v.detach()) for k, v in parts.items()}
                history.append({"step": global_step, **values})
                accelerator.log({f"train/{k}": v for k, v in values.items()}, step=global_step)
                bar.set_postfix(loss=f"{values['loss']:.3f}")
                if global_step % config.checkpointing_steps == 0:
                    save_checkpoint(accelerator, config, global_step)
                result = run_validation(accelerator, global_step, config.validation_steps, validate)
                metrics = {f"validation_{k}": v for k, v in (result or {}).items()} or metrics
                if global_step >= total_steps:
                    break
        if global_step >= total_steps:
            break
    bar.close()
    return history, metrics
