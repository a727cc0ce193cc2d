"""Data and training stages set their own CPU thread counts (small models, often on busy machines)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
import torch

from emostudio.train.common import TrainingConfig, limit_cpu_threads, load_config, make_accelerator
from emostudio.train.embedder import EmbedderConfig

POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_threads(monkeypatch):
    """Give the process back the thread settings it had."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    for name in POOLS:
        monkeypatch.delenv(name, raising=False)  # restored as they were after the test
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def test_limit_sets_torch_opencv_and_the_pools_started_later(restore_threads):
    torch.set_num_threads(2)
    limit_cpu_threads(1)
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert all(os.environ[name] == "1" for name in POOLS)


def test_zero_keeps_the_libraries_defaults(restore_threads):
    torch.set_num_threads(2)
    limit_cpu_threads(0)
    assert torch.get_num_threads() == 2 and not any(name in os.environ for name in POOLS)


def test_training_applies_the_configs_thread_count(restore_threads, tmp_path):
    torch.set_num_threads(2)
    make_accelerator(TrainingConfig(output_dir=str(tmp_path), report_to="none", cpu_threads=1))
    assert torch.get_num_threads() == 1


def test_the_bundled_recipe_trains_on_one_thread():
    assert load_config(EmbedderConfig, ROOT / "configs" / "embedder_synthetic.yaml").cpu_threads == 1


def test_synth_refuses_a_negative_thread_count(tmp_path, capsys):
    from emostudio.ui.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["data", "synth", "--out", str(tmp_path / "corpus"), "--threads", "-1"])
    assert stopped.value.code == 2
    assert "--threads" in capsys.readouterr().err and not (tmp_path / "corpus").exists()
