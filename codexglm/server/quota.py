"""The Coding Plan's usage windows, fetched in the background and shown to Codex.

Codex displays rate-limit windows it reads from response headers (`/status`, the status
line).  The proxy asks the provider's usage API when it starts and then once per
`REFRESH_SECONDS`, and attaches what it last learnt to each `/v1/responses` answer, so no
request ever waits for it.  A host without the endpoint, or a key it refuses, simply
yields no headers.
"""

from __future__ import annotations

import httpx
import trio

from ..codex.ratelimits import codex_rate_limit_headers
from ..providers.base import QuotaWindow
from ..settings import Settings
from .keys import KeyPool

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
        self.windows: list[QuotaWindow] = []  # as last read, for the usage ledger

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    async def run(self) -> None:
        """Refresh now and then every REFRESH_SECONDS, until cancelled (serve() owns it)."""
        if self._url is None or self._parse is None:
            return
        while True:
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
                    self.windows = self._parse(response.json())
                    self._headers = codex_rate_limit_headers(self.windows)
        except (httpx.HTTPError, ValueError):
            pass  # no quota information is not an error for the request being served
