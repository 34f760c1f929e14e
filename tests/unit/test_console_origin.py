"""Which host names and origins the console answers (``console/pages.py``): loopback and
its own host as sent, no user info, and behind a TLS proxy the public origin alone."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from handrail.console.guard import host_allowed, origin
from handrail.settings import ConsoleSettings


def _request(host: str):  # type: ignore[no-untyped-def]
    return make_mocked_request("GET", "/", headers={"Host": host})


def test_host_names_are_compared_as_sent() -> None:
    plain = ConsoleSettings()
    for host in ("127.0.0.1:8340", "localhost:8340", "[::1]:8340", "127.0.0.1"):
        assert host_allowed(_request(host), plain), host
    for host in ("evil.example", "evil@127.0.0.1:8340", "localhost.:8340", "127.0.0.1.:1", ""):
        assert not host_allowed(_request(host), plain), host
    proxied = ConsoleSettings(allowed_hosts=["handrail.example.com"])
    assert host_allowed(_request("handrail.example.com"), proxied)


def test_behind_a_proxy_the_public_origin_is_the_onlyorigin() -> None:
    assert origin(_request("127.0.0.1:8340"), ConsoleSettings()) == "http://127.0.0.1:8340"
    proxied = ConsoleSettings(public_origin="https://handrail.example.com")
    assert origin(_request("127.0.0.1:8340"), proxied) == "https://handrail.example.com"
