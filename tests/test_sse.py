"""SSE decoding of GLM streams and encoding for Codex."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.translate.sse import SSEDecoder, SSEError, encode_sse

# Modelled on a real api.z.ai glm-4.5-flash capture: reasoning deltas, a whole tool call in
# one chunk (index -1) already carrying finish_reason, a finish chunk with usage, [DONE].
_ID = '"id":"2025091420174501de064dedfa4b68","created":1757852265,"model":"glm-4.5-flash"'
ZAI_PAYLOADS = [
    '{' + _ID + ',"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning_content":"\\n"}}]}',
    '{' + _ID + ',"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":" I need"}}]}',
    '{' + _ID + ',"choices":[{"index":0,"finish_reason":"tool_calls","delta":{"tool_calls":[{"id":'
    '"call_4BgN84hpTbmswCBFSC9ggw","index":-1,"type":"function","function":{"name":"add",'
    '"arguments":"{\\"a\\": 365, \\"b\\": 96}"}}]}}]}',
    '{' + _ID + ',"choices":[{"index":0,"finish_reason":"tool_calls","delta":{"role":"assistant",'
    '"content":""}}],"usage":{"prompt_tokens":170,"completion_tokens":72,"total_tokens":242,'
    '"prompt_tokens_details":{"cached_tokens":43}}}',
    "[DONE]",
]
ZAI_STREAM = "".join(f"data: {payload}\n\n" for payload in ZAI_PAYLOADS).encode()

# Chinese content as streamed by glm-4.6 (three-byte UTF-8 characters).
CJK_PAYLOAD = (
    '{"id":"2026021010253871cb1b6ec9e54d6b","created":1770690338,"object":"chat.completion.chunk",'
    '"model":"glm-4.6","choices":[{"index":0,"delta":{"role":"assistant","content":"你好！我是一个大型语言模型"}}]}'
)

# The two merged frames reported against Z.ai (opencode#8282, Kilo#9432): the first frame is
# cut off and the next frame's "data: " continues on the same line.
MERGED_1_TAIL = (
    '{"id":"20260114043917eff1a1dd435a4df0","created":1768336757,"object":"chat.completion.chunk",'
    '"model":"glm-4.7","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Now"}}]}'
)
MERGED_1 = (
    '{"id":"20260114043705b7f7de19603a48fd","created":1768336625,"object":"chat.completion.chunk",'
    '"model":"glm-4.7","choices":[{"index":0,"delta":{"role":"adata: ' + MERGED_1_TAIL
)
MERGED_2_TAIL = (
    '{"id":"2026043020420635c6abc56a2741ac","created":1777552926,"object":"chat.completion.chunk",'
    '"model":"glm-5.1","choices":[{"index":0,"delta":{"role":"assistant","content":"11"}}]}'
)
MERGED_2 = '{"id":"20260430204055297b97348c8e426c","created":1777552855,"object":"chat.cdata: ' + MERGED_2_TAIL


def decode(data: bytes, cuts: list[int] | None = None, **kwargs: int) -> list[str]:
    """Feed `data` split at `cuts` (offsets), then close."""
    decoder = SSEDecoder(**kwargs)
    out: list[str] = []
    start = 0
    for cut in sorted(cuts or []) + [len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    return out + decoder.close()


def test_real_zai_stream() -> None:
    assert decode(ZAI_STREAM) == ZAI_PAYLOADS
    for payload in decode(ZAI_STREAM)[:-1]:
        json.loads(payload)


def test_feed_returns_events_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\n') == []
    assert decoder.feed(b"\n") == ['{"a":1}']
    assert decoder.feed(b"data: [DONE]\n\n") == ["[DONE]"]
    assert decoder.close() == []


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings(newline: bytes) -> None:
    data = ZAI_STREAM.replace(b"\n", newline)
    assert decode(data) == ZAI_PAYLOADS
    assert decode(data, list(range(1, len(data)))) == ZAI_PAYLOADS


def test_crlf_split_between_feeds_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\r') == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == ['{"a":1}']
    assert decoder.feed(b"\ndata: 2\r\n\r\n") == ["2"]


def test_trailing_cr_completes_the_event_without_waiting() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\r") == ["x"]
    # An empty feed must not forget the pending CRLF half.
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: y\n\n") == ["y"]


def test_multiline_data_is_joined_with_newlines() -> None:
    assert decode(b"data: first\ndata: second\ndata:\n\n") == ["first\nsecond\n"]


def test_only_one_leading_space_is_stripped_and_space_is_optional() -> None:
    assert decode(b"data:  two spaces\n\ndata:nospace\n\ndata\n\n") == [" two spaces", "nospace", ""]


def test_comments_and_other_fields_are_ignored() -> None:
    data = (
        b": ping\n"
        b"event: message\n"
        b"id: 42\n"
        b"retry: 3000\n"
        b"foo: bar\n"
        b'data: {"a":1}\n'
        b"\n"
        b"event: only-an-event\n"
        b"\n"
        b":\n\n"
    )
    assert decode(data) == ['{"a":1}']


def test_anthropic_style_stream_with_event_lines() -> None:
    data = (
        b"event: message_start\n"
        b'data: {"type":"message_start","message":{"id":"msg_8dea3300abc14869bdccc73e"}}\n\n'
        b"event: ping\n"
        b'data: {"type":"ping"}\n\n'
    )
    assert [json.loads(p)["type"] for p in decode(data)] == ["message_start", "ping"]


def test_blank_lines_without_data_emit_nothing() -> None:
    assert decode(b"\n\n\r\n\r\r") == []


def test_bom_is_stripped_only_at_stream_start() -> None:
    bom = b"\xef\xbb\xbf"
    assert decode(bom + b"data: x\n\n") == ["x"]
    assert decode(bom + b"data: x\n\n", [1, 2]) == ["x"]
    # A BOM later in the stream is data (decoded as U+FEFF), and it hides the field name.
    assert decode(b"data: a\n\n" + bom + b"data: b\n\ndata: " + bom + b"c\n\n") == ["a", "\ufeffc"]


def test_utf8_split_inside_characters() -> None:
    data = f"data: {CJK_PAYLOAD}\n\n".encode()
    assert decode(data, list(range(len(data)))) == [CJK_PAYLOAD]


def test_invalid_utf8_is_replaced() -> None:
    assert decode(b"data: ok\xff\xfe\n\ndata: cut\xe4\xbd") == ["ok\ufffd\ufffd", "cut\ufffd"]


def test_close_flushes_event_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\ndata: {"b"') == []
    assert decoder.close() == ['{"a":1}\n{"b"']
    assert SSEDecoder().close() == []


@pytest.mark.parametrize(("merged", "tail"), [(MERGED_1, MERGED_1_TAIL), (MERGED_2, MERGED_2_TAIL)])
def test_zai_merged_frames_drop_the_truncated_part(merged: str, tail: str) -> None:
    data = f"data: {ZAI_PAYLOADS[0]}\n\ndata: {merged}\n\ndata: [DONE]\n\n".encode()
    assert decode(data) == [ZAI_PAYLOADS[0], tail, "[DONE]"]
    assert decode(data, list(range(0, len(data), 7))) == [ZAI_PAYLOADS[0], tail, "[DONE]"]


def test_valid_payload_mentioning_data_colon_is_not_split() -> None:
    payload = '{"choices":[{"delta":{"content":"print(\\"data: {x}\\")"}}]}'
    assert decode(f"data: {payload}\n\n".encode()) == [payload]


def test_two_complete_frames_glued_are_both_kept() -> None:
    assert decode(b'data: {"a":1}data: {"b":2}\n\n') == ['{"a":1}', '{"b":2}']


def test_repeated_merges_and_done_tail() -> None:
    line = '{"id":"1","ch' + "data: " + '{"id":"2","choices":[{"delta":{"content":"da' + "data: [DONE]"
    assert decode(f"data: {line}\n\n".encode()) == ["[DONE]"]


def test_truncated_part_that_itself_mentions_data_colon() -> None:
    line = '{"content":"see data: x","obj' + "data: " + '{"ok":true}'
    assert decode(f"data: {line}\n\n".encode()) == ['{"ok":true}']


def test_unparseable_line_without_a_valid_tail_is_passed_on() -> None:
    # The decoder repairs framing only; what remains invalid is for the consumer to skip.
    assert decode(b"data: {broken data: also broken\n\n") == ["also broken"]
    assert decode(b"data: {broken\n\n") == ["{broken"]


def test_merge_repair_applies_to_the_first_data_line_only() -> None:
    assert decode(b"data: {\ndata: trunc data: x\n\n") == ["{\ntrunc data: x"]


def test_event_size_limit_on_an_unterminated_line() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    decoder.feed(b"data: " + b"x" * 80)
    with pytest.raises(SSEError):
        decoder.feed(b"x" * 30)


def test_event_size_limit_across_data_lines() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(SSEError):
        decoder.feed(b"data: " + b"x" * 60 + b"\n" + b"data: " + b"y" * 60 + b"\n")


def test_event_size_limit_counts_bytes_not_characters() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(SSEError):
        decoder.feed(("data: " + "你" * 40 + "\n").encode())  # 40 characters, 120 bytes


def test_size_limit_applies_per_event() -> None:
    frame = b"data: " + b"x" * 60 + b"\n\n"
    assert decode(frame * 50, max_event_bytes=100) == ["x" * 60] * 50
    assert decode(frame * 50, list(range(0, 50 * len(frame), 13)), max_event_bytes=100) == ["x" * 60] * 50


def test_encode_sse_exact_bytes() -> None:
    event = {"type": "response.output_text.delta", "sequence_number": 3, "delta": "olá 你好"}
    assert encode_sse(event) == (
        'event: response.output_text.delta\n'
        'data: {"type":"response.output_text.delta","sequence_number":3,"delta":"olá 你好"}\n\n'
    ).encode()


def test_encode_sse_escapes_newlines_inside_data() -> None:
    event = {"type": "response.output_text.delta", "delta": "line1\nline2\r\n\u2028"}
    frame = encode_sse(event)
    assert frame.count(b"\n") == 3
    assert [json.loads(p) for p in decode(frame)] == [event]


# --- properties -----------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12
).filter(lambda s: "data: " not in s)
_event = st.lists(_text, min_size=1, max_size=3)
_noise = st.sampled_from([b"", b": keep-alive\n", b"event: completion\n", b"id: 7\n", b"retry: 10\n"])


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    newline = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    events = draw(st.lists(_event, max_size=6))
    data = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    for lines in events:
        data += draw(_noise).replace(b"\n", newline)
        for line in lines:
            data += b"data: " + line.encode() + newline
        data += newline
    return data, ["\n".join(lines) for lines in events]


@settings(max_examples=300)
@given(_streams(), st.lists(st.integers(min_value=0, max_value=400), max_size=30))
def test_any_rechunking_yields_the_same_payloads(stream: tuple[bytes, list[str]], cuts: list[int]) -> None:
    data, expected = stream
    cuts = [cut for cut in cuts if cut <= len(data)]
    assert decode(data) == expected
    assert decode(data, cuts) == expected
    assert decode(data, list(range(len(data)))) == expected


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=20))
def test_arbitrary_bytes_never_depend_on_chunking(data: bytes, cuts: list[int]) -> None:
    cuts = [cut for cut in cuts if cut <= len(data)]
    assert decode(data, cuts) == decode(data)
