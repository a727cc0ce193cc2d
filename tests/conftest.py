"""Shared test set-up: outputs are signed with a certificate made in a temporary config folder."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def signing_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Point the user's config folder (where the local signing certificate lives) away from the real home.

    Set in ``os.environ`` so that commands run in subprocesses use it too; made once per session.
    """
    folder = str(tmp_path_factory.mktemp("config"))
    saved = {name: os.environ.get(name) for name in ("XDG_CONFIG_HOME", "EMOSTUDIO_SIGNING_CERT",
                                                      "EMOSTUDIO_SIGNING_KEY")}
    os.environ["XDG_CONFIG_HOME"] = folder
    os.environ.pop("EMOSTUDIO_SIGNING_CERT", None)
    os.environ.pop("EMOSTUDIO_SIGNING_KEY", None)
    yield folder
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
