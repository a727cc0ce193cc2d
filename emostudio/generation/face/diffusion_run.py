"""Talking-head run folders, checked cheaply (no model library imported) before anything loads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import EmostudioError
from ..runs import open_run

TALKING_HEAD_KIND = "talking-head"
FACE_LORA_KIND = "talking-head-face"
BACKBONE_FOLDERS = ("unet", "vae", "image_encoder", "feature_extractor", "scheduler")
RUN_FOLDERS = ("audio_encoder", "audio_projector", "adapter", "emotion_bank")


@dataclass(frozen=True)
class TalkingHeadModel:
    """Where a talking-head model's parts are: the run, its backbone (SVD layout) and a face LoRA."""

    run: Path
    backbone: Path
    record: dict
    face: Path | None = None


def locate_model(folder: str | os.PathLike, lora: str | os.PathLike | None = None) -> TalkingHeadModel:
    """Check a talking-head run folder (and a face LoRA for it) is complete, before anything loads."""
    run = Path(folder)
    record = open_run(run, TALKING_HEAD_KIND, RUN_FOLDERS)
    backbone = Path(record.get("backbone") or ".")
    backbone = backbone if backbone.is_absolute() else (run / backbone).resolve()
    for name in BACKBONE_FOLDERS:
        if not (backbone / name).exists():
            raise EmostudioError(f"The model folder {run} is incomplete: its backbone {backbone} has no {name}; "
                                 "restore the Stable Video Diffusion folder it was trained on.")
    face = None
    if lora is not None:
        face = Path(lora)
        face_record = open_run(face, FACE_LORA_KIND, ("lora/lora.safetensors", "lora/lora_config.json"))
        if face_record.get("base_run_id") != record.get("run_id"):
            raise EmostudioError(f"The face LoRA {face} was trained on another model than {run}; use it with the "
                                 "model it was tuned on, or tune a LoRA for this one.")
    return TalkingHeadModel(run, backbone, record, face)


def check_talk_options(model: str | os.PathLike | None, lora: str | os.PathLike | None, steps: int | None,
                       output: str | os.PathLike) -> TalkingHeadModel:
    """What ``talk --backend diffusion`` checks before loading anything: output, model, LoRA, steps."""
    from ..media import check_output_path

    check_output_path(output, (".mp4",))
    if not model:
        raise EmostudioError("--backend diffusion needs --model RUN_DIR (a folder from 'emostudio train "
                             "talking-head').")
    if steps is not None and not 1 <= steps <= 200:
        raise EmostudioError(f"--steps {steps} is out of range; use 1 to 200 denoising steps.")
    return locate_model(model, lora)
