"""emostudio: emotion-controlled speech, talking heads and video."""

__version__ = "0.1.0"
