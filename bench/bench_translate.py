"""Speed of the translation core, reported as ratios against baselines measured in the same run.

* Request: translating a ~1 MB Codex request with 1,000 input items, against `json.loads`
  of the same body (the work any proxy must do anyway).
* Stream: per-chunk cost of decoding SSE + translating + encoding events, against
  `json.loads` + `json.dumps` of the same chunk.
* Inline `<think>` splitting (MiniMax without reasoning_split, custom upstreams): the same
  content chunks through a provider with the splitter, against one without.

Run: python bench/bench_translate.py
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from codexglm.translate import SSEDecoder, StreamTranslator, build_chat_request, encode_sse  # noqa: E402
from tests import codex_fixtures as cf  # noqa: E402


def _big_body(items: int = 1000) -> dict:
    history = []
    for i in range(items // 4):
        history += [
            cf.reasoning(f"Thinking about step {i}. " * 20),
            cf.function_call(f"call_{i}", "exec_command", {"cmd": f"cat file_{i}.py"}),
            cf.call_output(f"call_{i}", ("line of source code\n" * 120)),
            cf.text_message("assistant", f"Step {i} done. " * 10),
        ]
    return cf.body(*history)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    body = _big_body()
    raw = json.dumps(body).encode()
    options = cf.options()
    parse = _best(lambda: json.loads(raw), 30)
    translate = _best(lambda: build_chat_request(json.loads(raw), options), 30)
    print(f"request: {len(raw) / 1e6:.2f} MB, {len(body['input'])} items")
    print(f"  json.loads baseline        {parse * 1e3:8.2f} ms")
    print(f"  parse + translate          {translate * 1e3:8.2f} ms   ({translate / parse:.2f}x baseline)")

    chunk = {"id": "20260313050307df155ecf3e9f4961", "created": 1773349387, "object": "chat.completion.chunk",
             "model": "glm-4.7-flash", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "token "}}]}
    frame = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    n = 20_000
    context = build_chat_request(cf.body(), options).context

    def baseline() -> None:
        for _ in range(n):
            json.dumps(json.loads(frame[6:]))

    def translated(ctx=context, head: bytes = b"") -> None:
        decoder = SSEDecoder()
        translator = StreamTranslator(ctx)
        translator.start()
        for payload in decoder.feed(head):
            translator.feed(json.loads(payload))
        for _ in range(n):
            for payload in decoder.feed(frame):
                for event in translator.feed(json.loads(payload)):
                    encode_sse(event)

    base = _best(baseline, 5) / n
    full = _best(translated, 5) / n
    print(f"stream: {n} content chunks")
    print(f"  json round-trip baseline   {base * 1e6:8.2f} us/chunk")
    print(f"  decode+translate+encode    {full * 1e6:8.2f} us/chunk   ({full / base:.2f}x baseline)")
    n *= 5  # a very long answer must cost the same per chunk (no quadratic text building)
    long = _best(translated, 2) / n
    print(f"  same, {n} chunks           {long * 1e6:8.2f} us/chunk   ({long / full:.2f}x the shorter stream)")

    n //= 5
    tagged = dataclasses.replace(options.provider, inline_think_tags=True)
    tag_context = build_chat_request(cf.body(), dataclasses.replace(options, provider=tagged)).context
    opening = dict(chunk, choices=[{"index": 0, "delta": {"role": "assistant", "content": "<think>"}}])
    head = b"data: " + json.dumps(opening).encode() + b"\n\n"  # every later chunk is thinking
    split = _best(lambda: translated(tag_context, head), 5) / n
    print(f"  inside <think>, split inline {split * 1e6:6.2f} us/chunk   ({split / full:.2f}x plain content)")


if __name__ == "__main__":
    main()
