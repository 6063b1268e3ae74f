"""Network guard loaded into every Python process of a privacy test (via PYTHONPATH).

Any connection or name lookup that is not loopback is written to $CODESLM_NET_GUARD_LOG and
refused with OSError, so the test sees both the attempt and a failure the code must survive.
"""

import ipaddress
import os
import socket

_LOG = os.environ.get("CODESLM_NET_GUARD_LOG")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: object) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


def _violation(what: str) -> OSError:
    if _LOG:
        with open(_LOG, "a") as fh:
            fh.write(f"{os.getpid()} {what}\n")
    return OSError(f"network guard: {what} refused")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _checked(address: object) -> None:
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        raise _violation(f"connect {address!r}")


def connect(self, address):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _checked(address)
    return _connect(self, address)


def connect_ex(self, address):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _checked(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if not _is_loopback(host):
        raise _violation(f"resolve {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = getaddrinfo
