"""PretrainedModule: a torch module that saves and loads itself as a folder, the way diffusers' models do.

The emotion core (bank, heads, embedder) is small and runs on every command, so it is a plain
``torch.nn.Module`` instead of diffusers' ``ModelMixin, ConfigMixin``: importing diffusers pulls in
torch's compiler stack, seconds of start-up for a few kilobytes of weights. The folder format is the
same as diffusers' (``<config_name>`` JSON with the constructor arguments, and the weights in
``diffusion_pytorch_model.safetensors``), so folders saved by either class load with either.
The neural adapters keep diffusers' mixins, as their backbones need diffusers anyway.

    class EmotionBank(PretrainedModule):
        config_name = "emotion_bank_config.json"

        @register_to_config
        def __init__(self, embedding_dim: int = 64, ...) -> None:
            super().__init__()
            ...
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"  # diffusers' name, so its loaders read our folders too

Module = TypeVar("Module", bound="PretrainedModule")


class ModuleConfig(dict):
    """A module's constructor arguments, read as ``config.embedding_dim`` or ``config["embedding_dim"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def register_to_config(init: Callable[..., None]) -> Callable[..., None]:
    """Record the arguments ``__init__`` was called with (defaults included) as the module's config."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def recording_init(self: PretrainedModule, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))  # self
        self.config = ModuleConfig(arguments)

    return recording_init


class PretrainedModule(nn.Module):
    """Base of the emotion core's modules: ``config``, ``save_pretrained`` and ``from_pretrained``."""

    config_name: str = "config.json"
    config: ModuleConfig

    # diffusers' pipelines ask their components for these (ModelMixin has them), e.g. to find the
    # execution device when the bank is registered as a pipeline component.
    @property
    def device(self) -> torch.device:
        return next(self.parameters(), torch.empty(0)).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters(), torch.empty(0)).dtype

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write the config and the weights (safetensors) into ``directory``."""
        from safetensors.torch import save_file

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"_class_name": type(self).__name__, **self.config}
        (folder / self.config_name).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        weights = {name: tensor.detach().contiguous() for name, tensor in self.state_dict().items()}
        save_file(weights, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls: type[Module], directory: str | os.PathLike,
                        torch_dtype: torch.dtype | None = None) -> Module:
        """The module saved in ``directory`` (by ``save_pretrained`` here or diffusers'), in eval mode.

        ``torch_dtype`` casts the weights, as diffusers' ``from_pretrained`` does.

        Raises OSError for a missing file, ValueError for a config that is not JSON, RuntimeError
        for weights that do not fit the config.
        """
        from safetensors.torch import load_file

        folder = Path(directory)
        config_path, weights_path = folder / cls.config_name, folder / WEIGHTS_NAME
        for path in (config_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist")
        saved = json.loads(config_path.read_text(encoding="utf-8"))
        # Keys starting with "_" are the saver's notes (class name, library version), not arguments.
        accepted = inspect.signature(cls.__init__).parameters
        module = cls(**{key: value for key, value in saved.items() if not key.startswith("_") and key in accepted})
        module.load_state_dict(load_file(str(weights_path)))
        if torch_dtype is not None:
            module.to(torch_dtype)
        return module.eval()
