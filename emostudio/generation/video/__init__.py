"""Emotion-styled video: grading of footage and stills (embedded tier)."""
