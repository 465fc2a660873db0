"""The Coding Plan's usage windows, fetched in the background and shown to Codex.

Codex displays rate-limit windows it reads from response headers (`/status`, the status
line).  The proxy asks the provider's usage API when it starts and then once per
`REFRESH_SECONDS`, and attaches what it last learnt to each `/v1/responses` answer, so no
request ever waits for it.  A host without the endpoint, or a key it refuses, simply
yields no headers.  The workers of one `serve --workers N` share the windows (`share`):
one of them asks per period, for the whole server, and all of them answer with the result.
"""

from __future__ import annotations

import httpx
import trio

from ..codex.ratelimits import codex_rate_limit_headers
from ..providers.base import QuotaWindow
from ..settings import Settings
from .keys import KeyPool
from .shared import SharedState

REFRESH_SECONDS = 60.0
_TIMEOUT = 5.0


class QuotaMonitor:
    """The provider's last known usage windows as Codex headers, refreshed by `run()`."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient, keys: KeyPool) -> None:
        provider = settings.upstream
        self._url = settings.quota_url
        self._parse = provider.parse_quota
        self._client = client
        self._keys = keys
        self._headers: dict[str, str] = {}
        self._windows: list[QuotaWindow] = []
        self._shared: SharedState | None = None
        self._generation = 0  # of the shared windows last adopted

    def share(self, shared: SharedState) -> None:
        """Poll only when no other worker did this period, and adopt what any of them read."""
        self._shared = shared

    @property
    def windows(self) -> list[QuotaWindow]:
        """The windows as last read (by any worker, when shared), for the usage ledger."""
        self._adopt()
        return self._windows

    def headers(self) -> dict[str, str]:
        self._adopt()
        return dict(self._headers)

    def _adopt(self) -> None:
        if self._shared is None:
            return
        generation, windows = self._shared.windows()
        if generation != self._generation:
            self._generation = generation
            self._set(windows)

    def _set(self, windows: list[QuotaWindow]) -> None:
        self._windows = windows
        self._headers = codex_rate_limit_headers(windows)

    async def run(self) -> None:
        """Refresh now and then every REFRESH_SECONDS, until cancelled (serve() owns it)."""
        if self._url is None or self._parse is None:
            return
        while True:
            wait = self._shared.claim_poll(REFRESH_SECONDS) if self._shared is not None else 0.0
            if wait:
                await trio.sleep(wait)  # another worker polled this period
                continue
            key = self._keys.pick()
            if key:
                await self.refresh(key)
            await trio.sleep(REFRESH_SECONDS)

    async def refresh(self, key: str) -> None:
        assert self._url is not None and self._parse is not None
        try:
            with trio.move_on_after(_TIMEOUT):
                response = await self._client.get(self._url, headers={"Authorization": f"Bearer {key}"}, timeout=_TIMEOUT)
                if response.status_code == 200:
                    self._set(self._parse(response.json()))
                    if self._shared is not None:
                        self._shared.publish_windows(self._windows)
        except (httpx.HTTPError, ValueError):
            pass  # no quota information is not an error for the request being served
