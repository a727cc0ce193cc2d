"""Landmark index groups of the MediaPipe face mesh (478 points with refined irises).

"RIGHT" and "LEFT" are the subject's sides, as in MediaPipe's own names: the subject's right eye
is on the image's left in a frontal photo. Ordered lists run from the face's midline outward
(inner corner to outer corner) unless they say otherwise; loops are closed polygons in order.
"""

from __future__ import annotations

# Eyes: rings (closed loops), lids from inner to outer corner, corners.
RIGHT_EYE_RING = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
LEFT_EYE_RING = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
RIGHT_UPPER_LID = [133, 173, 157, 158, 159, 160, 161, 246, 33]
RIGHT_LOWER_LID = [133, 155, 154, 153, 145, 144, 163, 7, 33]
LEFT_UPPER_LID = [362, 398, 384, 385, 386, 387, 388, 466, 263]
LEFT_LOWER_LID = [362, 382, 381, 380, 374, 373, 390, 249, 263]
RIGHT_IRIS = [468, 469, 470, 471, 472]  # centre first
LEFT_IRIS = [473, 474, 475, 476, 477]

# Brows, inner end first (upper and lower edge interleaved).
RIGHT_BROW = [107, 55, 66, 65, 105, 52, 63, 53, 70, 46]
LEFT_BROW = [336, 285, 296, 295, 334, 282, 293, 283, 300, 276]

# Lips. Contours run from the subject's right corner to the left corner (image left to right).
RIGHT_LIP_CORNER = 61
LEFT_LIP_CORNER = 291
LIP_CORNERS = [RIGHT_LIP_CORNER, LEFT_LIP_CORNER]
UPPER_LIP_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER_LIP_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
UPPER_LIP_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_LIP_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
UPPER_LIP_ALL = sorted(set(UPPER_LIP_OUTER + UPPER_LIP_INNER))
LOWER_LIP_ALL = sorted(set(LOWER_LIP_OUTER[1:-1] + LOWER_LIP_INNER[1:-1]))
UPPER_LIP_CENTER = [37, 0, 267, 82, 13, 312]
UPPER_LIP_OUTER_CENTER = [37, 0, 267]
LOWER_LIP_CENTER = [84, 17, 314, 87, 14, 317]
LOWER_LIP_OUTER_CENTER = [84, 17, 314]
# The mouth opening as a closed loop: inner upper lip left to right, inner lower lip back.
MOUTH_OPENING = UPPER_LIP_INNER + LOWER_LIP_INNER[-2:0:-1]
OUTER_LIPS = UPPER_LIP_OUTER + LOWER_LIP_OUTER[-2:0:-1]

# Cheeks and nose.
RIGHT_CHEEK = [50, 101, 118, 117, 123, 187, 205, 36]
LEFT_CHEEK = [280, 330, 347, 346, 352, 411, 425, 266]
RIGHT_NOSE_WING = [129, 98, 64, 48, 102]
LEFT_NOSE_WING = [358, 327, 294, 278, 331]
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

# The face outline as a closed loop, starting at the top of the forehead, going to the image right.
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
