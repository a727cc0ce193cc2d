"""`emostudio train grading` learns a user's own look from graded footage, resumes, and drives `style`."""

import json

import numpy as np
import pytest
import torch

from emostudio.conditioning import EmotionBank, EmotionSpec, GradingHead
from emostudio.conditioning.heads import GRADING_CONTROLS
from emostudio.generation.media import VideoWriter
from emostudio.generation.video.grading import FootageGrader, load_look
from emostudio.train.data.manifest import Clip, write_manifest
from emostudio.ui.cli import main

WARMTH = GRADING_CONTROLS.index("warmth")


def _scene(seed: int, frames: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:64]
    base = rng.uniform(60, 180, 3)
    return [np.clip(np.stack([base[0] + xx, base[1] + yy, base[2] + 0 * xx + i], -1), 0, 255).astype(np.uint8)
            for i in range(frames)]


@pytest.fixture(scope="module")
def graded_corpus(tmp_path_factory):
    """Three scenes, each ungraded and graded 'happy' by someone who likes happy looks cool, not warm."""
    root = tmp_path_factory.mktemp("looks")
    bank = EmotionBank()
    cool = GradingHead()
    with torch.no_grad():
        cool.table[cool.config.categories.index("happy"), WARMTH] = -0.8
    users_grader = FootageGrader(head=cool, bank=bank)
    clips = []
    for scene in range(3):
        plain = root / f"scene{scene}.mp4"
        with VideoWriter(plain, 64, 48, 10) as video:
            for frame in _scene(scene):
                video.write(frame)
        happy = root / f"scene{scene}_happy.mp4"
        users_grader.style(plain, happy, "happy", seed=scene)
        split = "val" if scene == 2 else "train"
        clips += [Clip(f"s{scene}", None, str(plain), f"scene{scene}", "neutral", 0.0, None, split, "mine"),
                  Clip(f"s{scene}h", None, str(happy), f"scene{scene}", "happy", 1.0, None, split, "mine")]
    return write_manifest(clips, root / "looks.jsonl")


def test_fitting_learns_the_users_look_and_resumes(graded_corpus, tmp_path):
    run = tmp_path / "run"
    common = ["grading", "--manifest", str(graded_corpus), "--output-dir", str(run)]
    assert main(["train", *common, "--max-steps", "60"]) == 0
    assert (run / "checkpoint-100").exists() is False
    assert main(["train", *common, "--max-steps", "120", "--resume-from-checkpoint", "latest"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 120
    assert metrics["control_error"] < 0.5 * metrics["control_error_defaults"]
    # What a user sees: the held-out scene styled with the fitted look is nearer their own grade of it.
    from emostudio.train.grading import colour_statistics, sample_frames

    folder = graded_corpus.parent
    theirs = colour_statistics(sample_frames(folder / "scene2_happy.mp4", 4, 48))
    distance = {}
    for name, head in (("fitted", load_look(run)), ("defaults", GradingHead())):
        out = tmp_path / f"{name}.mp4"
        FootageGrader(head=head).style(folder / "scene2.mp4", out, "happy", seed=2)
        distance[name] = np.abs(colour_statistics(sample_frames(out, 4, 48)) - theirs).sum()
    assert distance["fitted"] < 0.7 * distance["defaults"]
    bank = EmotionBank()
    sad_default = GradingHead().grading(bank.embed(EmotionSpec.parse("sad")))[0]
    sad = load_look(run).grading(bank.embed(EmotionSpec.parse("sad")))[0]
    assert sad.exposure_ev == pytest.approx(sad_default.exposure_ev, abs=0.1)  # emotions without data keep defaults

    styled = tmp_path / "styled.mp4"
    assert main(["style", str(graded_corpus.parent / "scene0.mp4"), "-e", "happy", "--look", str(run), "-o",
                 str(styled)]) == 0
    assert styled.is_file()


def test_training_refuses_a_manifest_without_neutral_references(graded_corpus, tmp_path, capsys):
    lines = [json.loads(line) for line in graded_corpus.read_text().splitlines()]
    only_graded = tmp_path / "graded.jsonl"
    only_graded.write_text("".join(json.dumps({**row, "video": str(graded_corpus.parent / row["video"])}) + "\n"
                                   for row in lines if row["emotion"] != "neutral"))
    with pytest.raises(SystemExit) as exit_code:
        main(["train", "grading", "--manifest", str(only_graded), "--output-dir", str(tmp_path / "r")])
    assert exit_code.value.code == 2
    assert "no neutral clip" in capsys.readouterr().err


def test_style_refuses_a_folder_without_a_look(tmp_path, capsys):
    assert main(["style", "whatever.mp4", "--look", str(tmp_path), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "holds no fitted look" in capsys.readouterr().err
