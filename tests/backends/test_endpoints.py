"""Endpoint choice: per-repository affinity, failover, safe retries only."""

from __future__ import annotations

import httpx
import pytest

from codeslm.backends.endpoints import EndpointPool, normalize_url
from codeslm.backends.vllm import VllmBackend
from codeslm.config import Config
from codeslm.errors import BackendUnavailable, ConfigError, ContextTooLong
from codeslm.types import GenerationRequest

from .mockservers import FakeVllm, Router


def test_urls_are_normalised_and_validated() -> None:
    assert normalize_url("http://h:8000/v1/") == "http://h:8000"
    assert normalize_url("localhost:8012") == "http://localhost:8012"
    for bad in ("ftp://h", "http://", "http://h:notaport"):
        with pytest.raises(ConfigError):
            normalize_url(bad)
    with pytest.raises(ConfigError, match="no server URL"):
        EndpointPool([])


def test_same_key_same_endpoint_and_keys_spread() -> None:
    pool = EndpointPool([f"http://r{i}:8000" for i in range(4)])
    first = {f"/repo{k}": pool.ranked(f"/repo{k}")[0].url for k in range(40)}
    again = {f"/repo{k}": pool.ranked(f"/repo{k}")[0].url for k in range(40)}
    assert first == again  # affinity: a repository always lands on the same replica
    assert len(set(first.values())) == 4  # and repositories spread over all replicas


def test_removing_a_replica_moves_only_its_keys() -> None:
    urls = [f"http://r{i}:8000" for i in range(4)]
    full = EndpointPool(urls)
    reduced = EndpointPool(urls[:3])
    keys = [f"/repo{k}" for k in range(200)]
    moved = [
        k
        for k in keys
        if full.ranked(k)[0].url != "http://r3:8000"
        and full.ranked(k)[0].url != reduced.ranked(k)[0].url
    ]
    assert moved == []  # rendezvous hashing: keys of the surviving replicas stay put


def test_a_down_endpoint_goes_last_until_its_cooldown_ends() -> None:
    now = [100.0]
    pool = EndpointPool(["http://a:1", "http://b:1"], cooldown_s=10, clock=lambda: now[0])
    key = next(k for k in (f"k{i}" for i in range(100)) if pool.ranked(k)[0].url == "http://a:1")
    pool.mark_down(pool.endpoints[0], "connection refused")
    assert [e.url for e in pool.ranked(key)] == ["http://b:1", "http://a:1"]
    now[0] += 11
    assert pool.ranked(key)[0].url == "http://a:1"


def test_requests_without_a_key_rotate() -> None:
    pool = EndpointPool(["http://a:1", "http://b:1", "http://c:1"])
    assert {pool.ranked(None)[0].url for _ in range(3)} == {
        "http://a:1",
        "http://b:1",
        "http://c:1",
    }


def _two_servers() -> tuple[Router, VllmBackend]:
    router = Router({8001: FakeVllm(), 8002: FakeVllm()})
    config = Config(backend="vllm", url=["http://127.0.0.1:8001", "http://127.0.0.1:8002"])
    return router, VllmBackend(config, transport=router.transport())


def _served_by(router: Router, path: str = "/v1/completions") -> list[int]:
    return [port for port, p in router.log if p == path]


async def test_failover_when_the_affine_server_refuses_connections() -> None:
    router, backend = _two_servers()
    request = GenerationRequest(prompt="p", session="/home/me/project")
    await backend.generate(request)
    await backend.generate(request)
    used = _served_by(router)
    assert len(set(used)) == 1  # affinity held
    home = used[0]
    router.servers[home].down = True
    result = await backend.generate(request)
    assert result.text == "a + b"
    assert _served_by(router)[-1] != home  # failed over
    await backend.aclose()


async def test_503_fails_over_but_a_4xx_is_not_retried() -> None:
    router, backend = _two_servers()
    request = GenerationRequest(prompt="p", session="s")
    await backend.generate(request)
    home = _served_by(router)[-1]
    other = next(p for p in router.servers if p != home)
    router.servers[home].status = 503
    router.servers[home].error_body = {
        "error": {"message": "engine is unhealthy", "type": "ServiceUnavailable", "code": 503}
    }
    await backend.generate(request)
    assert _served_by(router)[-1] == other
    router.servers[other].status = 400
    router.servers[other].error_body = {
        "error": {
            "message": "maximum context length is 8192",
            "type": "BadRequestError",
            "code": 400,
        }
    }
    count = len(_served_by(router))
    with pytest.raises(ContextTooLong):
        await backend.generate(request)
    assert len(_served_by(router)) == count + 1  # one attempt: the other server is never asked
    await backend.aclose()


async def test_all_endpoints_down_is_one_clear_error() -> None:
    router, backend = _two_servers()
    for server in router.servers.values():
        server.down = True
    with pytest.raises(
        BackendUnavailable, match=r"no server answered \(2 tried\).*connection refused"
    ):
        await backend.generate(GenerationRequest(prompt="p"))
    await backend.aclose()


async def test_a_single_refusing_server_names_its_url_and_how_to_fix() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    backend = VllmBackend(
        Config(backend="vllm", url=["http://127.0.0.1:8999"]), transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(BackendUnavailable) as info:
        await backend.generate(GenerationRequest(prompt="p"))
    assert "http://127.0.0.1:8999" in info.value.message
    assert "codeslm serve" in (info.value.hint or "")
    await backend.aclose()


async def test_default_url_is_where_codeslm_serve_listens() -> None:
    config = Config(backend="vllm")
    config.serve.port = 8123
    backend = VllmBackend(config)
    assert backend.http.urls == ["http://127.0.0.1:8123"]
    await backend.aclose()
