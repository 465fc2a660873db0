"""Bounded, SSRF-guarded fetching of the pages the model asks Codex's web search to open.

The model picks these URLs, and the fetch runs on the user's machine (or a team server),
so it must never reach what only that machine can: loopback, link-local, private and
cloud-metadata addresses are refused before connecting, after every DNS resolution and on
every redirect hop.  The connection goes to the address that was checked (the Host header
and TLS server name keep the original name), so a DNS answer that changes between check
and connect cannot slip through.  Size and time are capped, URL credentials are dropped,
and no key, cookie or Authorization header is ever sent.

`blocked_reason` is the whole address policy, a pure function; the resolver and the HTTP
transport are injectable so redirects and DNS answers can be tested on loopback.
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx
import trio

from .. import __version__

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata services that are not covered by the link-local check.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IPv6
        "192.0.0.192",  # Oracle Cloud
    )
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: someone's private network
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchRefused(Exception):
    """The page was not fetched, and why (safe to show the model)."""


def blocked_reason(address: IPAddress) -> str | None:
    """Why connecting to ADDRESS is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return blocked_reason(mapped)
    if address in _METADATA or address == ipaddress.ip_address("169.254.169.254"):
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "not a unicast address"
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED):
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Target:
    """A URL the fetcher may try: scheme, host, port and the path with its query."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def netloc(self) -> str:
        """Host and (non-default) port, as the Host header and the URL carry them."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL as shown to the model (never with credentials)."""
        return f"{self.scheme}://{self.netloc}{self.path}"


def parse_target(url: str, base: str | None = None) -> Target:
    """The fetchable target of URL (relative to BASE for redirects); credentials dropped."""
    try:
        parsed = httpx.URL(base).join(url) if base else httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError):
        raise FetchRefused(f"{url!r} is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"only http and https pages can be opened, not {parsed.scheme or 'a bare name'!r}")
    host = parsed.host.rstrip(".").lower()
    if not host:
        raise FetchRefused(f"{url!r} has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    path = parsed.raw_path.decode("ascii", "replace") or "/"
    return Target(parsed.scheme, host, port, path)


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for HOST."""
    infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Page:
    url: str
    content_type: str
    text: str
    truncated: bool


class PageFetcher:
    """Fetches one page at a time under the address policy and the caps."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout: float,
        max_redirects: int = 5,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._max_redirects = max_redirects
        self._resolve = resolver
        # No cookies, no proxies from the environment, no automatic redirects: each hop is checked.
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": f"codexglm/{__version__} (web search)", "Accept": "text/html, text/plain, */*;q=0.5"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> Page:
        """The page at URL as text, or FetchRefused saying why not."""
        target = parse_target(url)
        try:
            with trio.fail_after(self._timeout):
                for _ in range(self._max_redirects + 1):
                    address = await self._checked_address(target)
                    response = await self._open(target, address)
                    try:
                        location = response.headers.get("location")
                        if response.status_code in _REDIRECTS and location:
                            target = parse_target(location, base=target.url)
                            continue
                        return await self._read(target, response)
                    finally:
                        await response.aclose()
        except trio.TooSlowError:
            raise FetchRefused(f"{target.url} took longer than {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchRefused(f"{target.url} could not be fetched ({type(exc).__name__})") from None
        raise FetchRefused(f"{url} redirected more than {self._max_redirects} times")

    async def _checked_address(self, target: Target) -> str:
        """The address to connect to; every address the name resolves to must be allowed."""
        try:
            addresses = [ipaddress.ip_address(target.host)]
        except ValueError:
            try:
                resolved = await self._resolve(target.host, target.port)
            except OSError:
                raise FetchRefused(f"{target.host} could not be resolved") from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        if not addresses:
            raise FetchRefused(f"{target.host} could not be resolved")
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                raise FetchRefused(f"{target.url} is refused: {target.host} is {reason}")
        return str(addresses[0])

    async def _open(self, target: Target, address: str) -> httpx.Response:
        pinned = f"[{address}]" if ":" in address else address
        request = self._client.build_request(
            "GET",
            f"{target.scheme}://{pinned}:{target.port}{target.path}",
            headers={"Host": target.netloc},
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        return await self._client.send(request, stream=True)

    async def _read(self, target: Target, response: httpx.Response) -> Page:
        if response.status_code >= 400:
            raise FetchRefused(f"{target.url} answered HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type and not content_type.startswith(("text/", "application/json", "application/xhtml", "application/xml")):
            raise FetchRefused(f"{target.url} is {content_type}, not a text page")
        body = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self._max_bytes:
                del body[self._max_bytes :]
                truncated = True
                break
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if content_type in ("text/html", "application/xhtml+xml") or (not content_type and "<html" in text[:1000].lower()):
            text = html_text(text)
        return Page(target.url, content_type or "text/plain", text, truncated)


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "section", "article", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_BLANK_RUNS = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def html_text(markup: str) -> str:
    """The readable text of an HTML page: no scripts or styles, one block per line."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n", "\n".join(line for line in lines if line)).strip()
