"""The root conftest keeps tests offline: other hosts are refused, this machine is not."""

from __future__ import annotations

import socket

import pytest

from pyrogen.data import load

REFUSED = "tests run offline"


def test_a_connection_to_another_host_is_refused_and_recorded(network_attempts):
    with pytest.raises(AssertionError, match=REFUSED):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)  # TEST-NET-1
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s, pytest.raises(AssertionError):
        s.connect_ex(("2001:db8::1", 80))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(AssertionError):
        s.sendto(b"x", ("192.0.2.1", 53))
    assert network_attempts == ["'192.0.2.1'", "'2001:db8::1'", "'192.0.2.1'"]
    network_attempts.clear()


def test_name_resolution_of_another_host_is_refused(network_attempts):
    with pytest.raises(AssertionError, match=REFUSED):
        socket.getaddrinfo("example.com", 443)
    assert network_attempts == ["'example.com'"]
    network_attempts.clear()


def test_a_download_without_staged_files_fails_instead_of_reaching_the_host(
    tmp_path, monkeypatch, network_attempts
):
    monkeypatch.delenv("PYROGEN_DATA_MIRROR", raising=False)
    with pytest.raises(AssertionError, match=REFUSED):
        load("binarized_mnist", "test", root=tmp_path)
    assert network_attempts  # the canonical host, refused before any packet left
    network_attempts.clear()


def test_loopback_connections_work(network_attempts):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)  # the kernel completes both handshakes without an accept()
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=5):
                pass
    assert network_attempts == []
