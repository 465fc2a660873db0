"""What describing images costs a request once the descriptions are cached.

Codex resends every image of the conversation each turn, so for a text-only model each
request pays for finding the images, hashing them (the cache key) and swapping in the
descriptions; this measures that against `json.loads` of the same body (work any proxy
does anyway).  The vision model's own time is the provider's and is not measured here.

Run: python bench/bench_images.py
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from codexglm.translate.images import image_key, image_urls, with_descriptions  # noqa: E402


def _body(images: int, size: int) -> dict:
    items = []
    for i in range(images):
        url = "data:image/png;base64," + base64.b64encode(os.urandom(size)).decode()
        items.append({"type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": url}, {"type": "input_text", "text": f"image {i}"}]})
        items.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]})
    return {"model": "glm-5.1", "input": items}


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    for images, size in ((1, 200_000), (10, 500_000), (20, 1_000_000)):
        body = _body(images, size)
        raw = json.dumps(body)
        urls = image_urls(body)
        descriptions = {url: "a description " * 40 for url in urls}

        def rewrite() -> None:
            found = image_urls(body)
            [image_key(u) for u in found]
            with_descriptions(body, descriptions, "glm-4.6v", "glm-5.1")

        ours = _best(rewrite)
        baseline = _best(lambda: json.loads(raw))
        print(f"{images:3d} images of {size // 1000:5d} kB: rewrite {ours * 1000:7.2f} ms, "
              f"json.loads {baseline * 1000:7.2f} ms, ratio {ours / baseline:5.2f}")


if __name__ == "__main__":
    main()
