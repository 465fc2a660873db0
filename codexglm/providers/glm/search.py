"""Z.ai's web search API (`POST /api/paas/v4/web_search`, billed per call) as data.

Request: `search_query` (at most 70 characters), `search_engine`, `count` (1-50),
`search_domain_filter` (one domain), `search_recency_filter` (oneDay ... noLimit).
Answer: `search_result: [{title, content, link, media, icon, refer, publish_date}]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import EndpointSettings, SearchHit, SearchService
from .endpoints import general_url

SEARCH_PATH = "/web_search"
SEARCH_ENGINE = "search_std"
MAX_QUERY_CHARS = 70
# USD per query on the pay-as-you-go price list.
PRICE_PER_CALL = 0.01
# Codex asks for recency in days; Z.ai takes named windows, so round up to the next one.
_RECENCY = ((1, "oneDay"), (7, "oneWeek"), (31, "oneMonth"), (366, "oneYear"))


def search_url(settings: EndpointSettings) -> str:
    return general_url(settings) + SEARCH_PATH


def recency_filter(days: int | None) -> str:
    if days is None:
        return "noLimit"
    for limit, name in _RECENCY:
        if days <= limit:
            return name
    return "noLimit"


def search_request(query: str, count: int, domains: Sequence[str], recency_days: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "search_query": query[:MAX_QUERY_CHARS],
        "search_engine": SEARCH_ENGINE,
        "count": max(1, min(50, count)),
        "search_recency_filter": recency_filter(recency_days),
    }
    if domains:
        body["search_domain_filter"] = domains[0]  # the API filters on one domain
    return body


def parse_search(document: Any) -> list[SearchHit]:
    rows = document.get("search_result") if isinstance(document, dict) else None
    hits = []
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict) or not isinstance(row.get("link"), str):
            continue
        published = row.get("publish_date")
        hits.append(
            SearchHit(
                title=str(row.get("title") or row["link"]),
                url=row["link"],
                snippet=str(row.get("content") or ""),
                published=published if isinstance(published, str) and published else None,
            )
        )
    return hits


WEB_SEARCH = SearchService(
    url=search_url,
    request=search_request,
    parse=parse_search,
    price_per_call=PRICE_PER_CALL,
)
