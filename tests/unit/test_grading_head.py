"""GradingHead defaults (published colour-emotion findings), intensity and mixtures; timed timelines."""

import numpy as np
import pytest

from emostudio.conditioning import EmotionBank, EmotionSpec, GradingHead, TimedTimeline
from emostudio.conditioning.heads import GRADING_CONTROLS
from emostudio.errors import EmostudioError


@pytest.fixture(scope="module")
def looks():
    bank, head = EmotionBank(), GradingHead()

    def look(text: str):
        return head.grading(bank.embed(EmotionSpec.parse(text)))[0]

    return look


def test_neutral_and_intensity_zero_leave_footage_untouched(looks):
    assert looks("neutral").is_identity
    assert not looks("happy").is_identity
    bank, head = EmotionBank(), GradingHead()
    zero = head.grading(bank.embed(EmotionSpec.parse("fearful").with_intensity(0.0)))[0]
    assert zero.is_identity


def test_positive_valence_is_brighter_warmer_and_more_colourful(looks):
    happy, sad = looks("happy"), looks("sad")
    assert happy.exposure_ev > 0 > sad.exposure_ev
    assert happy.saturation_log2 > 0 > sad.saturation_log2
    assert happy.warmth > 0 > sad.warmth


def test_high_arousal_is_more_colourful_but_darker(looks):
    # Fear and sadness are both unpleasant; fear is the aroused one (EmoSet's arousal trend).
    fearful, sad = looks("fearful"), looks("sad")
    assert fearful.saturation_log2 > sad.saturation_log2
    assert fearful.exposure_ev < sad.exposure_ev
    assert fearful.shake > sad.shake and fearful.grain > sad.grain


def test_disgust_has_its_green_cast_and_sadness_drifts(looks):
    assert looks("disgusted").tint < 0
    assert looks("sad").drift > 0 and looks("sad").push_in < 0


def test_intensity_scales_every_control_monotonically(looks):
    rows = np.array([looks(f"angry:{amount}").as_list() for amount in (0.25, 0.5, 0.75, 1.0)])
    magnitudes = np.abs(rows)
    assert np.all(np.diff(magnitudes, axis=0) >= -1e-6)
    assert magnitudes[-1].max() > magnitudes[0].max()


def test_mixtures_interpolate(looks):
    mixed = np.array(looks("happy:0.5+sad:0.5").as_list())
    expected = (np.array(looks("happy").as_list()) + np.array(looks("sad").as_list())) / 2
    columns = [i for i, name in enumerate(GRADING_CONTROLS) if name not in ("vignette", "grain", "softness", "shake",
                                                                          "shake_hz")]
    np.testing.assert_allclose(mixed[columns], expected[columns], atol=1e-4)


def test_head_saves_and_loads(tmp_path):
    head = GradingHead()
    with __import__("torch").no_grad():
        head.table[1, 0] = 0.9
    head.save_pretrained(tmp_path / "head")
    loaded = GradingHead.from_pretrained(tmp_path / "head")
    assert float(loaded.table[1, 0]) == pytest.approx(0.9)


def test_timed_timeline_reads_like_the_text_timeline():
    timeline = TimedTimeline.parse("[happy] [sad:0.6 @4s] [angry @1:02.5]")
    assert timeline.starts == (0.0, 4.0, 62.5)
    assert [spec.dominant() for spec in timeline.specs] == ["happy", "sad", "angry"]
    assert timeline.specs[1].intensity == pytest.approx(0.6)
    late = TimedTimeline.parse("[fearful @2]")
    assert late.starts == (0.0, 2.0) and late.specs[0].is_neutral
    assert TimedTimeline.parse("happy:0.5").specs[0].intensity == pytest.approx(0.5)


@pytest.mark.parametrize("text, words", [
    ("[happy] hello [sad @3]", "between the emotion tags"),
    ("[happy @3] [sad @2]", "time order"),
    ("[happy] [sad]", "needs a start time"),
    ("[@3]", "has no emotion"),
    ("[happy] [blorp @2]", "blorp"),
])
def test_bad_timed_timelines_say_what_to_fix(text, words):
    with pytest.raises(EmostudioError, match=words):
        TimedTimeline.parse(text)


def test_transitions_are_smooth_ramps():
    from emostudio.generation.video.grading import TRANSITION_S, FootageGrader

    grader = FootageGrader()
    timeline = TimedTimeline.parse("[happy] [sad @3s]")
    looks = grader.looks(timeline)
    exposure = [grader.controls_at(timeline, looks, t).exposure_ev for t in np.arange(0, 6, 0.04)]
    happy, sad = looks[0][0], looks[1][0]
    assert exposure[0] == pytest.approx(happy) and exposure[-1] == pytest.approx(sad)
    assert grader.controls_at(timeline, looks, 3.0).exposure_ev == pytest.approx((happy + sad) / 2)
    steps = np.abs(np.diff(exposure))
    # A raised cosine over TRANSITION_S: the steepest frame-to-frame step is pi/2 times the mean slope.
    assert steps.max() <= abs(happy - sad) * 0.04 / TRANSITION_S * np.pi / 2 * 1.05
