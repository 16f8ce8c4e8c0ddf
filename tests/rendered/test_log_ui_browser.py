"""VictoriaLogs' web UI (vmui) in Debian's headless Chromium, through tools/browser.py: a LogsQL
query put in vmui's URL runs when the page loads, and its lines are on the rendered page (DOM and
a PNG screenshot), the others are not.

Real servers: VictoriaLogs built from the Go module proxy (images/gobin.sh, cached), Chromium
from Debian (chromium-headless-shell, scripts/setup.sh).
"""

from __future__ import annotations

import datetime
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from components.render.logs import request_query
from tests.rendered.logs_servers import LogStore, go_binary
from tools.browser import (
    DEFAULT_WINDOW,
    BrowserError,
    chromium_binary,
    page_text,
    render_page,
    vmui_url,
)

STORE_ADDRESS = "127.0.0.64"
TOKEN = f"uitest{os.urandom(8).hex()}"
NOW = datetime.datetime.now(datetime.UTC)
# (service, message, age): the token's lines, a line without it, and one of the token's 3 h old.
BACKEND_LINE = f"GET /api/orders 200 {TOKEN}"
EDGE_LINE = f'edge "GET /api/orders?a=1&b=<2>" 200 {TOKEN}'  # &, <, > and " as the page must show them
OTHER_LINE = "GET /api/health 200 some-other-request"
OLD_LINE = f"GET /api/orders 500 {TOKEN} three hours ago"
LINES = (
    ("backend", BACKEND_LINE, datetime.timedelta(seconds=3)),
    ("edge", EDGE_LINE, datetime.timedelta(seconds=2)),
    ("backend", OTHER_LINE, datetime.timedelta(seconds=1)),
    ("backend", OLD_LINE, datetime.timedelta(hours=3)),
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 20_000  # vmui with its chart and a result row: about 57 KB


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return chromium_binary()
    except BrowserError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogStore]:
    """VictoriaLogs with LINES in it (found by the API before any page is drawn)."""
    store = LogStore(go_binary("victoria-logs"), STORE_ADDRESS, tmp_path_factory.mktemp("log-ui-store"))
    try:
        store.start()
        store.post_jsonline(
            [
                {
                    "_msg": message,
                    "_time": (NOW - age).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "service": service,
                    "request_id": f"req-{index}",
                }
                for index, (service, message, age) in enumerate(LINES)
            ],
            stream_fields="service",
        )
        store.flush()
        found = {row["_msg"] for row in store.query("_time:1d *")}
        assert found == {message for _, message, _ in LINES}, found
        yield store
    finally:
        store.stop()


def shown(url: str, screenshot: Path) -> list[str]:
    """The lines of text on the rendered page; the screenshot checked to be a real one."""
    dom = render_page(url, screenshot)
    png = screenshot.read_bytes()
    assert png.startswith(PNG_SIGNATURE), png[:16]
    assert len(png) > MIN_PNG_BYTES, f"{screenshot}: {len(png)} bytes"
    assert struct.unpack(">II", png[16:24]) == DEFAULT_WINDOW  # IHDR: width, height
    assert "VictoriaLogs" in dom, dom[:2000]
    return page_text(dom).splitlines()


def test_vmui_shows_the_lines_of_a_request_query(chromium: str, store: LogStore, tmp_path: Path) -> None:
    """The documented "one request" query (quotes, a pipe) from the URL: its lines on the page,
    the others not."""
    url = vmui_url(store.url, request_query(TOKEN))
    text = shown(url, tmp_path / "request.png")
    assert BACKEND_LINE in text, f"{url}\n" + "\n".join(text)
    assert EDGE_LINE in text, f"{url}\n" + "\n".join(text)
    assert OLD_LINE in text  # the query's own _time:1d wins over the URL's range, as vmui says
    assert not any("some-other-request" in line for line in text), "\n".join(text)


def test_vmui_honours_the_time_range_in_its_url(chromium: str, store: LogStore, tmp_path: Path) -> None:
    query = f'"{TOKEN}"'
    recent = shown(vmui_url(store.url, query, last="1h"), tmp_path / "1h.png")
    assert BACKEND_LINE in recent and EDGE_LINE in recent, "\n".join(recent)
    assert OLD_LINE not in recent, "\n".join(recent)
    wider = shown(vmui_url(store.url, query, last="6h"), tmp_path / "6h.png")
    assert {BACKEND_LINE, EDGE_LINE, OLD_LINE} <= set(wider), "\n".join(wider)


def test_vmui_url_carries_query_range_and_view() -> None:
    end = datetime.datetime(2026, 12, 1, 10, 30, tzinfo=datetime.UTC)
    url = vmui_url("http://127.0.0.1:19428/", '{service="edge"} "a b" | limit 5', last="15m", end=end, limit=200)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.query) == ("http", "127.0.0.1:19428", "/select/vmui/", "")
    route, _, params = parts.fragment.partition("?")
    assert route == "/"
    assert parse_qs(params) == {
        "query": ['{service="edge"} "a b" | limit 5'],
        "g0.range_input": ["15m"],
        "g0.end_input": ["2026-12-01T10:30:00.000Z"],
        "g0.relative_time": ["none"],
        "view": ["group"],
        "limit": ["200"],
    }
    for bad in ({"last": "1 hour"}, {"view": "chart"}, {"limit": 0}, {"end": datetime.datetime(2026, 1, 1)}):
        with pytest.raises(ValueError):
            vmui_url("http://x", "*", **bad)


def test_missing_chromium_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserError, match="apt-get install -y --no-install-recommends chromium-headless-shell"):
        chromium_binary()
