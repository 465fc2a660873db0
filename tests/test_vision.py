"""Images for text-only models: the pure rewrite, the notices, and the describing proxy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio.testing import MockClock

from codexglm.doctor.local import features_check
from codexglm.server import create_app
from codexglm.server.reqlog import log_path
from codexglm.settings import Settings
from codexglm.translate.images import (
    description_notice,
    image_key,
    image_urls,
    notice_events,
    omitted_notice,
    with_descriptions,
)
from tests.server_support import AUTH, TOKEN, Script, glm_stream, http_response, make_settings, sse_events, sse_response

RED = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
BLUE = "data:image/png;base64,QkxVRQ=="


def _image(url: str) -> dict[str, Any]:
    return {"type": "input_image", "image_url": url}


def _user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": list(parts)}


def _body(*items: dict[str, Any], model: str = "glm-5.1") -> dict[str, Any]:
    return {"model": model, "stream": True, "input": list(items), "tools": []}


_CALL = {"type": "function_call", "name": "view_image", "call_id": "c1", "arguments": "{}"}
_TOOL_IMAGE = {"type": "function_call_output", "call_id": "c1", "output": [_image(BLUE)]}


# --------------------------------------------------------------------------- the pure rewrite


def test_images_are_found_in_messages_and_tool_outputs_and_new_ones_told_apart() -> None:
    body = _body(_user(_image(RED), {"type": "input_text", "text": "look"}), _CALL, _TOOL_IMAGE, _user(_image(RED)))
    assert image_urls(body) == [RED, BLUE]
    # After the model's last output only the tool's image is new.
    assert image_urls(body, new_only=True) == [BLUE, RED]
    assert image_urls(_body(_user(_image(RED)), {"type": "message", "role": "assistant", "content": []}),
                      new_only=True) == []


def test_described_images_become_marked_text_and_the_rest_stay() -> None:
    body = _body(_user(_image(RED), _image(BLUE)), _CALL, _TOOL_IMAGE)
    rewritten = with_descriptions(body, {BLUE: "blue square"}, "glm-4.6v", "glm-5.1")
    user, call, output = rewritten["input"]
    assert user["content"][0] == _image(RED)
    assert user["content"][1]["type"] == "input_text"
    assert user["content"][1]["text"].startswith("[Image description by glm-4.6v (glm-5.1 cannot see images")
    assert user["content"][1]["text"].endswith("\nblue square")
    assert output["output"][0]["text"].endswith("blue square") and call == _CALL
    assert body["input"][0]["content"][1] == _image(BLUE)  # the original is untouched


@given(st.lists(st.sampled_from([RED, BLUE, "text"]), max_size=12), st.sets(st.sampled_from([RED, BLUE])))
def test_every_described_image_and_only_those_is_replaced(parts: list[str], described: set[str]) -> None:
    content = [_image(p) if p != "text" else {"type": "input_text", "text": "t"} for p in parts]
    rewritten = with_descriptions(_body(_user(*content)), {u: f"about {u[-6:]}" for u in described},
                                  "v", "m")
    left = image_urls(rewritten)
    assert set(left) == {p for p in parts if p != "text"} - described
    assert len(rewritten["input"][0]["content"]) == len(parts)


def test_the_cache_key_is_the_image_hash() -> None:
    assert image_key(RED) == image_key(str(RED)) != image_key(BLUE)
    assert len(image_key(RED)) == 64


def test_notices_are_one_line_and_say_what_happened() -> None:
    assert description_notice(1, 0, "glm-4.6v", "glm-5.1") == "ⓘ glm-4.6v described 1 image for glm-5.1, which cannot see images."
    assert description_notice(2, 1, "v", "m").endswith("1 image could not be described and was left out.")
    assert omitted_notice(3, "glm-5.1", "fix it") == "ⓘ glm-5.1 cannot see images: 3 images left out (fix it)."


def test_the_notice_is_a_complete_message_at_index_zero() -> None:
    events = notice_events("hello")
    assert [e["type"] for e in events][0] == "response.output_item.added"
    assert events[-1]["type"] == "response.output_item.done" and events[-1]["output_index"] == 0
    assert events[-1]["item"]["content"][0]["text"] == "hello"


# --------------------------------------------------------------------------- the proxy


def _vision_reply(text: str) -> httpx.Response:
    body = {"id": "x", "created": 1, "model": "glm-4.6v", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 12, "total_tokens": 912}}
    return http_response(200, body)


async def _responses(settings: Settings, script: Script, *bodies: dict[str, Any]) -> list[list[dict[str, Any]]]:
    app = create_app(settings, TOKEN, transport=script.transport)
    answers = []
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for body in bodies:
            response = await client.post("/v1/responses", json=body, headers=AUTH)
            answers.append(sse_events(await response.get_data()))
    return answers


def _messages(events: list[dict[str, Any]]) -> list[str]:
    return [e["item"]["content"][0]["text"] for e in events
            if e["type"] == "response.output_item.done" and e["item"]["type"] == "message"]


async def test_an_image_is_described_once_and_then_served_from_the_cache(tmp_path: Path) -> None:
    script = Script(_vision_reply("<|begin_of_box|>a red pixel<|end_of_box|>"), sse_response(glm_stream("Red.")),
                    sse_response(glm_stream("Still red.")))
    first = _body(_user(_image(RED), {"type": "input_text", "text": "what is it?"}))
    second = _body(*first["input"], {"type": "message", "role": "assistant", "content": []},
                   _user({"type": "input_text", "text": "sure?"}))
    one, two = await _responses(make_settings(tmp_path), script, first, second)
    vision, main, again = (json.loads(r.content) for r in script.requests)
    assert vision["model"] == "glm-4.6v" and vision["stream"] is False and vision["thinking"] == {"type": "disabled"}
    assert vision["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": RED}}
    assert "a red pixel" in json.dumps(main["messages"]) and "base64" not in json.dumps(main["messages"])
    assert "a red pixel" in json.dumps(again["messages"])  # from the cache: no second vision request
    assert _messages(one) == ["ⓘ glm-4.6v described 1 image for glm-5.1, which cannot see images.", "Red."]
    assert _messages(two) == ["Still red."]  # nothing new to say
    # Output indexes stay distinct: the notice holds 0, the answer starts at 1.
    assert [e["output_index"] for e in one if e["type"] == "response.output_item.done"] == [0, 1]
    rows = [json.loads(line) for line in log_path(make_settings(tmp_path)).read_text().splitlines()]
    assert [r["path"] for r in rows].count("vision") == 1


async def test_a_vision_model_that_hangs_is_cut_off_and_the_image_left_out(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(sse_response([], delay=3600), sse_response(glm_stream("No idea.")))
    started = trio.current_time()
    [events] = await _responses(make_settings(tmp_path, vision_timeout=5.0), script, _body(_user(_image(RED))))
    assert trio.current_time() - started < 60
    notice, answer = _messages(events)
    assert "1 image could not be described and was left out" in notice and answer == "No idea."
    assert "[image omitted: glm-5.1 does not accept images]" in json.dumps(json.loads(script.requests[-1].content))


async def test_an_image_over_the_size_limit_is_not_sent_to_the_vision_model(tmp_path: Path) -> None:
    huge = "data:image/png;base64," + "A" * (7 * 1024 * 1024 + 8)
    script = Script(sse_response(glm_stream("ok")))
    [events] = await _responses(make_settings(tmp_path), script, _body(_user(_image(huge))))
    assert len(script.requests) == 1 and json.loads(script.requests[0].content)["model"] == "glm-5.1"
    assert "could not be described" in _messages(events)[0]


async def test_vision_models_get_their_images_untouched_and_off_means_a_note(tmp_path: Path) -> None:
    script = Script(sse_response(glm_stream("seen")))
    [direct] = await _responses(make_settings(tmp_path), script, _body(_user(_image(RED)), model="glm-4.6v"))
    assert _messages(direct) == ["seen"]
    assert json.loads(script.requests[0].content)["messages"][0]["content"][0]["type"] == "image_url"
    script = Script(sse_response(glm_stream("unseen")))
    [events] = await _responses(make_settings(tmp_path, vision_model="off"), script, _body(_user(_image(RED))))
    assert len(script.requests) == 1
    assert _messages(events)[0].startswith("ⓘ glm-5.1 cannot see images: 1 image left out")


def test_doctor_says_what_web_search_and_descriptions_cost() -> None:
    message = features_check(Settings()).message
    assert message.startswith("web search: off (billed by Z.ai at $0.01 per search")
    assert "described by glm-4.6v, a request per new image ($0.3/$0.9 per M tokens" in message
    assert "image descriptions: off" in features_check(Settings(vision_model="off")).message


async def test_at_most_four_images_are_described_at_once(tmp_path: Path, autojump_clock: MockClock) -> None:
    arrivals: list[float] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["model"] == "glm-4.6v":
            arrivals.append(trio.current_time())
            await trio.sleep(10)
            return _vision_reply("an image")
        return sse_response(glm_stream("six images"))

    app = create_app(make_settings(tmp_path), TOKEN, transport=httpx.MockTransport(upstream))
    images = [_image(f"data:image/png;base64,{n:04d}") for n in range(6)]
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/responses", json=_body(_user(*images)), headers=AUTH)
        events = sse_events(await response.get_data())
    assert _messages(events)[0].startswith("ⓘ glm-4.6v described 6 images")
    start = arrivals[0]
    assert sorted(round(t - start) for t in arrivals) == [0, 0, 0, 0, 10, 10]


def test_an_item_whose_type_is_not_a_string_is_no_model_output() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
    body = {"input": [{"type": ["function_call"]}, {"type": "message", "role": "user", "content": [image]}]}
    assert image_urls(body, new_only=True) == ["data:image/png;base64,AAAA"]
