"""Web search: Codex's /alpha/search protocol, Z.ai's search data, billing, and the proxy route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codexglm.codex.overrides import codex_config_toml, codex_overrides
from codexglm.codex.search import (
    SearchRequestError,
    earlier_refs,
    find_lines,
    fit_output,
    page_excerpt,
    parse_search_request,
    resolve_ref,
    result_block,
    snippet,
)
from codexglm.ledger.entry import Totals
from codexglm.providers.glm.search import parse_search, recency_filter, search_request
from codexglm.server import create_app
from codexglm.server.search import billing_note
from codexglm.settings import Settings
from tests.server_support import AUTH, GENERAL, KEY, TOKEN, Script, http_response, make_settings
from tests.test_fetch import PUBLIC, Web

_HITS = {"search_result": [
    {"title": "First", "link": "https://one.example.org/", "content": "one", "publish_date": "2026-11-01"},
    {"title": "Second", "link": "https://two.example.org/", "content": "two"},
]}


def _web_call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "namespace": "web", "name": "run", "call_id": call_id, "arguments": "{}"}


def _output(call_id: str, text: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": [{"type": "input_text", "text": text}]}


# --------------------------------------------------------------------------- the protocol


def test_commands_are_read_as_codex_sends_them() -> None:
    body = {"id": "t", "model": "glm-5.1", "commands": {
        "search_query": [{"q": "trio", "recency": 3, "domains": ["docs.example.org"]}, {"q": "  "}],
        "open": [{"ref_id": "https://example.org", "lineno": 40}], "find": [{"ref_id": "turn0search1", "pattern": "x"}],
        "weather": [{"location": "Paris"}], "response_length": "short"}, "settings": {"external_web_access": True}}
    commands = parse_search_request(body)
    assert [(q.q, q.recency_days, q.domains) for q in commands.queries] == [("trio", 3, ("docs.example.org",))]
    assert [(o.ref, o.lineno) for o in commands.opens] == [("https://example.org", 40)]
    assert [(f.ref, f.pattern) for f in commands.finds] == [("turn0search1", "x")]
    assert commands.unsupported == ("weather",) and commands.length == "short"


@pytest.mark.parametrize(("commands", "param"), [
    ([], "commands"),
    ({"search_query": {"q": "x"}}, "commands.search_query"),
    ({"search_query": [{"q": 3}]}, "commands.search_query[0].q"),
    ({"search_query": [{"q": "x", "recency": -1}]}, "commands.search_query[0].recency"),
    ({"search_query": [{"q": "x", "domains": "a.org"}]}, "commands.search_query[0].domains"),
    ({"open": [{"lineno": 3}]}, "commands.open[0].ref_id"),
    ({"find": [{"ref_id": "x"}]}, "commands.find[0].pattern"),
    ({"response_length": "huge"}, "commands.response_length"),
    ({"search_query": [{"q": str(i)} for i in range(9)]}, "commands.search_query"),
])
def test_bad_commands_name_the_field(commands: Any, param: str) -> None:
    with pytest.raises(SearchRequestError) as caught:
        parse_search_request({"commands": commands})
    assert caught.value.param == param


def test_result_ids_of_earlier_calls_are_found_in_the_history() -> None:
    first = "\n\n".join([result_block("turn0search0", "A", "https://a.example.org/", "x"),
                         result_block("turn0search1", "B", "https://b.example.org/", "y")])
    history = [_web_call("c1"), _output("c1", first), _web_call("c2"),
               _output("c2", result_block("turn1view0", "C", "https://c.example.org/", "z"))]
    commands = parse_search_request({"input": history, "commands": {}})
    assert commands.turn == 2
    assert resolve_ref(commands, "turn0search1") == "https://b.example.org/"
    assert resolve_ref(commands, "turn1view0") == "https://c.example.org/"
    assert resolve_ref(commands, "https://d.example.org/") == "https://d.example.org/"
    assert resolve_ref(commands, "turn9search9") is None


def test_page_excerpts_are_numbered_and_capped() -> None:
    text = "\n".join(f"line {n}" for n in range(1, 101))
    excerpt = page_excerpt(text, 10, 60)
    assert excerpt.startswith("L10: line 10\nL11: line 11")
    assert excerpt.endswith("open it with lineno 14)") and len(excerpt) < 120


def test_output_fits_codex_max_output_tokens_and_snippets_are_short() -> None:
    commands = parse_search_request({"max_output_tokens": 30, "commands": {}})
    assert commands.max_chars == 120
    cut = fit_output(["a" * 100, "b" * 100], commands.max_chars)
    assert len(cut) <= 120 and cut.startswith("a" * 70) and cut.endswith("(output cut to fit the tool's length limit)")
    assert fit_output(["a", "b"], None) == "a\n\nb"
    assert len(snippet("x " * 1000)) <= 602
    with pytest.raises(SearchRequestError):
        parse_search_request({"max_output_tokens": "many"})


def test_find_shows_matches_with_context() -> None:
    text = "alpha\nbeta\nGamma ray\ndelta\nepsilon"
    assert find_lines(text, "gamma", 1000) == "L2: beta\nL3: Gamma ray\nL4: delta"
    assert find_lines(text, "omega", 1000) == "No match for 'omega' on this page."


# --------------------------------------------------------------------------- Z.ai's search API


def test_zai_search_request_fits_the_api_limits() -> None:
    body = search_request("q" * 100, 99, ["docs.example.org", "other.org"], 3)
    assert body == {"search_query": "q" * 70, "search_engine": "search_std", "count": 50,
                    "search_recency_filter": "oneWeek", "search_domain_filter": "docs.example.org"}
    assert [recency_filter(d) for d in (None, 1, 2, 30, 365, 1000)] == [
        "noLimit", "oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit"]


def test_zai_search_results_skip_rows_without_a_link() -> None:
    hits = parse_search({"search_result": [{"title": "x"}, "junk", *_HITS["search_result"]]})
    assert [(h.title, h.url, h.published) for h in hits] == [
        ("First", "https://one.example.org/", "2026-11-01"), ("Second", "https://two.example.org/", None)]
    assert parse_search({"error": {}}) == [] and parse_search(None) == []


# --------------------------------------------------------------------------- billing


def test_per_call_search_is_off_by_default_and_says_what_it_costs() -> None:
    assert Settings().web_search is False
    assert billing_note(Settings()) == (
        "web search: off (billed by Z.ai at $0.01 per search; turn it on with `codexglm config set web_search true`)")
    assert billing_note(Settings(web_search=True)).startswith("web search: on, billed by Z.ai at $0.01 per search")


def test_codex_gets_the_standalone_search_only_when_web_search_is_on() -> None:
    off = " ".join(codex_overrides(4000, Settings(), catalog=None, model=None))
    on = " ".join(codex_overrides(4000, Settings(web_search=True), catalog=None, model=None))
    assert "standalone" not in off
    assert "supports_standalone_web_search=true" in on and "features.standalone_web_search=true" in on
    # `serve --print-codex-config` hands a hand-set-up Codex the same switches.
    printed = codex_config_toml("http://127.0.0.1:8787/v1", Settings(web_search=True), catalog=None, model=None)
    assert "features.standalone_web_search = true" in printed and "supports_standalone_web_search = true" in printed
    assert "standalone" not in codex_config_toml("http://127.0.0.1:8787/v1", Settings(), catalog=None, model=None)
    # A provider without a search API gets no web tool from Codex, opted in or not.
    assert Settings(web_search=True).replace(provider="deepseek").search_enabled is False


# --------------------------------------------------------------------------- the proxy route


async def _search(settings: Settings, script: Script, body: Any, web: Web | None = None,
                  totals: list[Totals] | None = None) -> tuple[int, dict[str, Any]]:
    app = create_app(settings, TOKEN, transport=script.transport)
    if web is not None:
        app.proxy.search.fetcher = web.fetcher()
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/alpha/search", json=body, headers=AUTH)
        if totals is not None:
            totals.append(app.proxy.ledger.tally.totals)
        return response.status_code, json.loads(await response.get_data())


async def test_search_off_is_a_clear_403_and_nothing_is_billed(tmp_path: Path) -> None:
    script = Script()
    status, body = await _search(make_settings(tmp_path), script, {"commands": {"search_query": [{"q": "x"}]}})
    assert status == 403
    assert body["error"]["code"] == "web_search_disabled"
    assert "codexglm config set web_search true" in body["error"]["message"]
    assert script.requests == []


async def test_a_bad_search_request_is_a_400_naming_the_field(tmp_path: Path) -> None:
    status, body = await _search(make_settings(tmp_path, web_search=True), Script(), {"commands": {"open": [{}]}})
    assert status == 400 and body["error"]["param"] == "commands.open[0].ref_id"


async def test_search_query_goes_to_the_provider_with_the_key(tmp_path: Path) -> None:
    script = Script(http_response(200, _HITS))
    totals: list[Totals] = []
    status, body = await _search(make_settings(tmp_path, web_search=True), script,
                                 {"input": [_web_call("a"), _output("a", "earlier")],
                                  "commands": {"search_query": [{"q": "trio"}], "time": [{"utc_offset": "+01:00"}]}},
                                 totals=totals)
    assert status == 200
    # Each query is a ledger row with its price, so `codexglm usage` and the exit line show it.
    [total] = totals
    assert (total.requests, total.cost_usd, total.failed) == (1, 0.01, 0)
    assert script.urls == [GENERAL + "/web_search"] and script.keys == [KEY]
    assert script.body()["search_query"] == "trio"
    output = body["output"]
    assert "[turn1search0] First\nURL: https://one.example.org/\nPublished: 2026-11-01\none" in output
    assert "[turn1search1] Second" in output
    assert output.endswith("Not available with Z.ai's search: time.")


async def test_a_failing_search_api_is_reported_in_the_output_without_the_key(tmp_path: Path) -> None:
    script = Script(http_response(401, {"error": {"code": "1002", "message": f"bad token {KEY}"}}))
    status, body = await _search(make_settings(tmp_path, web_search=True), script,
                                 {"commands": {"search_query": [{"q": "trio"}]}})
    assert status == 200
    assert "Search for 'trio' failed: Z.ai answered HTTP 401" in body["output"]
    assert KEY not in body["output"]


async def test_open_and_find_fetch_pages_directly_and_never_send_the_key(tmp_path: Path) -> None:
    page = httpx.Response(200, text="Intro\nThe answer is 42.\nOutro", headers={"content-type": "text/plain"})
    web = Web({"b.example.org": [PUBLIC]}, {f"{PUBLIC} b.example.org/": page})
    history = [_web_call("a"), _output("a", result_block("turn0search0", "B", "https://b.example.org/", "b"))]
    status, body = await _search(make_settings(tmp_path, web_search=True), Script(), {"input": history, "commands": {
        "open": [{"ref_id": "turn0search0"}], "find": [{"ref_id": "https://b.example.org/", "pattern": "answer"}]}}, web)
    assert status == 200
    assert "[turn1view0] Intro\nURL: https://b.example.org/\nL1: Intro\nL2: The answer is 42." in body["output"]
    assert "Find 'answer' in https://b.example.org/:\nL1: Intro\nL2: The answer is 42.\nL3: Outro" in body["output"]
    assert web.sent and all(KEY not in json.dumps(dict(r.headers)) for r in web.sent)
    assert all("authorization" not in r.headers for r in web.sent)


async def test_opening_an_internal_address_is_refused_in_the_output(tmp_path: Path) -> None:
    web = Web({}, {})
    status, body = await _search(make_settings(tmp_path, web_search=True), Script(),
                                 {"commands": {"open": [{"ref_id": "http://169.254.169.254/latest/meta-data/"}]}}, web)
    assert status == 200
    assert "is refused: 169.254.169.254 is a cloud metadata address" in body["output"]
    assert web.sent == []


@given(st.lists(st.tuples(st.text(max_size=40), st.from_regex(r"https://[a-z]{1,10}\.example\.org/[a-z0-9/]{0,20}",
                                                              fullmatch=True), st.text(max_size=80)), max_size=6))
def test_any_numbered_results_are_found_again_by_their_ids(rows: list[tuple[str, str, str]]) -> None:
    text = "\n\n".join(result_block(f"turn0search{i}", title, url, body) for i, (title, url, body) in enumerate(rows))
    refs = earlier_refs([_output("c", text)])
    for i, (_, url, _) in enumerate(rows):
        assert refs.get(f"turn0search{i}") == url
