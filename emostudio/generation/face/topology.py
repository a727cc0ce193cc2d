"""Landmark index groups of the MediaPipe face mesh (478 points with refined irises).

"RIGHT" and "LEFT" are the SUBJECT's sides, as in MediaPipe's own names: the subject's right eye
is on the image's left in a frontal photo. Ordered lists of a feature run from the midline outward
(inner corner to outer corner); lips run from the image's left corner to its right corner. Closed
loops list each point once and run clockwise on screen (positive shoelace area with y down).
Sequences are walked along MediaPipe's own edge sets from a few anchor numbers, so a change in
MediaPipe's topology fails loudly at import. Groups are lists, ready for NumPy indexing.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from mediapipe.python.solutions import face_mesh_connections as _mesh

def _neighbours(edges: Iterable[tuple[int, int]]) -> dict[int, set[int]]:
    graph: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph[b].add(a)
    return graph


def _walk(edges: Iterable[tuple[int, int]], start: int, first: int) -> list[int]:
    """Follow a chain or loop of degree-2 points from ``start`` via ``first`` to its end."""
    graph = _neighbours(edges)
    if first not in graph[start]:
        raise RuntimeError(f"MediaPipe's topology changed: {start} and {first} are not joined.")
    order, previous, current = [start], start, first
    while current != start:
        order.append(current)
        onward = graph[current] - {previous}
        if len(onward) > 1:
            raise RuntimeError(f"MediaPipe's topology changed: {current} branches.")
        if not onward:
            break
        previous, current = current, onward.pop()
    return order


def _arc(edges: Iterable[tuple[int, int]], start: int, end: int, through: int) -> list[int]:
    """The stretch of a loop or chain from ``start`` to ``end`` that passes ``through``."""
    edges = list(edges)
    for first in sorted(_neighbours(edges)[start]):
        walked = _walk(edges, start, first)
        if end in walked and through in walked[:walked.index(end)]:
            return walked[:walked.index(end) + 1]
    raise RuntimeError(f"MediaPipe's topology changed: no path {start}-{through}-{end}.")


def _clockwise(top: list[int], bottom: list[int]) -> list[int]:
    """A loop from a top contour and a bottom contour that both run left to right on screen."""
    return top + bottom[-2:0:-1]


def _triangles(edges: frozenset[tuple[int, int]]) -> np.ndarray:
    """Faces of a triangle mesh given only its edges.

    Every three mutually joined points are a face, except "separating" triangles (here two,
    around the nostrils), whose three edges each already border two real faces.
    """
    graph = _neighbours(edges)
    cliques = {frozenset((a, b, c)) for a in graph for b in graph[a] for c in graph[a] & graph[b]}
    uses = Counter(frozenset(pair) for tri in cliques for pair in itertools.combinations(tri, 2))
    faces = sorted(tuple(sorted(tri)) for tri in cliques
                   if not all(uses[frozenset(pair)] > 2 for pair in itertools.combinations(tri, 2)))
    array = np.array(faces, dtype=np.int32)
    array.flags.writeable = False
    return array


# Lips: outer contour (corners 61 and 291) and inner contour (the mouth opening, corners 78 and
# 308); 0 and 13 are the middle of the upper lip's outer and inner edges, 17 and 14 of the lower.
UPPER_LIP_OUTER = _arc(_mesh.FACEMESH_LIPS, 61, 291, through=0)
LOWER_LIP_OUTER = _arc(_mesh.FACEMESH_LIPS, 61, 291, through=17)
UPPER_LIP_INNER = _arc(_mesh.FACEMESH_LIPS, 78, 308, through=13)
LOWER_LIP_INNER = _arc(_mesh.FACEMESH_LIPS, 78, 308, through=14)
LIPS_OUTER_LOOP = _clockwise(UPPER_LIP_OUTER, LOWER_LIP_OUTER)
LIPS_INNER_LOOP = _clockwise(UPPER_LIP_INNER, LOWER_LIP_INNER)
MOUTH_CORNERS = [UPPER_LIP_OUTER[0], UPPER_LIP_OUTER[-1]]  # image left, image right

# Eyes: 133/362 inner corners, 33/263 outer corners, 159/386 upper-lid and 145/374 lower-lid middles.
RIGHT_EYE_INNER, RIGHT_EYE_OUTER = 133, 33
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
RIGHT_UPPER_LID = _arc(_mesh.FACEMESH_RIGHT_EYE, RIGHT_EYE_INNER, RIGHT_EYE_OUTER, through=159)
RIGHT_LOWER_LID = _arc(_mesh.FACEMESH_RIGHT_EYE, RIGHT_EYE_INNER, RIGHT_EYE_OUTER, through=145)
LEFT_UPPER_LID = _arc(_mesh.FACEMESH_LEFT_EYE, LEFT_EYE_INNER, LEFT_EYE_OUTER, through=386)
LEFT_LOWER_LID = _arc(_mesh.FACEMESH_LEFT_EYE, LEFT_EYE_INNER, LEFT_EYE_OUTER, through=374)
# The subject's right eye is on the image's left, so its lids run right to left on screen.
RIGHT_EYE_LOOP = _clockwise(RIGHT_UPPER_LID[::-1], RIGHT_LOWER_LID[::-1])
LEFT_EYE_LOOP = _clockwise(LEFT_UPPER_LID, LEFT_LOWER_LID)

# Brows: each is an upper and a lower edge, walked from the inner end (107/55, 336/285) outward.
RIGHT_BROW_UPPER = _walk(_mesh.FACEMESH_RIGHT_EYEBROW, 107, 66)
RIGHT_BROW_LOWER = _walk(_mesh.FACEMESH_RIGHT_EYEBROW, 55, 65)
LEFT_BROW_UPPER = _walk(_mesh.FACEMESH_LEFT_EYEBROW, 336, 296)
LEFT_BROW_LOWER = _walk(_mesh.FACEMESH_LEFT_EYEBROW, 285, 295)
# All ten points of a brow, inner to outer, upper and lower edge interleaved.
RIGHT_BROW = list(itertools.chain.from_iterable(zip(RIGHT_BROW_UPPER, RIGHT_BROW_LOWER)))
LEFT_BROW = list(itertools.chain.from_iterable(zip(LEFT_BROW_UPPER, LEFT_BROW_LOWER)))

# Irises (refined landmarks): the centre is the one point of each iris outside its ring of four.
RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER = 468, 473
RIGHT_IRIS_RING = _walk(_mesh.FACEMESH_RIGHT_IRIS, 469, 472)
LEFT_IRIS_RING = _walk(_mesh.FACEMESH_LEFT_IRIS, 474, 477)

# 4 is the most forward point of the nose (1 sits just below it, at the base of the tip);
# 152 is the bottom of the chin and 10 the top of the forehead on the face outline.
NOSE_TIP = 4
CHIN = 152
FOREHEAD = 10
# The face outline from the top of the forehead, first toward the image's right.
FACE_OVAL = _walk(_mesh.FACEMESH_FACE_OVAL, FOREHEAD, 338)
# The 468-point mesh's triangles, (852, 3); the vertex order within a row is not a winding.
TRIANGLES = _triangles(_mesh.FACEMESH_TESSELATION)


# Groups the rig uses, derived from the contours above.
RIGHT_LIP_CORNER, LEFT_LIP_CORNER = MOUTH_CORNERS
LIP_CORNERS = MOUTH_CORNERS
UPPER_LIP_ALL = sorted(set(UPPER_LIP_OUTER + UPPER_LIP_INNER))
LOWER_LIP_ALL = sorted(set(LOWER_LIP_OUTER[1:-1] + LOWER_LIP_INNER[1:-1]))
UPPER_LIP_OUTER_CENTER = UPPER_LIP_OUTER[4:7]  # 37, 0, 267
LOWER_LIP_OUTER_CENTER = LOWER_LIP_OUTER[4:7]  # 84, 17, 314
UPPER_LIP_CENTER = UPPER_LIP_OUTER_CENTER + UPPER_LIP_INNER[4:7]
LOWER_LIP_CENTER = LOWER_LIP_OUTER_CENTER + LOWER_LIP_INNER[4:7]
MOUTH_OPENING = LIPS_INNER_LOOP
RIGHT_EYE_RING = RIGHT_EYE_LOOP
LEFT_EYE_RING = LEFT_EYE_LOOP

# The chin boss below the lower lip, midline and either side (what AU17 pushes up).
CHIN_BOSS = [18, 200, 199, 175, 83, 313, 201, 421]
# Cheeks and nose.
RIGHT_CHEEK = [50, 101, 118, 117, 123, 187, 205, 36]
LEFT_CHEEK = [280, 330, 347, 346, 352, 411, 425, 266]
RIGHT_NOSE_WING = [129, 98, 64, 48, 102]
LEFT_NOSE_WING = [358, 327, 294, 278, 331]


@dataclass(frozen=True)
class EyeSide:
    """One eye's landmark groups: the lid contour, its corners and the iris (the eyeball's points)."""

    loop: list[int]
    upper: list[int]
    lower: list[int]
    inner: int
    outer: int
    iris_center: int
    iris_ring: list[int]

    @property
    def interior(self) -> list[int]:
        return [self.iris_center, *self.iris_ring]


EYES = (
    EyeSide(RIGHT_EYE_LOOP, RIGHT_UPPER_LID, RIGHT_LOWER_LID, RIGHT_EYE_INNER, RIGHT_EYE_OUTER, RIGHT_IRIS_CENTER,
            RIGHT_IRIS_RING),
    EyeSide(LEFT_EYE_LOOP, LEFT_UPPER_LID, LEFT_LOWER_LID, LEFT_EYE_INNER, LEFT_EYE_OUTER, LEFT_IRIS_CENTER,
            LEFT_IRIS_RING),
)
