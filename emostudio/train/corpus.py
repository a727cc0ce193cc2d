"""A manifest from a published emotional corpus, optionally merged with others (the synthetic one).

    emostudio data corpus crema-d ~/data/CREMA-D --out mixed/manifest.jsonl --add corpus/manifest.jsonl

The corpus's clips are read by :func:`emostudio.train.data.load_corpus` (MEAD, CREMA-D, RAVDESS,
ESD) from the folder it was unpacked into; ``--val-speakers`` and ``--test-speakers`` of its
speakers, drawn with ``--seed``, are held out, so that validation and test measure speakers the
embedder never heard. Manifests given with ``--add`` keep their own splits. Then, for example::

    emostudio train embedder --config configs/embedder_synthetic.yaml --manifest mixed/manifest.jsonl

Check each corpus's licence before shipping weights trained on it: RAVDESS (CC BY-NC-SA) and ESD
(research use only) allow no commercial use; CREMA-D (Open Database License) does.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from ..errors import EmostudioError
from .data.corpora import CORPORA, load_corpus
from .data.manifest import read_manifest, split_by_identity, summary, write_manifest


def corpus_manifest(name: str, root: str | Path, out: str | Path, val_speakers: int = 2, test_speakers: int = 2,
                    seed: int = 0, add: list[str | Path] | tuple = ()) -> Path:
    """Write the corpus's clips (speakers held out) and the clips of the ``add`` manifests to ``out``."""
    if val_speakers < 0 or test_speakers < 0:
        raise EmostudioError("--val-speakers and --test-speakers must be 0 or more.")
    others = [clip for manifest in add for clip in read_manifest(manifest)]  # bad extra manifests fail first
    clips = load_corpus(name, root)
    speakers = sorted({clip.identity for clip in clips})
    if val_speakers + test_speakers >= len(speakers):
        raise EmostudioError(f"The corpus has {len(speakers)} speakers; hold out fewer than that with "
                             "--val-speakers and --test-speakers, so some are left to train on.")
    held_out = random.Random(seed).sample(speakers, val_speakers + test_speakers)
    clips = split_by_identity(clips, held_out[:val_speakers], held_out[val_speakers:])
    shared = sorted({clip.identity for clip in clips} & {clip.identity for clip in others})
    if shared:
        raise EmostudioError(f"The added manifests already hold the identities {', '.join(shared[:3])}; "
                             "add each corpus once.")
    return write_manifest(clips + others, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio data corpus", description=__doc__.splitlines()[0])
    parser.add_argument("name", help=f"the corpus: {', '.join(CORPORA)}")
    parser.add_argument("root", help="the folder the corpus was unpacked into")
    parser.add_argument("--out", required=True, help="the manifest to write (.jsonl)")
    parser.add_argument("--val-speakers", type=int, default=2, help="speakers held out for validation (default 2)")
    parser.add_argument("--test-speakers", type=int, default=2, help="speakers held out for testing (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="which speakers are held out")
    parser.add_argument("--add", action="append", default=[], metavar="MANIFEST",
                        help="another manifest to merge in, splits kept (repeatable), e.g. the synthetic corpus's")
    args = parser.parse_args(argv)
    try:
        path = corpus_manifest(args.name, args.root, args.out, args.val_speakers, args.test_speakers, args.seed,
                               args.add)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(read_manifest(path)).split("\nidentities:")[0])
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
