"""Keeps every test (and doctest) under this directory off the network.

From configuration on (so imports at collection time are covered), Python sockets may connect
or send only to this machine: a loopback or unspecified address, a Unix socket, or the name
``localhost``; name resolution is refused for any other host, so no DNS query leaves either.
An attempt raises :class:`NetworkAccessError` at once, and is also recorded, so a test whose
code swallows the error still fails at teardown. Subprocesses are outside this guard: the
tests that start them give them local addresses only and a data root that holds the files.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

_REAL = {
    "connect": socket.socket.connect,
    "connect_ex": socket.socket.connect_ex,
    "sendto": socket.socket.sendto,
    "getaddrinfo": socket.getaddrinfo,
}
_ATTEMPTS: list[str] = []


class NetworkAccessError(AssertionError):
    """A test tried to reach a host other than this machine."""


def _is_local(host: Any) -> bool:
    if host is None or host in ("", "localhost", b"localhost"):
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])  # drop an IPv6 zone index
    except ValueError:
        return False  # a host name other than localhost would need a DNS query
    return ip.is_loopback or ip.is_unspecified


def _check(address: Any, family: int) -> None:
    if family == getattr(socket, "AF_UNIX", None) or not isinstance(address, tuple):
        return
    if not _is_local(address[0]):
        _ATTEMPTS.append(repr(address[0]))
        raise NetworkAccessError(
            f"a test tried to reach {address[0]!r}; tests run offline and may reach only this "
            f"machine (127.0.0.1, ::1, localhost). Stage the files it needs (PYROGEN_DATA) or "
            f"serve them from a loopback server"
        )


def _connect(self: socket.socket, address: Any) -> None:
    _check(address, self.family)
    return _REAL["connect"](self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(address, self.family)
    return _REAL["connect_ex"](self, address)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    _check(args[-1], self.family)
    return _REAL["sendto"](self, data, *args)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    _check((host, 0), socket.AF_INET)
    return _REAL["getaddrinfo"](host, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = _sendto  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _getaddrinfo


def pytest_unconfigure(config: pytest.Config) -> None:
    socket.socket.connect = _REAL["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _REAL["connect_ex"]  # type: ignore[method-assign]
    socket.socket.sendto = _REAL["sendto"]  # type: ignore[method-assign]
    socket.getaddrinfo = _REAL["getaddrinfo"]


@pytest.fixture
def network_attempts() -> list[str]:
    """The hosts the current test tried to reach; a test of the guard itself empties it."""
    return _ATTEMPTS


@pytest.fixture(autouse=True)
def _no_network_access():
    """Fails the test if it tried to reach another host, even where the error was caught."""
    _ATTEMPTS.clear()
    yield
    if _ATTEMPTS:
        hosts = ", ".join(sorted(set(_ATTEMPTS)))
        _ATTEMPTS.clear()
        pytest.fail(f"the test tried to reach {hosts}; tests must stay offline", pytrace=False)
