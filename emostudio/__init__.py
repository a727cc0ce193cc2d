"""emostudio: emotion-controlled speech, talking heads and video."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Studio", "EmotionSpec", "__version__"]


def __getattr__(name: str) -> Any:
    # Loaded on first use so that `import emostudio` stays light.
    if name == "Studio":
        from .ui.studio import Studio

        return Studio
    if name == "EmotionSpec":
        from .conditioning import EmotionSpec

        return EmotionSpec
    raise AttributeError(name)
