"""A loopback TCP relay that runs a callback once the first streamed token passes through it.

Killing a server "mid-stream" by timing alone is a race: a short answer can finish before a
/metrics poll ever sees the request running. Relaying the bytes unchanged and acting on the
first server-sent-events chunk (``data: {``) makes the moment exact: the client has received
part of the stream and the rest is still to come.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

FIRST_CHUNK = b"data: {"


@contextlib.contextmanager
def relay(upstream_url: str, on_first_chunk: Callable[[], None]) -> Iterator[str]:
    """Yield a ``http://127.0.0.1:PORT`` URL that forwards every connection to *upstream_url*.

    *on_first_chunk* runs once, after the first response bytes holding a streamed chunk were
    forwarded to the client. Connections end when either side closes.
    """
    target = urlsplit(upstream_url)
    address = (target.hostname or "127.0.0.1", target.port or 80)
    fired = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def pipe(source: socket.socket, sink: socket.socket, watch: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
                if watch and FIRST_CHUNK in data and not fired.is_set():
                    fired.set()
                    on_first_chunk()
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                server = socket.create_connection(address)
                threading.Thread(target=pipe, args=(client, server, False), daemon=True).start()
                threading.Thread(target=pipe, args=(server, client, True), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
