"""The real Codex CLI runs its standalone web search through codexglm's /alpha/search."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import open_mock_glm, search_hit, text_reply, tool_reply

pytestmark = pytest.mark.e2e

# The exec flags turn Codex's web search off; these runs want it on.
LIVE = ("-c", 'web_search="live"')


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _web_tool(request_json: dict) -> dict | None:
    return next((t for t in request_json.get("tools", []) if t["function"]["name"] == "web__run"), None)


async def test_the_model_searches_and_the_answer_cites_the_provider_result(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.search_results = [search_hit("Trio 0.40 released", "https://news.example.org/trio-040", "Trio 0.40 is out.")]
        mock.enqueue(
            tool_reply([("web__run", json.dumps({"search_query": [{"q": "trio latest release", "recency": 7}]}))]),
            text_reply("Trio 0.40 is the latest release (https://news.example.org/trio-040)."),
        )
        run = await sandbox.exec(mock, *LIVE, "What is the latest trio release?", glm_args=("--glm-web-search",))
    assert run.returncode == 0, run.describe()
    # The feature is "under development" in Codex; its warning is not the user's business.
    assert run.items("error") == [], run.items("error")
    # Codex offered its web tool to the model and showed the search as a web_search item.
    assert _web_tool(mock.chat_requests[0].json) is not None
    searches = run.items("web_search")
    assert [s["query"] for s in searches] == ["trio latest release"]
    # The proxy asked the provider's search API, with the recency mapped to its filter.
    [search] = mock.search_requests
    assert search.json["search_query"] == "trio latest release"
    assert search.json["search_recency_filter"] == "oneWeek"
    # The result reached the model as the tool's output, numbered for later open/find calls.
    tool_message = mock.chat_requests[1].json["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "[turn0search0] Trio 0.40 released" in tool_message["content"]
    assert "URL: https://news.example.org/trio-040" in tool_message["content"]
    assert run.messages() == ["Trio 0.40 is the latest release (https://news.example.org/trio-040)."]


async def test_web_search_off_offers_no_web_tool_and_calls_no_search(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("I cannot search the web here."))
        run = await sandbox.exec(mock, *LIVE, "Search the web for trio")
    assert run.returncode == 0, run.describe()
    assert _web_tool(mock.chat_requests[0].json) is None
    assert mock.search_requests == []
