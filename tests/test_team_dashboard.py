"""/dashboard in a real headless browser (Debian's chromium through chromedriver): the chart
and the numbers render; the screenshot is kept in the test's tmp dir (path printed)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import trio

from codexglm.ledger.entry import UsageEntry
from codexglm.providers.base import QuotaWindow
from codexglm.team.store import open_team_store
from tests.mockglm import open_mock_glm
from tests.team_support import ADMIN, member, running_gateway


def _browser_page(url: str, token: str, shot: Path) -> dict[str, object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,1100", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        driver.set_page_load_timeout(20)
        # The admin token goes in as a header, the way a browser extension or proxy would add it.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {token}"}})
        driver.get(url)
        chart = driver.find_element(By.ID, "usage-chart")
        bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
        driver.save_screenshot(str(shot))
        return {
            "chart_size": chart.size,
            "bars": [(bar.get_attribute("data-member"), bar.get_attribute("data-model"), bar.size["height"]) for bar in bars],
            "alice_left": driver.find_element(By.CSS_SELECTOR, 'tr[data-member="alice"] td.left').text,
            "alice_spent": driver.find_element(By.CSS_SELECTOR, 'tr[data-member="alice"] td.spent').text,
            "windows": driver.find_element(By.ID, "windows").text,
            "errors": driver.find_element(By.ID, "errors").text,
        }
    finally:
        driver.quit()


@pytest.mark.skipif(shutil.which("chromedriver") is None, reason="needs chromium + chromedriver (.ci/run installs them)")
async def test_the_dashboard_renders_its_chart_and_numbers_in_a_browser(tmp_path: Path) -> None:
    store = open_team_store(None, tmp_path / "usage.sqlite3")
    store.create(member("alice", budget_usd=10.0))
    store.create(member("bob"))
    now = time.time()
    rows = [
        UsageEntry(time=now, provider="glm", model="glm-5.1", endpoint="coding", input_tokens=3000, output_tokens=1000,
                   cost_usd=2.5, member="alice"),
        UsageEntry(time=now - 86_400, provider="glm", model="glm-4.7", endpoint="coding", input_tokens=500, cost_usd=0.5,
                   member="bob", outcome="server_error"),
    ]
    store.db.record(rows)
    store.db.save_windows([QuotaWindow("tokens", 300, "5-hour", 42.0, None, None, now + 3600)])
    shot = tmp_path / "dashboard.png"
    try:
        async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store) as client:
            page = await trio.to_thread.run_sync(_browser_page, f"{client.base_url}/dashboard", ADMIN, shot)
    finally:
        store.close()
    print(f"dashboard screenshot: {shot}")
    assert shot.stat().st_size > 5000
    assert page["chart_size"] == {"height": 270, "width": 720}
    bars = {(name, model): height for name, model, height in page["bars"]}  # type: ignore[attr-defined]
    assert set(bars) == {("alice", "glm-5.1"), ("bob", "glm-4.7")}
    assert bars[("alice", "glm-5.1")] > bars[("bob", "glm-4.7")] > 0  # 4000 tokens against 500
    assert page["alice_spent"] == "$2.50" and page["alice_left"] == "$7.50"
    assert "5-hour" in page["windows"] and "42%" in page["windows"]  # type: ignore[operator]
    assert "bob" in page["errors"] and "server_error" in page["errors"]  # type: ignore[operator]
