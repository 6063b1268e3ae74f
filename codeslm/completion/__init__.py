"""Completion post-processing and latency machinery, shared by every surface.

- :func:`postprocess` (pure): raw model output -> the completion to show;
- :func:`decide_mode`: single line or multi-line from the syntax around the cursor;
- :mod:`.cache`: the typed-ahead cache and the prompt LRU;
- :mod:`.stopping`: ending a stream early once the completion is decided;
- :mod:`.deadline`: ``max_tokens`` from measured speed and the latency budget;
- :mod:`.request`: a request's :class:`~.request.Cursor` (built once) and
  :class:`~.request.CompletionOptions`;
- :mod:`.plan`: the prompt window, mode, context and FIM prompt decided before the model runs;
- :mod:`.generation`: streaming, stopping, the early first line and retries;
- :mod:`.warmup`: the quick first window at a new place and background warm-ups;
- :mod:`.scheduler`: debounce, superseding and cancellation per document (their one owner);
- :mod:`.stats`: the one set of counters of a session.

:class:`codeslm.engine.CompletionEngine` orchestrates them; :mod:`codeslm.session` builds it.
"""

from .hole import Hole
from .mode import decide_mode
from .pipeline import postprocess

__all__ = ["Hole", "decide_mode", "postprocess"]
