"""The Gradio app without a browser: construction, the emotion controls, errors, plots and batch."""

from __future__ import annotations

import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from matplotlib.figure import Figure

from emostudio.conditioning import CATEGORIES
from emostudio.errors import EmostudioError
from emostudio.ui import app as app_module
from emostudio.ui.app import (
    Handlers,
    build_app,
    emotion_spec,
    emotion_string,
    pitch_figure,
    preview_emotion,
    user_errors,
    va_figure,
)
from emostudio.ui.cli import main
from emostudio.ui.studio import Studio


def _no_progress(*args, **kwargs) -> None:
    return None


@pytest.fixture()
def studio(tmp_path: Path) -> Studio:
    return Studio(work_dir=tmp_path / "work")


def test_build_app_has_the_five_tabs_and_bounded_queue(studio: Studio) -> None:
    app = build_app(studio)
    assert isinstance(app, gr.Blocks)
    assert app.title == "emostudio"
    assert not app.analytics_enabled
    tabs = [block.label for block in app.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Speak", "Talking head", "Emotion lab", "Video", "Batch"]
    assert app._queue.max_size == 16
    assert app._queue.default_concurrency_limit == 1
    # Every heavy event shares one concurrency group, so the CPU runs one job at a time.
    heavy = [fn for fn in app.fns.values() if fn.concurrency_id == "cpu"]
    assert len(heavy) >= 7 and all(fn.concurrency_limit == 1 for fn in heavy)
    texts = [block for block in app.blocks.values() if isinstance(block, gr.Textbox) and block.label == "Text"]
    assert texts and all(box.max_length == 5000 for box in texts)


def test_category_and_intensity() -> None:
    assert emotion_string("category", "happy", 0.6, "", "") == "happy:0.6"
    spec = emotion_spec("category", "happy", 0.6, "ignored", "ignored too")
    assert spec.weights == {"happy": 1.0}
    assert spec.intensity == pytest.approx(0.6)


def test_mixture() -> None:
    spec = emotion_spec("mixture", "sad", 0.2, " happy:0.7+surprised:0.3 ", "")
    assert spec.weights == pytest.approx({"happy": 0.7, "surprised": 0.3})
    assert spec.intensity == pytest.approx(1.0)


def test_description() -> None:
    spec = emotion_spec("description", "happy", 1.0, "", "quietly furious")
    assert spec.dominant() == "angry"
    assert spec.source == "description"
    assert spec.intensity == pytest.approx(0.5)


@pytest.mark.parametrize("mode, mixture, description", [("mixture", " ", ""), ("description", "", None)])
def test_empty_mixture_or_description_is_a_user_error(mode: str, mixture: str, description: str | None) -> None:
    with pytest.raises(EmostudioError, match="empty"):
        emotion_string(mode, "happy", 1.0, mixture, description)


def test_preview_shows_the_resolution_or_the_problem() -> None:
    assert "happy 70%, surprised 30%" in preview_emotion("mixture", None, None, "happy:0.7+surprised:0.3", None)
    assert "did you mean 'happy'" in preview_emotion("mixture", None, None, "hapy", None)


def test_user_errors_become_gr_error_and_others_pass_through() -> None:
    @user_errors
    def fails(kind: str) -> None:
        raise (EmostudioError if kind == "user" else RuntimeError)("Give a sentence to speak.")

    with pytest.raises(gr.Error) as caught:
        fails("user")
    assert caught.value.message == "Give a sentence to speak."
    with pytest.raises(RuntimeError):
        fails("bug")


def test_handler_error_is_the_sentence_the_cli_prints(studio: Studio, tmp_path: Path, capsys) -> None:
    assert main(["speak", "   ", "-o", str(tmp_path / "out.wav")]) == 2
    cli_sentence = capsys.readouterr().err.strip().splitlines()[-1].removeprefix("error: ")
    with pytest.raises(gr.Error) as caught:
        Handlers(studio).speak("   ", "category", "happy", 1.0, "", "", 0)
    assert caught.value.message == cli_sentence


def test_va_figure_shows_the_eight_categories_and_the_mixture() -> None:
    spec = emotion_spec("mixture", None, None, "happy:0.7+surprised:0.3", None)
    figure = va_figure(spec)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert sorted(text.get_text() for text in axes.texts) == sorted(CATEGORIES)
    assert len(axes.patches) == len(CATEGORIES)  # one variance ellipse each
    star = [line for line in axes.lines if line.get_marker() == "*"]
    assert len(star) == 1
    assert star[0].get_xdata()[0] == pytest.approx(spec.vad[0])
    assert star[0].get_ydata()[0] == pytest.approx(spec.vad[1])


def test_pitch_figure_titles_the_mean_shift() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    low, high = (0.5 * np.sin(2 * np.pi * f * t) for f in (110.0, 220.0))
    figure = pitch_figure((low, rate), (high, rate), "happy:1.00")
    title = figure.axes[0].get_title()
    assert "+12.0 semitones" in title
    assert len(figure.axes[0].lines) == 2


def test_batch_shows_the_summary_and_zips_the_outputs(studio: Studio, tmp_path: Path) -> None:
    import json

    from PIL import Image
    from skimage import data

    cat = tmp_path / "cat.png"
    Image.fromarray(data.chelsea()).save(cat)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "a", "task": "speak", "text": "Hello.", "seed": 0}) + "\n"
                    + json.dumps({"id": "b", "task": "talk", "text": "Meow.", "portrait": str(cat), "size": 128})
                    + "\n")
    rows, archive, summary = Handlers(studio).batch(str(jobs), progress=_no_progress)
    assert [row[:3] for row in rows] == [["a", "speak", "done"], ["b", "talk", "failed"]]
    assert "No face" in rows[1][4]
    assert "1 done" in summary and "1 failed" in summary
    with zipfile.ZipFile(archive) as zipped:
        assert {"a.wav", "manifest.jsonl"} <= set(zipped.namelist())


def test_batch_errors_are_shown(studio: Studio, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("id,task,text\nx,sing,Hello\n")
    with pytest.raises(gr.Error, match="line 2: task must be"):
        Handlers(studio).batch(str(jobs), progress=_no_progress)
    with pytest.raises(gr.Error, match="Upload a jobs file"):
        Handlers(studio).batch(None, progress=_no_progress)


def test_analytics_are_off() -> None:
    import os

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert app_module.MAX_UPLOAD == "25mb"


def test_video_tab_styles_a_still_with_before_after_and_lut(studio: Studio, tmp_path: Path) -> None:
    from PIL import Image

    still = tmp_path / "scene.png"
    gradient = np.linspace(40, 220, 96 * 128 * 3).reshape(96, 128, 3).astype(np.uint8)
    Image.fromarray(gradient).save(still)
    handlers = Handlers(studio)
    video, comparison, lut, summary = handlers.style(str(still), "", "category", "happy", 1.0, "", "", 2, 0,
                                                     progress=_no_progress)
    assert Path(video).stat().st_size > 0 and "2.0 s" in summary and "happy" in summary
    assert Path(lut).read_text().startswith("TITLE")
    before_after = Image.open(comparison)
    assert before_after.width > before_after.height  # two pictures side by side
    _, _, _, timed = handlers.style(str(still), "[sad] [happy @1s]", "category", "neutral", 1.0, "", "", 2, 0,
                                    progress=_no_progress)
    assert "@1s" in timed
    with pytest.raises(gr.Error, match="Upload a video or a still"):
        handlers.style(None, "", "category", "happy", 1.0, "", "", 2, 0, progress=_no_progress)
