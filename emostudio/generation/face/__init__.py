"""Emotional talking heads: face perception, the action-unit rig, lip sync and the warp renderer."""

# Kept here, free of imports, so that callers can show the defaults without loading the face stack.
DEFAULT_SIZE = 512
"""Talking-head width and height in pixels unless asked otherwise."""
DEFAULT_FPS = 25.0
"""Talking-head frame rate unless asked otherwise."""
