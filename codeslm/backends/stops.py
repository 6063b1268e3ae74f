"""Stop strings applied on codeslm's side of a stream, the same way for every backend."""

from __future__ import annotations


class StopMatcher:
    """Client-side stop strings over streamed text: holds back what may start a stop string.

    Servers apply stops too; this makes the behaviour identical across servers (some ignore
    special-token stops or cap the number of stop strings).
    """

    def __init__(self, stops: tuple[str, ...] | list[str]) -> None:
        self._stops = [s for s in dict.fromkeys(stops) if s]
        self._held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        """Text safe to emit now; sets ``hit`` when a stop string was found (text cut before it)."""
        if self.hit:
            return ""
        buf = self._held + text
        cuts = [i for s in self._stops if (i := buf.find(s)) >= 0]
        if cuts:
            self.hit = True
            self._held = ""
            return buf[: min(cuts)]
        keep = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(buf)), keep, -1):
                if buf.endswith(stop[:k]):
                    keep = k
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        """What was held back, at the end of a stream that hit no stop."""
        out, self._held = self._held, ""
        return "" if self.hit else out
