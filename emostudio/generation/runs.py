"""Typed run folders: which recipe wrote a model folder, checked before anything heavy loads.

Training writes ``emostudio_run.json`` (the recipe's kind, a run id, and for derived runs the base
they were tuned from) into every output folder; generators read it first, so a missing, partial
or wrong folder is one sentence naming it rather than a stack trace from a model loader.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from ..errors import EmostudioError

RUN_KIND_FILE = "emostudio_run.json"


def mark_run(folder: str | os.PathLike, kind: str, **details: Any) -> dict:
    """Record which recipe made a run folder (and e.g. which base it was tuned from)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    record = {"kind": kind, "run_id": uuid.uuid4().hex, **details}
    (target / RUN_KIND_FILE).write_text(json.dumps(record, indent=2))
    return record


def open_run(folder: str | os.PathLike, kind: str | tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    """Check a run folder is complete and of the kind expected, before anything heavy loads.

    Returns the folder's run record; a missing folder, a folder of another kind or a missing file
    is one sentence naming it.
    """
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    source = Path(folder)
    record_file = source / RUN_KIND_FILE
    if not source.is_dir():
        raise EmostudioError(f"The model folder {source} does not exist; give a folder a training run wrote.")
    if not record_file.is_file():
        raise EmostudioError(f"{source} is not an emostudio model folder (no {RUN_KIND_FILE}); "
                             f"give the output folder of 'emostudio train {kinds[0]}'.")
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise EmostudioError(f"{record_file} is unreadable ({error}); train the model again.") from error
    if record.get("kind") not in kinds:
        raise EmostudioError(f"{source} holds a {record.get('kind')!r} model, not {' or '.join(map(repr, kinds))}; "
                             "give a folder of the right kind.")
    for name in required:
        if not (source / name).exists():
            raise EmostudioError(f"The model folder {source} is incomplete: {source / name} is missing; "
                                 "train again or copy the whole folder.")
    return record


# LoRA saved apart from its base, so a run folder holds only what it trained.


def add_lora(model, target_modules: list[str], rank: int = 4, alpha: int | None = None,
             adapter_name: str = "default"):
    """Inject LoRA layers through peft into ``model`` (in place); only they need training."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=target_modules, init_lora_weights=True)
    return inject_adapter_in_model(config, model, adapter_name=adapter_name)


def save_lora(model, folder: str | os.PathLike, target_modules: list[str], rank: int, alpha: int | None = None,
              adapter_name: str = "default") -> Path:
    """Write the LoRA weights only (``lora.safetensors``) and their settings, apart from the base."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in
             get_peft_model_state_dict(model, adapter_name=adapter_name).items()}
    save_file(state, str(target / "lora.safetensors"))
    settings = {"target_modules": list(target_modules), "rank": rank, "alpha": alpha or rank}
    (target / "lora_config.json").write_text(json.dumps(settings, indent=2))
    return target / "lora.safetensors"


def load_lora(model, folder: str | os.PathLike, adapter_name: str = "default") -> bool:
    """Attach the LoRA saved by ``save_lora`` in ``folder`` to ``model``; False when there is none."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    source = Path(folder)
    if not (source / "lora.safetensors").is_file():
        return False
    settings = json.loads((source / "lora_config.json").read_text())
    add_lora(model, settings["target_modules"], settings["rank"], settings["alpha"], adapter_name)
    result = set_peft_model_state_dict(model, load_file(str(source / "lora.safetensors")), adapter_name=adapter_name)
    if getattr(result, "unexpected_keys", None):
        raise EmostudioError(f"{source / 'lora.safetensors'} does not fit this model; use LoRA trained on this base.")
    return True
