"""Inline `<think>` reasoning split from the answer, however the upstream chunks it."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from codexglm.codex.contract import judge
from codexglm.providers import get_provider
from codexglm.translate import StreamTranslator, build_chat_request
from codexglm.translate.thinktags import REASONING, TEXT, ThinkTagSplitter, wrap
from tests import codex_fixtures as cf

# Text that may contain tag-like pieces but never a whole closing tag.
_thought = st.text(alphabet=st.sampled_from(list("ab <>/think\n")), max_size=40).filter(lambda t: "</think>" not in t)
_answer = st.text(alphabet=st.sampled_from(list("xy <>/think\n")), max_size=40)


def _chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)]) if b > a]


def _split(fragments: list[str]) -> tuple[str, str]:
    splitter = ThinkTagSplitter()
    pieces = [p for fragment in fragments for p in splitter.feed(fragment)] + splitter.close()
    assert all(text for _, text in pieces)  # nothing empty is ever handed on
    return "".join(t for k, t in pieces if k == REASONING), "".join(t for k, t in pieces if k == TEXT)


@given(_thought, _answer, st.lists(st.integers(min_value=0, max_value=100), max_size=12), st.sampled_from(["", " \n", "\n\n"]))
def test_reasoning_and_answer_survive_any_chunking(thought: str, answer: str, cuts: list[int], lead: str) -> None:
    content = f"{lead}<think>{thought}</think>{answer}"
    assert _split(_chunked(content, cuts)) == (thought, answer)


@given(_answer, st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_content_without_a_leading_tag_is_all_answer(answer: str, cuts: list[int]) -> None:
    content = "Note: " + answer  # a tag later in the answer is just text
    assert _split(_chunked(content, cuts)) == ("", content)


def test_unfinished_thinking_and_partial_tags_are_flushed_as_what_they_were() -> None:
    assert _split(["<thi"]) == ("", "<thi")
    assert _split(["<think>still going</th"]) == ("still going</th", "")
    assert _split(["   "]) == ("", "   ")


def test_wrap_is_the_inverse_for_replay() -> None:
    assert _split([wrap("plan", "answer")]) == ("plan", "\n\nanswer")
    assert wrap("", "answer") == "answer"


@given(_thought.filter(lambda t: t.strip()), st.lists(st.integers(min_value=0, max_value=100), max_size=12))
def test_the_stream_shows_inline_thinking_as_reasoning(thought: str, cuts: list[int]) -> None:
    provider = dataclasses.replace(get_provider("glm"), inline_think_tags=True, reasoning_fields=())
    context = build_chat_request(cf.body(), cf.options(provider=provider)).context
    translator = StreamTranslator(context)
    content = f"<think>{thought}</think>\n\nThe answer."
    events = translator.start()
    for piece in _chunked(content, cuts):
        events += translator.feed({"choices": [{"index": 0, "delta": {"content": piece}}]})
    events += translator.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + translator.feed_done()
    verdict = judge(events)
    assert verdict.ok, verdict.problems
    assert verdict.reasoning == thought.lstrip() and verdict.text == "The answer."
