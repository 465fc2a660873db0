"""POST /v1/alpha/search: Codex's standalone web search, answered with the provider's search.

`search_query` goes to the provider's search API with the user's key (its own host only);
`open` and `find` fetch the page directly through the SSRF-guarded `PageFetcher`, which
never carries a key.  Each command's result or failure is one block of the `output` text
Codex hands the model; only a request that cannot be read is an HTTP error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import trio

from ..codex.origin import RequestOrigin
from ..codex.search import (
    PAGE_CHARS,
    RESULTS,
    Find,
    Open,
    Query,
    SearchCommands,
    find_lines,
    fit_output,
    page_excerpt,
    resolve_ref,
    result_block,
    snippet,
)
from ..ledger.entry import OK, UsageEntry
from ..ledger.writer import Ledger
from ..providers.base import SearchService
from ..settings import Settings
from .fetch import FetchRefused, Page, PageFetcher
from .keys import KeyPool

log = logging.getLogger("codexglm.search")


def billing_note(settings: Settings) -> str:
    """One line saying whether web search is on and what it costs (doctor, errors, README)."""
    service = settings.upstream.search
    vendor = settings.upstream.vendor
    if service is None:
        return f"web search: not available ({vendor} has no search API codexglm can use)"
    cost = "included in your plan" if service.price_per_call is None else f"billed by {vendor} at ${service.price_per_call:g} per search"
    if not settings.web_search:
        return f"web search: off ({cost}; turn it on with `codexglm config set web_search true`)"
    return f"web search: on, {cost}; pages the model opens are fetched directly"


class WebSearch:
    """The proxy's web search service; one per proxy, sharing its upstream client and keys."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        keys: KeyPool,
        redact: Callable[[str], str],
        ledger: Ledger,
        *,
        fetcher: PageFetcher | None = None,
    ) -> None:
        self.settings = settings
        self._ledger = ledger
        self.service: SearchService | None = settings.upstream.search
        self._client = client
        self._keys = keys
        self._redact = redact
        self.fetcher = fetcher or PageFetcher(max_bytes=settings.web_fetch_max_bytes, timeout=settings.web_fetch_timeout)

    @property
    def enabled(self) -> bool:
        return self.settings.search_enabled

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    async def answer(self, commands: SearchCommands, origin: RequestOrigin | None = None) -> dict[str, Any]:
        """The `{output}` document for one web call: every command's block, in order."""
        jobs: list[Awaitable[str]] = [
            *(self._search(commands, query, i, origin) for i, query in enumerate(commands.queries)),
            *(self._open(commands, command, i) for i, command in enumerate(commands.opens)),
            *(self._find(commands, command) for command in commands.finds),
        ]
        blocks: list[str] = [""] * len(jobs)

        async def run(index: int, job: Awaitable[str]) -> None:
            blocks[index] = await job

        async with trio.open_nursery() as nursery:
            for index, job in enumerate(jobs):
                nursery.start_soon(run, index, job)
        if commands.unsupported:
            blocks.append(f"Not available with {self.settings.upstream.vendor}'s search: {', '.join(commands.unsupported)}.")
        if not blocks:
            blocks.append("Nothing to do: the call had no search_query, open or find command.")
        return {"output": fit_output(blocks, commands.max_chars)}

    def _bill(self, started: float, outcome: str, origin: RequestOrigin | None) -> None:
        """One ledger row per query sent: what it costs is the whole point of opting in."""
        assert self.service is not None
        origin = origin or RequestOrigin()
        self._ledger.record(UsageEntry(
            time=time.time(), provider=self.settings.upstream.name, model="web_search", endpoint="search",
            session_id=origin.session_id, thread_id=origin.thread_id, turn_id=origin.turn_id, kind=origin.kind,
            cost_usd=self.service.price_per_call if outcome == OK else 0.0,
            duration_ms=round((trio.current_time() - started) * 1000, 1), outcome=outcome,
            conversation=origin.conversation,
        ))

    async def _search(self, commands: SearchCommands, query: Query, index: int, origin: RequestOrigin | None) -> str:
        assert self.service is not None
        count = RESULTS[commands.length]
        payload = self.service.request(query.q, count, query.domains, query.recency_days)
        key = self._keys.pick()
        started = trio.current_time()
        try:
            with trio.fail_after(self.settings.web_fetch_timeout):
                response = await self._client.post(
                    self.service.url(self.settings), json=payload, headers={"Authorization": f"Bearer {key}"} if key else {}
                )
            document = response.json() if response.status_code < 400 else None
        except (httpx.HTTPError, ValueError, trio.TooSlowError) as exc:
            log.warning("web search failed: %s", type(exc).__name__)
            self._bill(started, "search_failed", origin)
            return f"Search for {query.q!r} failed: {self.settings.upstream.vendor}'s search did not answer."
        self._bill(started, OK if document is not None else f"http_{response.status_code}", origin)
        if document is None:
            detail = self._redact(response.text[:300])
            return f"Search for {query.q!r} failed: {self.settings.upstream.vendor} answered HTTP {response.status_code} ({detail})."
        hits = self.service.parse(document)[:count]
        if not hits:
            return f"Search for {query.q!r}: no results."
        prefix = f"turn{commands.turn}search"
        start = index * count
        rows = [result_block(f"{prefix}{start + n}", h.title, h.url, snippet(h.snippet), h.published)
                for n, h in enumerate(hits)]
        return f"Results for {query.q!r}:\n\n" + "\n\n".join(rows)

    async def _page(self, commands: SearchCommands, ref: str) -> Page | str:
        url = resolve_ref(commands, ref)
        if url is None:
            return f"Cannot open {ref!r}: it is neither a URL nor a result id from an earlier search."
        try:
            return await self.fetcher.fetch(url)
        except FetchRefused as refused:
            return f"Cannot open {ref!r}: {refused}."

    async def _open(self, commands: SearchCommands, command: Open, index: int) -> str:
        page = await self._page(commands, command.ref)
        if isinstance(page, str):
            return page
        note = " (only the beginning of the page was read)" if page.truncated else ""
        body = page_excerpt(page.text, command.lineno, PAGE_CHARS[commands.length]) + note
        return result_block(f"turn{commands.turn}view{index}", _title(page), page.url, body)

    async def _find(self, commands: SearchCommands, command: Find) -> str:
        page = await self._page(commands, command.ref)
        if isinstance(page, str):
            return page
        body = find_lines(page.text, command.pattern, PAGE_CHARS[commands.length])
        return f"Find {command.pattern!r} in {page.url}:\n{body}"


def _title(page: Page) -> str:
    first = page.text.strip().split("\n", 1)[0]
    return first[:120] if first else page.url
