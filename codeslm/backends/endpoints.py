"""Choosing a server among several: session affinity plus failover, nothing more.

Requests that carry an affinity key (the repository, else the document) always go to the same
endpoint while it is up, so that endpoint's prefix cache keeps the repository's context warm.
The choice is rendezvous (highest-random-weight) hashing: each key ranks all endpoints, and when
one goes down only the keys that lived there move. Requests without a key rotate round-robin.

An endpoint that refused a connection is put at the back of every ranking for ``cooldown_s``
seconds (it is still tried last, so a pool whose endpoints are all down keeps trying). Load
balancing, health polling and cluster logic belong to a real router (vllm-router) in front of
the replicas; see ``docs/deploy.md``.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError

log = logging.getLogger(__name__)


def normalize_url(url: str) -> str:
    """``url`` without a trailing slash or ``/v1`` (users paste OpenAI base URLs); validated."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"server URL {url!r} is not an http(s) URL", hint="use the form http://127.0.0.1:8000"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(f"server URL {url!r} has an invalid port") from None
    text = text.rstrip("/")
    if text.endswith("/v1"):
        text = text[: -len("/v1")]
    return text


def session_header(key: str) -> str:
    """The ``X-Session-ID`` value for an affinity key: a short hash, so paths never leave here."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@dataclass(slots=True)
class Endpoint:
    """One server base URL and its failure state."""

    url: str
    down_until: float = 0.0
    failures: int = 0
    last_error: str = ""


class EndpointPool:
    """The configured endpoints, ranked per request; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        cooldown_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ConfigError("no server URL configured", hint="pass --url http://HOST:PORT")
        seen: dict[str, Endpoint] = {}
        for url in urls:
            norm = normalize_url(url)
            seen.setdefault(norm, Endpoint(norm))
        self.endpoints: list[Endpoint] = list(seen.values())
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._rotation = itertools.count()

    def __len__(self) -> int:
        return len(self.endpoints)

    def _weight(self, key: str, endpoint: Endpoint) -> int:
        digest = hashlib.blake2b(f"{key}\x00{endpoint.url}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def ranked(self, key: str | None) -> list[Endpoint]:
        """Every endpoint in the order to try for ``key``: healthy ones first."""
        if key is None:
            start = next(self._rotation) % len(self.endpoints)
            order = self.endpoints[start:] + self.endpoints[:start]
        else:
            order = sorted(self.endpoints, key=lambda e: self._weight(key, e), reverse=True)
        now = self._clock()
        up = [e for e in order if e.down_until <= now]
        down = [e for e in order if e.down_until > now]
        return up + down

    def mark_down(self, endpoint: Endpoint, reason: str) -> None:
        """Record a connection-level failure; the endpoint sinks to the back for a while."""
        endpoint.failures += 1
        endpoint.last_error = reason
        endpoint.down_until = self._clock() + self.cooldown_s
        if len(self.endpoints) > 1:
            log.warning(
                "endpoint %s is down (%s); using the next one for %.0f s",
                endpoint.url,
                reason,
                self.cooldown_s,
            )

    def mark_up(self, endpoint: Endpoint) -> None:
        """Record a success."""
        if endpoint.down_until or endpoint.failures:
            log.info("endpoint %s is back", endpoint.url)
        endpoint.down_until = 0.0
        endpoint.failures = 0
        endpoint.last_error = ""
