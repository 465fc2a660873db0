"""The translation core: Responses API <-> Chat Completions, pure and I/O-free.

Nothing in this package imports trio, httpx, quart or hypercorn, or touches the network or
the file system: plain data in, plain data out.  It is provider-neutral: everything a
provider does differently comes from the `Provider` it is handed.
"""

from .errors import (
    RequestError,
    UpstreamError,
    classify_error,
    error_body,
    is_error_document,
    transport_error,
)
from .names import ToolNames, flat_name
from .options import ChatRequest, TranslateOptions, TurnContext
from .request import build_chat_request
from .response import translate_completion
from .sse import SSEDecoder, encode_sse
from .stream import StreamTranslator

__all__ = [
    "ChatRequest",
    "RequestError",
    "SSEDecoder",
    "StreamTranslator",
    "ToolNames",
    "TranslateOptions",
    "TurnContext",
    "UpstreamError",
    "build_chat_request",
    "classify_error",
    "encode_sse",
    "error_body",
    "flat_name",
    "is_error_document",
    "transport_error",
    "translate_completion",
]
