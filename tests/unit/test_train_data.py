"""Training data: the clip manifest, its errors, identity splits, and the corpus loaders on fake trees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from emostudio.errors import EmostudioError
from emostudio.train.data import (
    CORPORA,
    Clip,
    check_splits,
    load_corpus,
    load_crema_d,
    load_esd,
    load_mead,
    load_ravdess,
    read_manifest,
    split_by_identity,
    summary,
    write_manifest,
)
from emostudio.train.data.corpora import CREMA_D_SENTENCES


def touch(root: Path, *names: str) -> list[Path]:
    """Empty files at the given paths under root: the loaders read names only."""
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        paths.append(path)
    return paths


def by_id(clips: list[Clip]) -> dict[str, Clip]:
    assert len({clip.id for clip in clips}) == len(clips), "ids are unique"
    return {clip.id: clip for clip in clips}


def make_clip(clip_id: str, identity: str, audio: str | None = None, video: str | None = None,
              emotion: str = "happy", split: str = "train") -> Clip:
    return Clip(id=clip_id, audio=audio, video=video, identity=identity, emotion=emotion, intensity=0.5,
                text=None, split=split, source="test")


# -- MEAD ------------------------------------------------------------------------------------------


def test_mead_pairs_audio_with_the_front_video(tmp_path):
    touch(tmp_path,
          "M003/video/front/angry/level_1/001.mp4", "M003/audio/angry/level_1/001.m4a",
          "M003/video/front/angry/level_3/002.mp4",
          "M003/audio/fear/level_2/003.m4a",
          "M003/video/front/neutral/level_1/001.mp4", "M003/audio/neutral/level_1/001.m4a",
          "M003/video/left_30/angry/level_1/001.mp4",
          "W009/video/front/contempt/level_2/010.mp4", "W009/audio/contempt/level_2/010.m4a",
          # not MEAD's naming: skipped
          "M003/video/front/angry/level_1/notes.txt", "M003/video/front/angry/level_4/001.mp4",
          "M003/video/front/bored/level_1/001.mp4", "M003/audio/angry/level_1/0001.m4a",
          "M003/audio/angry/level_1/004.wav", "extras/video/front/angry/level_1/001.mp4", "README.md")
    clips = by_id(load_mead(tmp_path))
    assert sorted(clips) == ["mead:M003/front/angry/level_1/001", "mead:M003/front/angry/level_3/002",
                             "mead:M003/front/fear/level_2/003", "mead:M003/front/neutral/level_1/001",
                             "mead:W009/front/contempt/level_2/010"]
    paired = clips["mead:M003/front/angry/level_1/001"]
    assert paired.audio == str(tmp_path / "M003/audio/angry/level_1/001.m4a")
    assert paired.video == str(tmp_path / "M003/video/front/angry/level_1/001.mp4")
    assert (paired.emotion, paired.intensity, paired.identity, paired.source) == ("angry", 0.33, "mead:M003", "mead")
    assert (paired.text, paired.split) == (None, "train")
    assert clips["mead:M003/front/angry/level_3/002"].intensity == 1.0
    assert clips["mead:M003/front/angry/level_3/002"].audio is None
    fear = clips["mead:M003/front/fear/level_2/003"]
    assert (fear.emotion, fear.intensity, fear.video) == ("fearful", 0.67, None)
    assert clips["mead:M003/front/neutral/level_1/001"].intensity == 0.0
    assert clips["mead:W009/front/contempt/level_2/010"].identity == "mead:W009"


def test_mead_other_view_and_errors(tmp_path):
    touch(tmp_path, "M003/video/front/sad/level_2/001.mp4", "M003/video/left_30/sad/level_2/001.mp4")
    (clip,) = load_mead(tmp_path, view="left_30")
    assert clip.video == str(tmp_path / "M003/video/left_30/sad/level_2/001.mp4")
    assert clip.id == "mead:M003/left_30/sad/level_2/001"
    with pytest.raises(EmostudioError, match="Unknown MEAD view 'side'"):
        load_mead(tmp_path, view="side")
    with pytest.raises(EmostudioError, match="No MEAD files"):
        load_mead(tmp_path, view="top")


# -- CREMA-D ---------------------------------------------------------------------------------------


def test_crema_d_labels_text_and_pairing(tmp_path):
    touch(tmp_path,
          "AudioWAV/1001_DFA_ANG_XX.wav", "VideoFlash/1001_DFA_ANG_XX.flv",
          "AudioWAV/1001_IEO_HAP_HI.wav", "AudioWAV/1002_IEO_SAD_LO.wav", "AudioWAV/1002_IEO_DIS_MD.wav",
          "AudioWAV/1091_TSI_NEU_XX.wav", "VideoFlash/1003_WSI_FEA_XX.flv",
          # not CREMA-D's naming, or not read: skipped
          "AudioWAV/1001_XYZ_ANG_XX.wav", "AudioWAV/1001_DFA_JOY_XX.wav", "AudioWAV/1001_DFA_ANG_ZZ.wav",
          "AudioWAV/readme.txt", "AudioMP3/1004_DFA_ANG_XX.mp3", "VideoFlash/1001_IEO_HAP_HI.mp4")
    clips = by_id(load_crema_d(tmp_path))
    assert sorted(clips) == ["crema-d:1001_DFA_ANG_XX", "crema-d:1001_IEO_HAP_HI", "crema-d:1002_IEO_DIS_MD",
                             "crema-d:1002_IEO_SAD_LO", "crema-d:1003_WSI_FEA_XX", "crema-d:1091_TSI_NEU_XX"]
    angry = clips["crema-d:1001_DFA_ANG_XX"]
    assert angry.audio == str(tmp_path / "AudioWAV/1001_DFA_ANG_XX.wav")
    assert angry.video == str(tmp_path / "VideoFlash/1001_DFA_ANG_XX.flv")
    assert (angry.emotion, angry.intensity, angry.identity) == ("angry", 0.67, "crema-d:1001")
    assert angry.text == "Don't forget a jacket"
    assert (clips["crema-d:1001_IEO_HAP_HI"].intensity, clips["crema-d:1001_IEO_HAP_HI"].text) == (
        1.0, "It's eleven o'clock")
    assert (clips["crema-d:1002_IEO_SAD_LO"].emotion, clips["crema-d:1002_IEO_SAD_LO"].intensity) == ("sad", 0.33)
    assert (clips["crema-d:1002_IEO_DIS_MD"].emotion, clips["crema-d:1002_IEO_DIS_MD"].intensity) == (
        "disgusted", 0.67)
    fear = clips["crema-d:1003_WSI_FEA_XX"]
    assert (fear.audio, fear.emotion, fear.text) == (None, "fearful", "We'll stop in a couple of minutes")
    neutral = clips["crema-d:1091_TSI_NEU_XX"]
    assert (neutral.emotion, neutral.intensity, neutral.text) == ("neutral", 0.0, "The surface is slick")


def test_crema_d_has_all_twelve_sentences():
    assert sorted(CREMA_D_SENTENCES) == sorted(
        ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"])
    assert CREMA_D_SENTENCES["ITH"] == "I think I have a doctor's appointment"
    assert CREMA_D_SENTENCES["MTI"] == "Maybe tomorrow it will be cold"


# -- RAVDESS ---------------------------------------------------------------------------------------


def test_ravdess_fields_calm_song_and_pairing(tmp_path):
    touch(tmp_path,
          "Audio_Speech_Actors_01-24/Actor_12/03-01-06-01-02-01-12.wav",
          "Video_Speech_Actor_12/Actor_12/01-01-06-01-02-01-12.mp4",
          "Video_Speech_Actor_12/Actor_12/02-01-06-01-02-01-12.mp4",
          "Actor_12/03-01-02-02-01-02-12.wav",  # calm, strong
          "Actor_12/03-02-03-01-01-01-12.wav",  # song
          "Actor_01/02-01-07-02-01-01-01.mp4",  # video only, disgust, strong
          "Actor_01/03-01-01-01-02-02-01.wav",  # neutral
          # not RAVDESS's naming: skipped
          "Actor_12/03-01-09-01-01-01-12.wav", "Actor_12/01-01-05-01-01-01-12.wav",
          "Actor_12/03-01-05-01-01-01.wav", "Actor_12/.DS_Store", "Actor_12/notes-01-01-01-01-01-12.txt")
    clips = by_id(load_ravdess(tmp_path))
    assert sorted(clips) == ["ravdess:01-01-01-02-02-01", "ravdess:01-02-02-01-02-12",
                             "ravdess:01-06-01-02-01-12", "ravdess:01-07-02-01-01-01"]
    fearful = clips["ravdess:01-06-01-02-01-12"]
    assert fearful.audio == str(tmp_path / "Audio_Speech_Actors_01-24/Actor_12/03-01-06-01-02-01-12.wav")
    assert fearful.video == str(tmp_path / "Video_Speech_Actor_12/Actor_12/01-01-06-01-02-01-12.mp4"), \
        "full-AV is preferred to video-only"
    assert (fearful.emotion, fearful.intensity, fearful.identity, fearful.text) == (
        "fearful", 0.5, "ravdess:Actor_12", "Dogs are sitting by the door")
    calm = clips["ravdess:01-02-02-01-02-12"]
    assert (calm.emotion, calm.intensity) == ("neutral", 0.0)
    disgust = clips["ravdess:01-07-02-01-01-01"]
    assert (disgust.audio, disgust.emotion, disgust.intensity, disgust.identity) == (
        None, "disgusted", 1.0, "ravdess:Actor_01")
    assert disgust.video == str(tmp_path / "Actor_01/02-01-07-02-01-01-01.mp4")
    assert disgust.text == "Kids are talking by the door"

    with_song = by_id(load_ravdess(tmp_path, include_song=True, include_calm=False))
    assert "ravdess:02-03-01-01-01-12" in with_song and with_song["ravdess:02-03-01-01-01-12"].emotion == "happy"
    assert "ravdess:01-02-02-01-02-12" not in with_song


# -- ESD -------------------------------------------------------------------------------------------


def test_esd_both_layouts_and_transcripts(tmp_path):
    touch(tmp_path,
          "0011/Angry/0011_000351.wav", "0011/Neutral/0011_000001.wav", "0011/Surprise/0011_001401.wav",
          "0011/Sad/0011_001051.wav",
          "0001/Happy/train/0001_000701.wav", "0001/Happy/evaluation/0001_000702.wav",
          "0001/Sad/test/0001_001051.wav",
          "0012/Happy/0012_000701.wav",
          # not ESD's naming: skipped
          "0011/Angry/0012_000352.wav", "0011/Angry/0011_351.wav", "0011/Bored/0011_000900.wav",
          "0011/Angry/0011_000353.mp3", "0001/Happy/other/0001_000703.wav", "ReadMe.txt", "extra/Angry/x.wav")
    (tmp_path / "0011/0011.txt").write_text(
        "0011_000001\tThe nine the eggs, I keep.\tNeutral\n"
        "0011_000351\tDog I think I have\tAngry\n"
        "broken line without tabs\n", encoding="utf-8")
    (tmp_path / "0001/0001.txt").write_bytes("0001_000701\t打远一看，它们的确很是美丽。\t快乐\n".encode("gb18030"))
    (tmp_path / "0012/0012.txt").write_text("0012_000701\tA café at noon.\tHappy\n", encoding="utf-16")

    clips = by_id(load_esd(tmp_path))
    assert sorted(clips) == ["esd:0001_000701", "esd:0001_000702", "esd:0001_001051", "esd:0011_000001",
                             "esd:0011_000351", "esd:0011_001051", "esd:0011_001401", "esd:0012_000701"]
    angry = clips["esd:0011_000351"]
    assert angry.audio == str(tmp_path / "0011/Angry/0011_000351.wav") and angry.video is None
    assert (angry.emotion, angry.intensity, angry.identity, angry.source) == ("angry", 1.0, "esd:0011", "esd")
    assert angry.text == "Dog I think I have"
    assert (clips["esd:0011_000001"].emotion, clips["esd:0011_000001"].intensity) == ("neutral", 0.0)
    assert clips["esd:0011_001401"].emotion == "surprised"
    assert clips["esd:0011_001051"].text is None, "no transcript line for it"
    assert clips["esd:0001_000701"].text == "打远一看，它们的确很是美丽。"
    assert clips["esd:0012_000701"].text == "A café at noon."
    assert {clip.split for clip in clips.values()} == {"train"}, "ESD's own splits mix identities"

    kept = by_id(load_esd(tmp_path, keep_splits=True))
    assert [kept[i].split for i in ("esd:0001_000701", "esd:0001_000702", "esd:0001_001051", "esd:0011_000351")] \
        == ["train", "val", "test", "train"]


# -- every loader ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORPORA)
def test_loaders_reject_folders_without_their_files(tmp_path, name):
    touch(tmp_path, "notes.txt", "Actor_01/readme.md", "M003/video/front/x.mp4", "AudioWAV/a.wav")
    with pytest.raises(EmostudioError, match=r"No .* files were found under"):
        load_corpus(name, tmp_path)
    with pytest.raises(EmostudioError, match="does not exist"):
        load_corpus(name, tmp_path / "missing")


def test_load_corpus_dispatches_by_name(tmp_path):
    touch(tmp_path, "AudioWAV/1001_DFA_ANG_XX.wav")
    assert [clip.id for clip in load_corpus("CREMA-D", tmp_path)] == ["crema-d:1001_DFA_ANG_XX"]
    assert [clip.id for clip in load_corpus("crema_d", str(tmp_path))] == ["crema-d:1001_DFA_ANG_XX"]
    with pytest.raises(EmostudioError, match="did you mean 'ravdess'"):
        load_corpus("ravdes", tmp_path)


# -- the manifest ----------------------------------------------------------------------------------


def test_manifest_round_trip_with_relative_and_absolute_paths(tmp_path):
    data = tmp_path / "data"
    inside, video = touch(data, "media/a b.wav", "media/clip.mp4")
    (outside,) = touch(tmp_path, "elsewhere/c.wav")
    clips = [
        Clip(id="one", audio=str(inside), video=str(video), identity="x:1", emotion="happy",
             intensity=np.float32(0.25), text="Sé\u2028two lines", split="train", source="mine"),
        Clip(id="two", audio=str(outside), video=None, identity="x:2", emotion="contempt", intensity=1,
             text=None, split="test", source="mine"),
    ]
    manifest = write_manifest(clips, data / "clips.jsonl")
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").split("\n") if line]
    assert (rows[0]["audio"], rows[0]["video"]) == ("media/a b.wav", "media/clip.mp4")
    assert rows[1]["audio"] == outside.as_posix() and rows[1]["video"] is None
    back = read_manifest(manifest)
    assert back[0] == Clip(id="one", audio=str(inside), video=str(video), identity="x:1", emotion="happy",
                           intensity=0.25, text="Sé\u2028two lines", split="train", source="mine")
    assert back[1] == Clip(id="two", audio=str(outside), video=None, identity="x:2", emotion="contempt",
                           intensity=1.0, text=None, split="test", source="mine")
    assert sorted(path.name for path in data.iterdir()) == ["clips.jsonl", "media"], "no temporary file is left"

    moved = tmp_path / "moved"
    data.rename(moved)
    assert read_manifest(moved / "clips.jsonl")[0].audio == str(moved / "media/a b.wav"), "moves with its folder"


def test_every_bad_line_is_reported_at_once(tmp_path):
    touch(tmp_path, "a.wav", "v.mp4")
    good = {"id": "ok", "audio": "a.wav", "video": None, "identity": "x:1", "emotion": "happy", "intensity": 0.5,
            "text": None, "split": "train", "source": "mine"}
    lines = [
        json.dumps(good),
        "{broken",
        json.dumps({key: value for key, value in good.items() if key != "emotion"} | {"id": "b"}),
        json.dumps(good | {"id": "c", "colour": "red"}),
        json.dumps(good | {"id": "d", "emotion": "hapy"}),
        json.dumps(good | {"id": "e", "intensity": 1.5}),
        json.dumps(good | {"id": "f", "audio": None, "video": None}),
        json.dumps(good | {"id": "g", "audio": "missing.wav"}),
        json.dumps(good),
        json.dumps(good | {"id": "h", "split": "dev"}),
        "",
        json.dumps(good | {"id": "i", "emotion": "fear", "video": "v.mp4", "audio": None}),
        json.dumps(["not", "an", "object"]),
    ]
    manifest = tmp_path / "bad_clips.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(EmostudioError) as caught:
        read_manifest(manifest)
    message = str(caught.value)
    assert "bad_clips.jsonl" in message and message.startswith("11 of 12 lines")
    for line, words in [(2, "not valid JSON"), (3, "missing key 'emotion'"), (4, "unknown key 'colour'"),
                        (5, "unknown emotion 'hapy' (did you mean 'happy'?"), (6, "intensity 1.5 is outside 0..1"),
                        (7, "neither audio nor video"), (8, "audio file 'missing.wav' does not exist"),
                        (9, "id 'ok' is already used on line 1"), (10, "unknown split 'dev' (did you mean 'val'?"),
                        (12, "unknown emotion 'fear' (did you mean 'fearful'?"), (13, "expected a JSON object")]:
        assert f"line {line}: " in message and words in message, f"line {line} not reported with {words!r}"
    assert "line 1:" not in message and "line 11:" not in message

    unchecked = [line for line in lines if '"missing.wav"' not in line]
    manifest.write_text("\n".join([*unchecked[:7], json.dumps(good | {"id": "g", "audio": "missing.wav"})]))
    with pytest.raises(EmostudioError) as caught:
        read_manifest(manifest, check_files=False)
    assert "missing.wav" not in str(caught.value)


def test_wrong_types_and_files_that_are_not_there(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(EmostudioError, match="has no clips"):
        read_manifest(tmp_path / "empty.jsonl")
    with pytest.raises(EmostudioError, match="does not exist"):
        read_manifest(tmp_path / "missing.jsonl")
    row = {"id": "", "audio": 3, "video": None, "identity": "x", "emotion": None, "intensity": True,
           "text": 5, "split": "train", "source": "mine"}
    (tmp_path / "types.jsonl").write_text(json.dumps(row))
    message = str(pytest.raises(EmostudioError, read_manifest, tmp_path / "types.jsonl").value)
    for words in ["id must be a non-empty string", "audio must be a file path or null",
                  "emotion must be one of", "intensity must be a number", "text must be a string or null"]:
        assert words in message


def test_write_manifest_checks_clips_and_writes_nothing_when_bad(tmp_path):
    (audio,) = touch(tmp_path, "a.wav")
    clips = [make_clip("a", "x:1", audio=str(audio)), make_clip("a", "x:1", audio=str(audio)),
             make_clip("b", "x:1", emotion="joy"), make_clip("c", "x:1", audio=str(audio), split="dev")]
    with pytest.raises(EmostudioError) as caught:
        write_manifest(clips, tmp_path / "out.jsonl")
    message = str(caught.value)
    assert "out.jsonl" in message and "nothing was written" in message
    for words in ["clip 2 ('a'): id 'a' is already used on clip 1", "clip 3 ('b'): ", "did you mean 'happy'",
                  "neither audio nor video", "clip 4 ('c'): unknown split 'dev'"]:
        assert words in message
    assert not (tmp_path / "out.jsonl").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.wav"], "no temporary file is left"
    with pytest.raises(EmostudioError, match="no clips to write"):
        write_manifest([], tmp_path / "out.jsonl")


# -- splits and summary ----------------------------------------------------------------------------


def test_split_by_identity_keeps_identities_apart(tmp_path):
    clips = [make_clip(f"{speaker}-{n}", f"esd:{speaker}", audio=f"{speaker}-{n}.wav")
             for speaker in ("0011", "0012", "0013", "0014") for n in range(3)]
    split = split_by_identity(clips, val_identities="esd:0012", test_identities=["esd:0013", "esd:0014"])
    assert [clip.id for clip in split] == [clip.id for clip in clips]
    assert {clip.split for clip in clips} == {"train"}, "the input is not changed"
    splits_of: dict[str, set[str]] = {}
    for clip in split:
        splits_of.setdefault(clip.identity, set()).add(clip.split)
    assert splits_of == {"esd:0011": {"train"}, "esd:0012": {"val"}, "esd:0013": {"test"}, "esd:0014": {"test"}}
    check_splits(split, required=("train", "val", "test"))

    with pytest.raises(EmostudioError, match="'esd:0012' are held out for both val and test"):
        split_by_identity(clips, ["esd:0012"], ["esd:0012"])
    with pytest.raises(EmostudioError, match="'esd:012' \\(did you mean 'esd:0012'\\?\\)"):
        split_by_identity(clips, ["esd:012"])


def test_check_splits_names_the_empty_splits():
    clips = [make_clip("a", "x:1", audio="a.wav")]
    check_splits(clips, required=("train",))
    with pytest.raises(EmostudioError, match="The 'val' split has no clips"):
        check_splits(clips)
    with pytest.raises(EmostudioError, match="The 'val' and 'test' splits have no clips"):
        check_splits(clips, required=("train", "val", "test"))


def test_summary_counts_splits_emotions_and_identities():
    clips = [make_clip("a", "x:1", audio="a.wav"), make_clip("b", "x:1", audio="b.wav", emotion="sad"),
             make_clip("c", "longer:22", audio="c.wav", split="val")]
    text = summary(clips)
    assert text.splitlines()[0] == "3 clips of 2 identities from test (3)"
    assert "splits: train 2, val 1, test 0" in text
    assert "emotions: neutral 0, happy 2, sad 1," in text and "contempt 0" in text
    assert re.search(r"^  x:1 +2 clips  train$", text, re.M) and re.search(r"^  longer:22 +1 clip  val$", text, re.M)
    leaking = summary([*clips, make_clip("d", "x:1", audio="d.wav", split="test")])
    assert re.search(r"^  x:1 +3 clips  train\+test$", leaking, re.M), "an identity in two splits shows"


def test_a_corpus_becomes_a_manifest_with_held_out_speakers(tmp_path):
    root = tmp_path / "CREMA-D"
    touch(root, *(f"AudioWAV/{actor}_{sentence}_ANG_XX.wav" for actor in (1001, 1002, 1003)
                  for sentence in ("DFA", "IEO")))
    clips = split_by_identity(load_crema_d(root), ["crema-d:1002"], ["crema-d:1003"])
    manifest = write_manifest(clips, root / "manifest.jsonl")
    assert json.loads(manifest.read_text().splitlines()[0])["audio"] == "AudioWAV/1001_DFA_ANG_XX.wav"
    back = read_manifest(manifest)
    assert back == clips
    check_splits(back, required=("train", "val", "test"))
    assert "crema-d (6)" in summary(back)


# -- emostudio data corpus: a published corpus as a manifest, merged with others ------------------


def fake_crema_d(root: Path, actors: range = range(1001, 1007)) -> Path:
    touch(root, *(f"AudioWAV/{actor}_{sentence}_{emotion}_XX.wav" for actor in actors
                  for sentence in ("DFA", "TIE") for emotion in ("ANG", "NEU")))
    return root


def test_data_corpus_holds_speakers_out_and_merges_other_manifests(tmp_path, capsys):
    from emostudio.ui.cli import main

    root = fake_crema_d(tmp_path / "CREMA-D")
    synthetic = write_manifest([make_clip("s1", "synthetic:a", audio=str(touch(tmp_path, "syn/a.wav")[0])),
                                make_clip("s2", "synthetic:b", audio=str(touch(tmp_path, "syn/b.wav")[0]),
                                          split="val")], tmp_path / "syn" / "manifest.jsonl")
    out = tmp_path / "mixed" / "manifest.jsonl"
    assert main(["data", "corpus", "crema-d", str(root), "--out", str(out), "--val-speakers", "1",
                 "--test-speakers", "2", "--add", str(synthetic)]) == 0
    assert f"Wrote {out}" in capsys.readouterr().out
    clips = read_manifest(out)
    real = [clip for clip in clips if clip.source == "crema-d"]
    splits = {split: {c.identity for c in real if c.split == split} for split in ("train", "val", "test")}
    assert len(real) == 24 and (len(splits["val"]), len(splits["test"]), len(splits["train"])) == (1, 2, 3)
    assert not (splits["train"] & splits["val"]) and not (splits["train"] & splits["test"])
    added = {clip.id: clip.split for clip in clips if clip.source != "crema-d"}
    assert added == {"s1": "train", "s2": "val"}
    # The seed decides who is held out, the same way every time.
    again = tmp_path / "again.jsonl"
    assert main(["data", "corpus", "crema-d", str(root), "--out", str(again), "--val-speakers", "1",
                 "--test-speakers", "2"]) == 0
    assert {c.id: c.split for c in read_manifest(again)} == {c.id: c.split for c in real}


@pytest.mark.parametrize("arguments, message", [
    (["cremad-x"], "Unknown corpus"),
    (["crema-d", "--val-speakers", "3", "--test-speakers", "3"], "hold out fewer"),
    (["crema-d", "--add", "missing.jsonl"], "does not exist"),
])
def test_data_corpus_refuses_bad_input_and_writes_nothing(tmp_path, capsys, arguments, message):
    from emostudio.ui.cli import main

    root = fake_crema_d(tmp_path / "CREMA-D")
    out = tmp_path / "out.jsonl"
    name, options = arguments[0], arguments[1:]
    with pytest.raises(SystemExit) as stopped:
        main(["data", "corpus", name, str(root), "--out", str(out), *options])
    assert stopped.value.code == 2 and message in capsys.readouterr().err and not out.exists()
