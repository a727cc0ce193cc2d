"""Training data: one manifest format for labelled clips, and loaders for published emotional corpora."""

from __future__ import annotations

from .corpora import CORPORA, load_corpus, load_crema_d, load_esd, load_mead, load_ravdess
from .manifest import SPLITS, Clip, check_splits, read_manifest, split_by_identity, summary, write_manifest

__all__ = [
    "CORPORA",
    "SPLITS",
    "Clip",
    "check_splits",
    "load_corpus",
    "load_crema_d",
    "load_esd",
    "load_mead",
    "load_ravdess",
    "read_manifest",
    "split_by_identity",
    "summary",
    "write_manifest",
]
