"""Failures the proxy itself causes, in the same `UpstreamError` shape as the upstream's.

Using one shape means the stream translator turns them into `response.failed` and the
HTTP path into OpenAI error bodies exactly like classified upstream errors.
"""

from __future__ import annotations

from ..config import no_key_message
from ..providers import Provider
from ..translate import UpstreamError

# The kind of an answer cut off at max_answer_bytes.
ANSWER_TOO_LARGE = "too_large"


def _proxy_error(kind: str, message: str, *, codex_code: str, http_status: int, openai_type: str) -> UpstreamError:
    return UpstreamError(
        glm_code=None,
        status=None,
        kind=kind,
        message=message,
        retryable=False,
        rotate_key=False,
        switch_endpoint=False,
        codex_code=codex_code,
        http_status=http_status,
        openai_type=openai_type,
    )


def shutdown_error() -> UpstreamError:
    # server_error: Codex retries it, and by then a new proxy may be listening.
    return _proxy_error(
        "shutdown",
        "The codexglm proxy is shutting down; the response was interrupted.",
        codex_code="server_error",
        http_status=503,
        openai_type="server_error",
    )


def no_key_error(provider: Provider) -> UpstreamError:
    # invalid_prompt: Codex shows the message as is and does not retry a hopeless request.
    message = no_key_message(provider)
    return _proxy_error(
        "auth",
        message[0].upper() + message[1:] + ".",
        codex_code="invalid_prompt",
        http_status=401,
        openai_type="authentication_error",
    )


def internal_error(exc: BaseException) -> UpstreamError:
    return _proxy_error(
        "internal",
        f"codexglm proxy internal error ({type(exc).__name__}); details are in the proxy's server log.",
        codex_code="server_error",
        http_status=500,
        openai_type="server_error",
    )


def answer_too_large_error(provider: Provider, limit: int) -> UpstreamError:
    # invalid_prompt: the same request would only produce the same flood again.
    return _proxy_error(
        ANSWER_TOO_LARGE,
        f"{provider.vendor}'s answer exceeded the proxy's limit of {limit // (1024 * 1024)} MiB and was cut off. "
        "Ask for a shorter answer, or raise max_answer_bytes (`codexglm config set max_answer_bytes N`).",
        codex_code="invalid_prompt",
        http_status=502,
        openai_type="server_error",
    )
