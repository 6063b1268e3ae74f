"""Completion post-processing and latency machinery, shared by every surface.

- :func:`postprocess` (pure): raw model output -> the completion to show;
- :func:`decide_mode`: single line or multi-line from the syntax around the cursor;
- :mod:`.cache`: the typed-ahead cache and the prompt LRU;
- :mod:`.stopping`: ending a stream early once the completion is decided;
- :mod:`.deadline`: ``max_tokens`` from measured speed and the latency budget.
"""

from .hole import Hole
from .mode import decide_mode
from .pipeline import postprocess

__all__ = ["Hole", "decide_mode", "postprocess"]
