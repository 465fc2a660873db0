"""The doctor's requests to Z.ai: one tiny completion, the model list, the quota windows.

Every request has short explicit timeouts and runs under the caller's cancel scope, so a
dead network costs seconds, not minutes.  Failures come back as values (never raised):
a classified GLM error, a named network failure, or a malformed answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from .. import __version__
from ..discovery import parse_model_ids
from ..providers import GLM, Provider
from ..server.upstream import describe_transport_error, transport_root_cause
from ..settings import Settings
from ..translate import (
    UpstreamError,
    build_chat_request,
    classify_error,
    is_error_document,
)

PROBE_PROMPT = "Reply with one word: ready"
# Enough of an error body for any GLM message; bounded for HTML error pages.
_BODY_CAP = 64 * 1024


def client(timeout: float) -> httpx.AsyncClient:
    """An HTTP client whose every phase (connect, TLS, read) gives up after `timeout`."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": f"codexglm-doctor/{__version__}", "Accept-Language": "en-US,en"},
        follow_redirects=False,
    )


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


# --------------------------------------------------------------------------- failures


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """One request's result: exactly one of error / network / malformed is set on failure."""

    url: str
    latency: float | None = None  # seconds until the response headers
    error: UpstreamError | None = None  # GLM answered with an error
    network: str | None = None  # the host could not be reached (or did not answer in time)
    malformed: str | None = None  # something answered, but not the way Z.ai does
    document: Any = None  # the parsed body on success

    @property
    def ok(self) -> bool:
        return self.error is None and self.network is None and self.malformed is None


async def _request(
    http: httpx.AsyncClient, method: str, url: str, *, timeout: float, **kwargs: Any
) -> tuple[httpx.Response | None, bytes, float | None, str | None]:
    """(response, body, latency, network failure).  The body is read up to a cap."""
    started = trio.current_time()
    with trio.move_on_after(timeout):
        try:
            async with http.stream(method, url, **kwargs) as response:
                latency = trio.current_time() - started
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= _BODY_CAP:
                        break
                return response, bytes(body), latency, None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, b"", None, transport_root_cause(exc) or describe_transport_error(exc)
    return None, b"", None, f"no answer within {timeout:g} s"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _what_answered(response: httpx.Response, body: bytes) -> str:
    kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    size = f"{len(body)} bytes" if body else "an empty body"
    return f"HTTP {response.status_code} with {kind}, {size}"


def probe_body(settings: Settings, model: str) -> dict[str, Any]:
    """The smallest real completion for `model`, built by the same translation as Codex's
    requests (so per-model thinking switches are right): one word in, at most one token out."""
    request = {"model": model, "input": PROBE_PROMPT, "max_output_tokens": 1, "reasoning": {"effort": "none"}}
    return build_chat_request(request, settings.translate_options()).body


async def probe_chat(
    http: httpx.AsyncClient, base: str, key: str, body: dict[str, Any], *, timeout: float, provider: Provider = GLM
) -> Outcome:
    url = base + "/chat/completions"
    response, raw, latency, network = await _request(
        http, "POST", url, timeout=timeout, json=body, headers={"Authorization": f"Bearer {key}"}
    )
    if response is None:
        return Outcome(url, network=network)
    now = datetime.now(timezone.utc)
    document = _json(raw)
    if response.status_code != 200:
        return Outcome(url, latency, error=classify_error(provider, response.status_code, raw, now=now))
    if is_error_document(document):
        return Outcome(url, latency, error=classify_error(provider, 200, document, now=now))
    if not isinstance(document, dict) or not isinstance(document.get("choices"), list):
        return Outcome(url, latency, malformed=_what_answered(response, raw))
    return Outcome(url, latency, document=document)


async def list_models(
    http: httpx.AsyncClient, base: str, key: str, *, timeout: float, provider: Provider = GLM
) -> Outcome:
    """GET {base}/models; on success `document` is the set of model ids (lower case)."""
    url = base + "/models"
    response, raw, latency, network = await _request(
        http, "GET", url, timeout=timeout, headers={"Authorization": f"Bearer {key}"}
    )
    if response is None:
        return Outcome(url, network=network)
    if response.status_code != 200:
        return Outcome(url, latency, error=classify_error(provider, response.status_code, raw))
    document = _json(raw)
    entries = document.get("data") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return Outcome(url, latency, malformed=_what_answered(response, raw))
    return Outcome(url, latency, document=set(parse_model_ids(document)))


async def fetch_quota(http: httpx.AsyncClient, url: str, key: str, *, timeout: float) -> Outcome:
    """The coding plan's usage windows; `document` is the whole answer on success.

    The monitor API answers HTTP 200 even when it refuses the key, with its own
    `{"code", "msg", "success": false}` envelope; that comes back as `malformed`, which
    here reads as what the host did ("refused the request (code 1001)")."""
    response, raw, latency, network = await _request(
        http, "GET", url, timeout=timeout, headers={"Authorization": f"Bearer {key}"}
    )
    if response is None:
        return Outcome(url, network=network)
    document = _json(raw)
    if response.status_code != 200 or not isinstance(document, dict):
        return Outcome(url, latency, malformed=f"answered {_what_answered(response, raw)}")
    data = document.get("data")
    if document.get("success") is not True or not isinstance(data, dict) or not isinstance(data.get("limits"), list):
        refused = document.get("success") is False
        reason = f"refused the request (code {document.get('code')})" if refused else "answered in an unknown shape"
        return Outcome(url, latency, malformed=reason)
    return Outcome(url, latency, document=document)
