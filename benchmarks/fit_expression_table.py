"""Fit the ExpressionHead's action-unit intensities per emotion so that an outside observer reads them.

For each emotion, a cross-entropy search over the intensities of the action units FACS associates
with it (EMFACS prototypes, extended by the units the rig has for them) maximises an outside
facial-expression reader's probability of that emotion on rendered apex frames of many faces:
the development portraits and their mirror images (``--crops`` adds tighter crops), and faces
made by the synthetic corpus. Constraints enter as penalties: identity (Procrustes disparity of
the deformed landmarks that expressions leave in place to the own portrait, as a share of the
disparity to the nearest other person) and artifacts
(mesh triangles the deformation turns inside out). The faces are rendered with the mouth a little
open, as in speech. The reader (``--reader``) must print one JSON line per image with its class
probabilities, as ``face_legibility.py`` expects.

    python benchmarks/fit_expression_table.py --portraits DIR --reader READER.py

writes emostudio/assets/expression_table.json, which the ExpressionHead loads as its default table.
After a change to the rig, refine the shipped table rather than start over (``--start table``);
``--emotions`` refits some rows and keeps the others. ``--score`` fits nothing: it renews the
readings the table file keeps of its rows.

A search from the shipped row stays near it. To find another kind of expression, first explore
without limits on two faces the row fails on (``--faces A B --free``, written to a file of its
own), then fit on all faces from there (``--start FILE``). ``--units all`` searches every unit of
the rig rather than the FACS list; ``--spoken N`` renders at N mouth shapes of
``face_legibility.py``'s sentence rather than at fixed openings (``--jaws``).

The shipped table (16 faces, each step a few minutes on a 2-core machine) came from an earlier fit
by

    ... --start table --spread 0.3 --iterations 6 --population 12
    ... --start table --spread 0.2 --iterations 5 --population 12
    ... --start table --spread 0.2 --iterations 5 --population 12 --emotions sad fearful --jaws 0.1 0.4

(keeping surprise's row from the first step and sadness's from the second: the later rows read
worse on spoken clips, benchmarks/face_legibility.py), and then, per emotion, an exploration and
a fit from it (``E`` is ``--portraits DIR --reader READER.py --emotions``):

    ... E sad --faces lp_s12 lp_s6 --free --start table --spread 0.4 --iterations 20 --population 24 \
        --jaws 0.1 0.3 --out sad.json
    ... E sad --start sad.json --spread 0.2 --iterations 12 --population 16 --jaws 0.1 0.3
    ... E angry --faces lp_s10 lp_s12 --free --start table --spread 0.35 --iterations 15 --population 16 \
        --jaws 0.1 0.3 --out angry.json
    ... E angry --start angry.json --spread 0.2 --iterations 10 --population 16 --jaws 0.1 0.3
    ... E surprised --faces lp_s12 lp_s2 --free --start table --spread 0.35 --iterations 15 --population 16 \
        --jaws 0.1 0.3 --out surprised.json
    ... E surprised --start surprised.json --spread 0.2 --iterations 10 --population 16 --jaws 0.1 0.3
    ... E fearful --faces lp_s10 synth-hopper-a --units all --free --start table --spread 0.35 \
        --iterations 15 --population 16 --jaws 0.1 0.4 --out fearful.json
    ... E fearful --units all --start fearful.json --spread 0.2 --iterations 8 --population 16 --spoken 4

Each new row read better on spoken clips than the row before it (benchmarks/face_legibility.py).
For disgust the exploration itself fails: without limits, the best row on lp_s12 and lp_s2 reads
as disgust in none of their 8 frames (``... E disgusted --faces lp_s12 lp_s2 --free --start table
--spread 0.35 --iterations 15 --population 16 --jaws 0.1 0.3``), and in 1 of 8 with ``--units all``
(mean probability 0.03 and 0.09).

Rows fitted on the six development portraits can fit their quirks. Sadness was then refitted on
them together with ten portraits of other people (``heldout_portraits.py --photos images --legend
data/legend.csv --reader READER.py --out heldout/fit --seed 0``, from the Apache-2.0
muxspace/facial_expressions photographs), 36 faces with the mirror images and synthetic faces:

    ... --portraits DIR heldout/fit --reader READER.py --emotions sad --start table --spread 0.25 \
        --iterations 8 --population 16 --spoken 4
    ... --portraits DIR heldout/fit --reader READER.py --emotions sad --start table --spread 0.2 \
        --iterations 8 --population 16 --spoken 4 --half 1

The second step also scores the row at half intensity (``--half``), where the emotion or neutral
is a right reading and another emotion a wrong one. On ten further people (``... --out
heldout/test --seed 1 --exclude heldout/fit``), never used in fitting, the clips read as sad in
6 of 10 after either step, where the row before read 2; at half intensity they read as another
emotion in 4 of 10 after the first step and in 1 after the second. The first step's refit of
happiness, fear and surprise read no better on those ten, so their rows stay.

Happiness's row had reached the top of AU12 (1.0) and still read as neutral on half the faces: the
rig's smile was too faint, not the row. So the smile itself (``rig.SMILE_CORNER_PULL``) was made
stronger, and fear's AU12 halved to keep its corners where they were. The strength was chosen on
the fitting faces (the development portraits, ``heldout/fit`` and four synthetic faces, spoken
clips read by ``face_legibility.py``'s reader): happy in 11 of 20 clips at the old pull, 16 at 1.5
times it, 17 at twice it with the wider falloff that shipped, and 19 at 2.5 times, where the mouth
stretches into a grin wider than faces make.

With the broader smile and the renderer's triangulation of the lips apart, the second sadness step
was run again from the shipped row (the same command). Its row read sad on the twenty people of
two further draws (``--seed 1`` and ``--seed 2``, each excluding the draws before) in 10 of 20
clips where the row before read 8, and right at half intensity in 19 where it read 16; on the
development portraits and synthetic faces the same as before.

Disgust's row is not fitted any more. Neither reader reads disgust in photographs of real disgust
(``reader_on_photos.py``: 1 % and 0 %), so the search followed noise, and its row (AU4 0.23, AU6
0.05, AU7 0.99, AU9 0.57, AU10 0.52, AU15 0.96, AU16 0.94, AU17 0.81, AU24 0.05, AU26 0.52) drew
the corners and lower lip down so far that, tracked on spoken clips of the 20 fitting faces, the
upper lip moved away from the nose tip (median +2.8 % of the interocular distance) and the nose
wings stayed where they were: disgust's two defining units did not show on any face. The shipped
row is set by those units (FACS: AU9 nose wrinkler, AU10 upper-lip raiser; with AU4, AU7, AU15 and
AU17, which FACS lists among disgust's variants): AU4 0.4, AU7 0.6, AU9 1.0, AU10 1.0, AU15 0.3,
AU17 0.5. On the same clips the upper lip comes nearer the nose (median -1.7 %) and the nose wings
nearer the eyes (-4.9 %); both by at least 1 % on 12 of 20 faces. Rows without the corners drawn
down (AU15) raised the lip further but read as happy more often; ``face_legibility.py`` checks
disgust by these two units beside the reader's verdict.

The shipped readings come from ``... --portraits DIR heldout/fit --reader READER.py --spoken 4
--score --emotions happy sad angry fearful surprised disgusted``: every row read on the same 36
faces at four mouth shapes of the sentence.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import procrustes

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_legibility import read_emotions, spoken_sentence  # noqa: E402

from emostudio.conditioning.controls import DEFAULT_EXPRESSION_TABLE, EXPRESSION_UNITS  # noqa: E402
from emostudio.conditioning.heads import _EMFACS, ACTION_UNITS, EXPRESSION_TABLE_PATH  # noqa: E402
from emostudio.generation.face import topology as T  # noqa: E402
from emostudio.generation.face.lipsync import MOUTH, loudness_envelope  # noqa: E402
from emostudio.generation.face.perception import analyze_image, load_image  # noqa: E402
from emostudio.generation.face.render import WarpRenderer  # noqa: E402
from emostudio.generation.face.rig import FaceRig  # noqa: E402
from emostudio.generation.face.talking_head import combine_controls, speech_mouth  # noqa: E402

SIZE = 256
TABLE_ABOUT = ("Action-unit intensities per emotion at intensity 1, fitted by benchmarks/fit_expression_table.py for "
               "legibility to an outside FER2013 expression reader on portraits, their mirror images and "
               "synthetic-corpus faces, with identity and fold constraints (the script's description lists each "
               "row's fit). Each row's reading is the reader's in the run that last fitted or scored it, on the faces "
               "listed when that run was the last: the share of frames read as the emotion and the emotion's mean "
               "log-probability. Contempt, which FER2013 lacks, keeps its EMFACS prototype; disgust, which "
               "FER2013 readers find in almost no photograph of real disgust, is set by its action units (upper "
               "lip raised, nose wrinkled).")
SEED = 0
SPEECH_JAW = 0.25  # the mouth as open as mid-sentence
# The units searched per emotion: its EMFACS prototype and the rig's units that FACS lists for its
# variants (Ekman, Friesen & Hager 2002, investigators' guide, table of emotion predictions).
SEARCH: dict[str, tuple[str, ...]] = {
    "happy": ("AU6", "AU12", "AU26"),
    "sad": ("AU1", "AU4", "AU6", "AU7", "AU15", "AU16", "AU17", "AU20", "AU24", "AU27", "AU64"),
    "angry": ("AU4", "AU5", "AU7", "AU9", "AU10", "AU15", "AU16", "AU17", "AU23", "AU24", "AU26"),
    "fearful": ("AU1", "AU2", "AU4", "AU5", "AU7", "AU15", "AU16", "AU20", "AU26", "AU27"),
    "surprised": ("AU1", "AU2", "AU5", "AU16", "AU26", "AU27"),
    "disgusted": ("AU4", "AU6", "AU7", "AU9", "AU10", "AU15", "AU16", "AU17", "AU24", "AU26"),
}
# Disgust is fitted only when asked for by name: the readers read it in almost no photograph of
# real disgust, so its fitted row followed noise (see the description).
FITTED_BY_DEFAULT = tuple(emotion for emotion in SEARCH if emotion != "disgusted")
IDENTITY_LIMIT = 0.9  # own / other-person disparity above this is penalised
# Identity is judged on what an expression leaves in place (nose, eye corners, the face's outline
# above the mouth), so a dropped jaw or raised brows are not mistaken for another person.
IDENTITY_POINTS = sorted({*T.FACE_OVAL[:9], *T.FACE_OVAL[-8:], T.NOSE_TIP, 1, 2, 98, 327, 168, 6, 197, 195, 5,
                          *T.RIGHT_NOSE_WING, *T.LEFT_NOSE_WING, T.RIGHT_EYE_INNER, T.RIGHT_EYE_OUTER,
                          T.LEFT_EYE_INNER, T.LEFT_EYE_OUTER})
FOLD_ALLOWANCE = 0.01  # share of triangles folded beyond those speech alone folds, before a penalty
TRIANGLES = T.TRIANGLES


@dataclass
class FitFace:
    name: str
    person: str
    rig: FaceRig
    renderer: WarpRenderer
    landmarks: np.ndarray


def fit_faces(folders: list[Path], synthetic: int, crops: bool, mirrors: bool = True) -> list[FitFace]:
    from emostudio.train.synth import IDENTITIES, make_portrait

    images: list[tuple[str, str, np.ndarray]] = []
    for path in sorted((path for folder in folders for path in folder.glob("*")), key=lambda path: path.name):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
            continue
        photo = load_image(path)
        images.append((path.stem, path.stem, photo))
        if mirrors:
            images.append((f"{path.stem}-mirror", path.stem, np.ascontiguousarray(photo[:, ::-1])))
        if not crops:
            continue
        x0, y0, x1, y1 = (int(v) for v in analyze_image(photo, SIZE, path.stem).source_box)
        pad_x, pad_y = round(0.15 * (x1 - x0)), round(0.15 * (y1 - y0))
        crop = photo[max(0, y0 - pad_y):y1 + pad_y, max(0, x0 - pad_x):x1 + pad_x]
        images.append((f"{path.stem}-crop", path.stem, np.ascontiguousarray(crop)))
    both_people = [identity for pair in zip(IDENTITIES[:4], IDENTITIES[4:]) for identity in pair]
    for identity in both_people[:synthetic]:
        images.append((f"synth-{identity.name}", identity.portrait, make_portrait(identity, SIZE)))
    faces = []
    for name, person, image in images:
        analysis = analyze_image(image, SIZE, name)
        faces.append(FitFace(name, person, FaceRig(analysis.landmarks), WarpRenderer(analysis.image, analysis.landmarks),
                             analysis.landmarks[:, :2].astype(np.float64)))
    return faces


def open_jaw(jaw: float) -> np.ndarray:
    """A mouth shape: the jaw open by ``jaw``, nothing else."""
    mouth = np.zeros(len(MOUTH))
    mouth[MOUTH.index("JAW")] = jaw
    return mouth


def spoken_mouths(count: int) -> list[np.ndarray]:
    """Mouth shapes of face_legibility.py's sentence at ``count`` frames spread over it, as the
    reader samples a clip (the first 0.4 s, where the expression sets in, left out)."""
    speech = spoken_sentence()
    times = np.linspace(0.4, speech.duration - 0.1, count)
    return list(speech_mouth(speech, times, loudness_envelope(speech.audio, speech.sample_rate, times)))


def controls_for(units: np.ndarray, mouth: np.ndarray | None = None) -> np.ndarray:
    mouth = open_jaw(SPEECH_JAW) if mouth is None else mouth
    return combine_controls(units[None, :], mouth[None, :], np.zeros(1))[0]


def flipped_share(rest: np.ndarray, moved: np.ndarray) -> float:
    """Share of mesh triangles whose orientation the deformation reverses (a fold: an artifact)."""
    def signed(points: np.ndarray) -> np.ndarray:
        a, b, c = points[TRIANGLES[:, 0]], points[TRIANGLES[:, 1]], points[TRIANGLES[:, 2]]
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

    before, after = signed(rest), signed(moved)
    return float(np.mean(np.sign(before) != np.sign(after)))


def constraint_penalty(units: np.ndarray, faces: list[FitFace],
                       fold_allowance: float = FOLD_ALLOWANCE) -> tuple[float, float, float]:
    """(penalty, identity ratio at the 90th percentile, mean extra fold share) of one unit vector over the faces."""
    ratios, folds = [], []
    controls, speech_only = controls_for(units), controls_for(np.zeros_like(units))
    for face in faces:
        moved = face.rig.deform(controls)
        own = procrustes(face.landmarks[IDENTITY_POINTS], moved[IDENTITY_POINTS])[2]
        other = min(procrustes(o.landmarks[IDENTITY_POINTS], moved[IDENTITY_POINTS])[2]
                    for o in faces if o.person != face.person)
        ratios.append(own / other)
        folds.append(flipped_share(face.landmarks[:468], moved[:468])
                     - flipped_share(face.landmarks[:468], face.rig.deform(speech_only)[:468]))
    worst = float(np.percentile(ratios, 90))
    fold = float(np.mean(folds))
    return 5.0 * max(worst - IDENTITY_LIMIT, 0.0) + 100.0 * max(fold - fold_allowance, 0.0), worst, fold


def score_candidates(candidates: dict[tuple[str, int], np.ndarray], faces: list[FitFace], reader: Path,
                     folder: Path, mouths: list[np.ndarray],
                     also_right: tuple[str, ...] = ()) -> dict[tuple[str, int], tuple[float, float]]:
    """(mean log p(asked), share read as asked) per candidate, over all faces and mouth shapes.

    ``also_right`` names classes that count as the asked one (neutral, for a weaker version)."""
    paths: dict[Path, tuple[tuple[str, int], str]] = {}
    for key, units in candidates.items():
        for number, mouth in enumerate(mouths):
            controls = controls_for(units, mouth)
            for face in faces:
                path = folder / f"{key[0]}_{key[1]}_{face.name}_{number}.png"
                frame = face.renderer.render(face.rig.deform(controls), controls=controls)
                cv2.imwrite(str(path), frame[..., ::-1])
                paths[path] = (key, face.name)
    verdicts = read_emotions(reader, list(paths))
    logs: dict[tuple[str, int], list[float]] = {key: [] for key in candidates}
    hits: dict[tuple[str, int], list[float]] = {key: [] for key in candidates}
    for path, (key, _) in paths.items():
        probs = verdicts.get(path, {}).get("probs")
        emotion = key[0]
        if probs is None:  # no face found: as bad as a wrong reading
            logs[key].append(np.log(1e-3))
            hits[key].append(0.0)
            continue
        right = (emotion, *also_right)
        logs[key].append(float(np.log(max(sum(probs[name] for name in right), 1e-3))))
        hits[key].append(float(max(probs, key=probs.get) in right))
        path.unlink()
    return {key: (float(np.mean(logs[key])), float(np.mean(hits[key]))) for key in candidates}


def write_table(path: Path, best: dict[str, tuple], searched: dict[str, tuple[str, ...]], faces: list[FitFace],
                note: str = "") -> None:
    """The best units found so far per fitted emotion, as the ExpressionHead's table file; the rows
    (and readings) of emotions not fitted in this run stay as the shipped table has them."""
    shipped = json.loads(EXPRESSION_TABLE_PATH.read_text()) if EXPRESSION_TABLE_PATH.exists() else {}
    table: dict[str, dict[str, float]] = {"neutral": {}}
    readings = dict(shipped.get("readings", {}))
    for emotion in ("happy", "sad", "angry", "fearful", "disgusted", "surprised"):
        if emotion not in best:
            table[emotion] = dict(EXPRESSION_UNITS[emotion])
            continue
        values = best[emotion][1]
        table[emotion] = {a: round(float(v), 2) for a, v in zip(searched[emotion], values) if v >= 0.02}
        readings[emotion] = {"share_read": round(best[emotion][2][1], 3), "mean_log_p": round(best[emotion][2][0], 3)}
    table["contempt"] = dict(_EMFACS["contempt"])
    record = {
        "about": TABLE_ABOUT + note,
        "faces": [f.name for f in faces],
        "readings": readings,
        "table": table,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")


def rescore_table(path: Path, emotions: list[str], faces: list[FitFace], reader: Path, folder: Path,
                  mouths: list[np.ndarray]) -> None:
    """Renew the readings of the shipped rows (the rows themselves stay as they are)."""
    record = json.loads(EXPRESSION_TABLE_PATH.read_text())
    shipped = {(emotion, 0): np.array(DEFAULT_EXPRESSION_TABLE[emotion]) for emotion in emotions}
    scores = score_candidates(shipped, faces, reader, folder, mouths)
    for emotion in emotions:
        log_p, hit = scores[emotion, 0]
        record["readings"][emotion] = {"share_read": round(hit, 3), "mean_log_p": round(log_p, 3)}
        print(f"{emotion:<10} read {hit:4.0%} mean log p {log_p:+.2f}")
    record["faces"] = [f.name for f in faces]
    record["about"] = TABLE_ABOUT
    path.write_text(json.dumps(record, indent=1) + "\n")


def prototype(emotion: str, start: str) -> np.ndarray:
    """Where the search starts: the EMFACS prototype, the shipped table (to refine it after a rig
    change), or the table file of an earlier run (``--start PATH``)."""
    if start == "table":
        units = EXPRESSION_UNITS[emotion]
    elif start != "emfacs":
        units = json.loads(Path(start).read_text())["table"][emotion]
    else:
        units = {**_EMFACS[emotion], **{"sad": {"AU17": 0.6}, "angry": {"AU24": 0.6, "AU15": 0.3},
                                         "fearful": {"AU27": 0.4, "AU15": 0.3}, "surprised": {"AU27": 0.5},
                                         "disgusted": {"AU10": 0.8, "AU17": 0.4}}.get(emotion, {})}
    return np.array([units.get(au, 0.0) for au in ACTION_UNITS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portraits", type=Path, nargs="+", required=True,
                        help="folders of portraits (development portraits, heldout_portraits.py draws)")
    parser.add_argument("--reader", type=Path, required=True, help="the outside expression reader script")
    parser.add_argument("--synthetic", type=int, default=4, help="synthetic-corpus faces")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--crops", action="store_true", help="also tighter crops of the development portraits")
    parser.add_argument("--start", default="emfacs",
                        help="emfacs (the EMFACS prototypes), table (the shipped table) or the path of a table file")
    parser.add_argument("--spread", type=float, default=0.3, help="initial search spread per unit")
    parser.add_argument("--emotions", nargs="+", choices=tuple(SEARCH), default=list(FITTED_BY_DEFAULT),
                        help="the emotions to fit (disgust only when named); the others keep the shipped "
                             "table's rows")
    parser.add_argument("--jaws", nargs="+", type=float, default=[SPEECH_JAW],
                        help="mouth openings each candidate is rendered at (speech moves the jaw)")
    parser.add_argument("--spoken", type=int, metavar="N",
                        help="render at N mouth shapes of the spoken benchmark sentence instead of --jaws")
    parser.add_argument("--faces", nargs="+", metavar="NAME",
                        help="fit on these faces only (their mirror images included), e.g. to explore")
    parser.add_argument("--free", action="store_true",
                        help="no identity or fold penalty: what the rig can show at most, to start a constrained fit from")
    parser.add_argument("--fold-allowance", type=float, default=FOLD_ALLOWANCE,
                        help="share of mesh triangles an expression may fold beyond speech's own before a penalty")
    parser.add_argument("--units", choices=("facs", "all"), default="facs",
                        help="search the units FACS lists for the emotion (SEARCH) or every unit of the rig")
    parser.add_argument("--no-mirrors", action="store_true", help="leave out the portraits' mirror images")
    parser.add_argument("--half", type=float, default=0.0, metavar="WEIGHT",
                        help="also render each row at half intensity, where the emotion or neutral is a right "
                             "reading and another emotion a wrong one, and add its score with this weight")
    parser.add_argument("--note", default="", help="a sentence added to the table's description")
    parser.add_argument("--score", action="store_true",
                        help="fit nothing: read the shipped rows on these faces and renew the table's readings "
                             "(after a change to the rig or renderer)")
    parser.add_argument("--out", type=Path, default=EXPRESSION_TABLE_PATH)
    args = parser.parse_args()
    if args.start not in ("emfacs", "table") and not Path(args.start).is_file():
        parser.error(f"--start {args.start}: not emfacs, table or a table file")
    mouths = spoken_mouths(args.spoken) if args.spoken else [open_jaw(jaw) for jaw in args.jaws]
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    faces = fit_faces(args.portraits, args.synthetic, args.crops, mirrors=not args.no_mirrors)
    if args.faces:
        faces = [f for f in faces if f.name in args.faces or f.person in args.faces]
        if not faces:
            parser.error(f"--faces {' '.join(args.faces)}: none of the faces")
        if len({f.person for f in faces}) < 2 and not args.free:
            parser.error("--faces: the identity constraint needs faces of two people at least (or --free)")
    print(f"{len(faces)} faces at {SIZE} px: {', '.join(f.name for f in faces)}")
    if args.score:
        with tempfile.TemporaryDirectory() as tmp:
            rescore_table(args.out, args.emotions, faces, args.reader, Path(tmp), mouths)
        return
    index = {au: i for i, au in enumerate(ACTION_UNITS)}
    fitted = [e for e in SEARCH if e in args.emotions]
    every_unit = tuple(a for a in ACTION_UNITS if a != "AU14R")  # contempt's one-sided unit stays contempt's
    searched = {e: every_unit if args.units == "all" else SEARCH[e] for e in fitted}
    means = {e: prototype(e, args.start)[[index[a] for a in searched[e]]] for e in fitted}
    spreads = {e: np.full(len(searched[e]), args.spread) for e in fitted}
    best: dict[str, tuple[float, np.ndarray, tuple]] = {}

    def full(emotion: str, values: np.ndarray) -> np.ndarray:
        units = np.zeros(len(ACTION_UNITS))
        units[[index[a] for a in searched[emotion]]] = np.clip(values, 0.0, 1.0)
        return units

    with tempfile.TemporaryDirectory() as tmp:
        for iteration in range(args.iterations):
            samples = {}
            for emotion in fitted:
                draws = [means[emotion]] + [means[emotion] + spreads[emotion] * rng.standard_normal(len(searched[emotion]))
                                            for _ in range(args.population - 1)]
                for number, values in enumerate(draws):
                    samples[emotion, number] = np.clip(values, 0.0, 1.0)
            scores = score_candidates({k: full(k[0], v) for k, v in samples.items()}, faces, args.reader, Path(tmp),
                                      mouths)
            halves = (score_candidates({k: 0.5 * full(k[0], v) for k, v in samples.items()}, faces, args.reader,
                                       Path(tmp), mouths, also_right=("neutral",)) if args.half else {})
            for emotion in fitted:
                ranked = []
                for number in range(args.population):
                    values = samples[emotion, number]
                    log_p, hit = scores[emotion, number]
                    penalty, worst, fold = ((0.0, float("nan"), float("nan")) if args.free
                                            else constraint_penalty(full(emotion, values), faces, args.fold_allowance))
                    half_log_p, half_hit = halves.get((emotion, number), (0.0, float("nan")))
                    objective = log_p + hit - penalty - 0.05 * values.sum()
                    if args.half:
                        objective += args.half * (half_log_p + half_hit)
                    ranked.append((objective, values, (log_p, hit, worst, fold, half_hit)))
                ranked.sort(key=lambda item: -item[0])
                if emotion not in best or ranked[0][0] > best[emotion][0]:
                    best[emotion] = ranked[0]
                elite = np.stack([values for _, values, _ in ranked[: max(2, args.population // 3)]])
                means[emotion] = elite.mean(axis=0)
                spreads[emotion] = np.maximum(elite.std(axis=0), 0.05)
                objective, values, (log_p, hit, worst, fold, half_hit) = best[emotion]
                half = f"at half read right {half_hit:4.0%} " if args.half else ""
                print(f"iter {iteration} {emotion:<10} best {objective:+.2f}: read {hit:4.0%} mean log p {log_p:+.2f} "
                      f"{half}identity {worst:.2f} folds {fold:.3%}  "
                      + " ".join(f"{a}={v:.2f}" for a, v in zip(searched[emotion], values)), flush=True)
            write_table(args.out, best, searched, faces, args.note)
            print(f"iteration {iteration} done after {time.perf_counter() - started:.0f} s; wrote {args.out}",
                  flush=True)


if __name__ == "__main__":
    main()
