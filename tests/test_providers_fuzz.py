"""Any Codex-shaped request, translated for each provider, is one its strict mock accepts.

The bodies are the reliability fuzz suite's (any mix of Codex's input items, tools and
fields); the upstream is each provider's personality, which refuses what that provider
refuses (DeepSeek: a tool-call turn without `reasoning_content`; MiniMax: tool arguments
that are not JSON; Qwen: thinking in a non-streaming call; ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from codexglm.providers import get_provider
from codexglm.server import create_app
from tests.mockproviders import PERSONALITIES, PROVIDER_KEY, open_mock_provider
from tests.server_support import AUTH, TOKEN, make_settings
from tests.test_reliability_fuzz import (
    Exchange,
    _ask,
    _codex_bodies,
    _encode,
    _fuzz,
    _no_internal_errors,
    _outcome,
    _strict_json,
)


async def _via(root: Path, name: str, body: bytes) -> Exchange:
    async with open_mock_provider(name) as mock:
        settings = make_settings(root, provider=name, api_keys=(PROVIDER_KEY,), base_url=mock.base_url,
                                 default_model=get_provider(name).default_model)
        status, kind, data = await _ask(create_app(settings, TOKEN), "POST", "/v1/responses", body,
                                        {**AUTH, "Content-Type": "application/json"})
        return Exchange(status, kind, data, [r.body for r in mock.chat_requests])


def _for(name: str) -> Any:
    """The fuzz bodies, asking for the provider's models or OpenAI slugs (never an unknown id)."""
    models = st.sampled_from([spec.id for spec in get_provider(name).models.values()] + ["gpt-5.5", "o3"])
    return st.tuples(_codex_bodies, models).map(lambda pair: {**pair[0], "model": pair[1]})


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("providers-fuzz")


@pytest.mark.parametrize("name", list(PERSONALITIES))
def test_any_codex_shaped_body_is_accepted_by_each_strict_provider(root: Path, name: str) -> None:
    @_fuzz(40)
    @given(body=_for(name))
    def check(body: dict[str, Any]) -> None:
        with _no_internal_errors():
            exchange = trio.run(_via, root, name, _encode(body))
        assert _outcome(exchange) == "completed", exchange.data[-2000:]
        [sent] = exchange.upstream
        assert _strict_json(sent)["stream"] is body["stream"]

    check()
