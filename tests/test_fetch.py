"""The page fetcher behind web search's open/find: the address policy and every cap.

The policy is a pure function tested directly; redirects and DNS answers go through an
injected resolver and transport, so no test leaves loopback.
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from codexglm.server.fetch import FetchRefused, PageFetcher, blocked_reason, html_text, parse_target

PUBLIC = "93.184.215.14"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "private"),
        ("0.0.0.0", "unicast"),
        ("224.0.0.1", "unicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_internal_addresses_are_blocked(address: str, reason: str) -> None:
    found = blocked_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found


@pytest.mark.parametrize("address", [PUBLIC, "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@given(st.ip_addresses(v=4, network="10.0.0.0/8") | st.ip_addresses(v=4, network="127.0.0.0/8")
       | st.ip_addresses(v=4, network="169.254.0.0/16") | st.ip_addresses(v=4, network="192.168.0.0/16")
       | st.ip_addresses(v=6, network="fe80::/10") | st.ip_addresses(v=6, network="fc00::/7"))
def test_every_address_of_the_internal_ranges_is_blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert blocked_reason(address) is not None
    mapped = ipaddress.IPv6Address(f"::ffff:{address}") if address.version == 4 else None
    assert mapped is None or blocked_reason(mapped) is not None


async def test_a_public_ipv6_literal_is_fetched_with_a_bracketed_host() -> None:
    web = Web({}, {"2606:4700:4700::1111 [2606:4700:4700::1111]:8080/": httpx.Response(200, text="v6",
                                                                                   headers={"content-type": "text/plain"})})
    page = await web.fetcher().fetch("http://[2606:4700:4700::1111]:8080/")
    assert (page.url, page.text) == ("http://[2606:4700:4700::1111]:8080/", "v6")


def test_credentials_in_the_url_are_dropped() -> None:
    target = parse_target("https://user:secret@Example.org:8443/a?b=1")
    assert (target.host, target.port, target.path) == ("example.org", 8443, "/a?b=1")
    assert "secret" not in target.url and "user" not in target.url


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x/", "ftp://example.org/", "javascript:alert(1)", "http://"])
def test_only_http_urls_with_a_host_are_fetched(url: str) -> None:
    with pytest.raises(FetchRefused):
        parse_target(url)


class Web:
    """A fake internet: DNS answers and pages by (pinned address, Host); records what was sent."""

    def __init__(self, dns: dict[str, list[str]], pages: dict[str, httpx.Response]) -> None:
        self.dns = dns
        self.pages = pages
        self.sent: list[httpx.Request] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.dns:
            raise OSError("no such host")
        return self.dns[host]

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.sent.append(request)
            return self.pages.get(f"{request.url.host} {request.headers['host']}{request.url.raw_path.decode()}",
                                  httpx.Response(404))
        return httpx.MockTransport(handle)

    def fetcher(self, **caps: float) -> PageFetcher:
        return PageFetcher(max_bytes=int(caps.get("max_bytes", 10_000)), timeout=caps.get("timeout", 5.0),
                           resolver=self.resolve, transport=self.transport())


def _html(body: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/html; charset=utf-8"}, text=body)


async def test_a_public_page_is_fetched_on_the_checked_address_as_text() -> None:
    web = Web({"example.org": [PUBLIC]},
              {f"{PUBLIC} example.org/doc": _html("<html><head><title>T</title><script>x()</script></head>"
                                                   "<body><p>Hello &amp; welcome</p><p>Second</p></body></html>")})
    page = await web.fetcher().fetch("https://user:pw@example.org/doc")
    assert page.text == "Hello & welcome\nSecond"
    assert page.url == "https://example.org/doc"
    [sent] = web.sent
    # Pinned to the resolved address; the name rides in Host and the TLS server name.
    assert sent.url.host == PUBLIC and sent.headers["host"] == "example.org"
    assert sent.extensions["sni_hostname"] == "example.org"
    # No credentials of any kind leave the machine.
    assert "authorization" not in sent.headers and "cookie" not in sent.headers


async def test_a_name_resolving_to_a_private_address_is_refused_before_connecting() -> None:
    web = Web({"intranet.example.org": ["10.0.0.5"]}, {})
    with pytest.raises(FetchRefused, match="private"):
        await web.fetcher().fetch("http://intranet.example.org/")
    assert web.sent == []


async def test_one_internal_address_among_several_is_enough_to_refuse() -> None:
    web = Web({"rebind.example.org": [PUBLIC, "127.0.0.1"]}, {})
    with pytest.raises(FetchRefused, match="loopback"):
        await web.fetcher().fetch("http://rebind.example.org/")
    assert web.sent == []


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "http://localhost:8080/admin",
                                      "http://[::1]/", "//10.0.0.1/x"])
async def test_a_redirect_to_an_internal_address_is_refused(location: str) -> None:
    web = Web({"example.org": [PUBLIC], "localhost": ["127.0.0.1"]},
              {f"{PUBLIC} example.org/go": httpx.Response(302, headers={"location": location})})
    with pytest.raises(FetchRefused, match="refused"):
        await web.fetcher().fetch("http://example.org/go")
    assert len(web.sent) == 1  # the internal hop was never requested


async def test_redirects_between_public_pages_are_followed_and_bounded() -> None:
    web = Web({"a.example.org": [PUBLIC], "b.example.org": [PUBLIC]},
              {f"{PUBLIC} a.example.org/": httpx.Response(301, headers={"location": "https://b.example.org/final"}),
               f"{PUBLIC} b.example.org/final": httpx.Response(200, text="landed", headers={"content-type": "text/plain"}),
               f"{PUBLIC} a.example.org/loop": httpx.Response(302, headers={"location": "/loop"})})
    page = await web.fetcher().fetch("http://a.example.org/")
    assert (page.url, page.text) == ("https://b.example.org/final", "landed")
    with pytest.raises(FetchRefused, match="redirected more than 5"):
        await web.fetcher().fetch("http://a.example.org/loop")


async def test_the_page_size_is_capped() -> None:
    web = Web({"big.example.org": [PUBLIC]},
              {f"{PUBLIC} big.example.org/": httpx.Response(200, text="x" * 50_000, headers={"content-type": "text/plain"})})
    page = await web.fetcher(max_bytes=1000).fetch("http://big.example.org/")
    assert len(page.text) == 1000 and page.truncated


async def test_a_slow_page_is_cut_off_at_the_time_cap(autojump_clock: trio.testing.MockClock) -> None:
    async def stall(host: str, port: int) -> list[str]:
        await trio.sleep(3600)
        return [PUBLIC]

    fetcher = PageFetcher(max_bytes=1000, timeout=2.0, resolver=stall, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    started = trio.current_time()
    with pytest.raises(FetchRefused, match="longer than 2 s"):
        await fetcher.fetch("http://slow.example.org/")
    assert trio.current_time() - started == pytest.approx(2.0)


async def test_binary_pages_and_errors_are_refused_with_the_reason() -> None:
    web = Web({"example.org": [PUBLIC]},
              {f"{PUBLIC} example.org/x.zip": httpx.Response(200, content=b"PK", headers={"content-type": "application/zip"})})
    with pytest.raises(FetchRefused, match="application/zip"):
        await web.fetcher().fetch("http://example.org/x.zip")
    with pytest.raises(FetchRefused, match="HTTP 404"):
        await web.fetcher().fetch("http://example.org/missing")
    with pytest.raises(FetchRefused, match="could not be resolved"):
        await web.fetcher().fetch("http://unknown.example.org/")


def test_html_text_keeps_blocks_and_drops_scripts() -> None:
    assert html_text("<div>a<style>p{}</style></div><ul><li>one</li><li>two</li></ul>") == "a\none\ntwo"
