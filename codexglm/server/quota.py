"""The Coding Plan's usage windows, fetched in the background and shown to Codex.

Codex displays rate-limit windows it reads from response headers (`/status`, the status
line).  The proxy asks Z.ai's monitor API at most once per `REFRESH_SECONDS` and attaches
what it last learnt to each `/v1/responses` answer, so no request ever waits for it.  A
host without the endpoint, or a key it refuses, simply yields no headers.
"""

from __future__ import annotations

import httpx
import trio

from ..settings import Settings
from ..translate.quota import codex_rate_limit_headers, parse_quota

REFRESH_SECONDS = 60.0
_TIMEOUT = 5.0


class QuotaMonitor:
    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        self._url = settings.quota_url
        self._client = client
        self._headers: dict[str, str] = {}
        self._next_refresh = float("-inf")
        self._refreshing = False

    def headers(self, key: str | None, nursery: trio.Nursery | None) -> dict[str, str]:
        """The last known headers; starts a refresh in NURSERY when they are stale."""
        now = trio.current_time()
        if key and nursery is not None and not self._refreshing and now >= self._next_refresh:
            self._refreshing = True
            self._next_refresh = now + REFRESH_SECONDS
            nursery.start_soon(self.refresh, key)
        return dict(self._headers)

    async def refresh(self, key: str) -> None:
        try:
            with trio.move_on_after(_TIMEOUT):
                response = await self._client.get(self._url, headers={"Authorization": f"Bearer {key}"}, timeout=_TIMEOUT)
                document = response.json() if response.status_code == 200 else None
                data = document.get("data") if isinstance(document, dict) and document.get("success") is True else None
                if isinstance(data, dict):
                    self._headers = codex_rate_limit_headers(parse_quota(data))
        except (httpx.HTTPError, ValueError):
            pass  # no quota information is not an error for the request being served
        finally:
            self._refreshing = False
