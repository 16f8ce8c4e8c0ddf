"""Look at a web UI the way a person would: Debian's headless Chromium loads a page, runs its
JavaScript, and gives back a PNG screenshot and the rendered DOM.

Made for VictoriaLogs' web UI (vmui, a single-page app under /select/vmui/): `vmui_url()` puts a
LogsQL query and a time range in the URL, the page runs the query on load, and `render_page()`
captures the result, so that a test can check that a query's lines are on the screen:

    url = vmui_url("http://127.0.0.1:19428", request_query("7fe020cd5d4b54b4a48a0382a2bb511c"))
    dom = render_page(url, Path("/tmp/vmui.png"))
    assert "GET /api/orders 200 7fe020cd5d4b54b4a48a0382a2bb511c" in page_text(dom).splitlines()

(The query itself is on the page too, in its input box: look for a line's text, not the query's.)

Chromium is Debian's `chromium-headless-shell` (what scripts/setup.sh installs; the full
`chromium` works too). The page gets `--virtual-time-budget` of virtual time, which does not run
while a request is pending, so the capture comes after the query's answer has been drawn.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

# Searched on PATH in this order.
CHROMIUM_BINARIES = ("chromium-headless-shell", "chromium")
CHROMIUM_PACKAGE = "chromium-headless-shell"
DEFAULT_WAIT_MS = 15_000
DEFAULT_WINDOW = (1400, 900)
# Real seconds allowed beyond the virtual-time budget for Chromium to start, load and exit.
STARTUP_TIMEOUT_S = 60

VMUI_PATH = "/select/vmui/"
VMUI_VIEWS = ("group", "table", "json")
# vmui's own duration syntax (g0.range_input), e.g. 15m, 1h, 7d, 1h30m.
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|ms|y|w|d|h|m|s))+")


class BrowserError(RuntimeError):
    """Chromium is missing, or failed to render a page."""


def chromium_binary() -> str:
    """The headless Chromium on PATH (chromium-headless-shell, else chromium)."""
    for name in CHROMIUM_BINARIES:
        path = shutil.which(name)
        if path is not None:
            return path
    raise BrowserError(
        f"no headless Chromium on PATH ({' or '.join(CHROMIUM_BINARIES)}): "
        f"apt-get install -y --no-install-recommends {CHROMIUM_PACKAGE} (or run scripts/setup.sh)"
    )


def vmui_url(
    base_url: str,
    query: str,
    *,
    last: str = "1h",
    end: datetime.datetime | None = None,
    limit: int | None = None,
    view: str = "group",
) -> str:
    """vmui's URL that runs `query` over the `last` duration up to `end` (default now) on load.

    vmui is a hash-routed app: `<base>/select/vmui/#/?query=...&g0.range_input=1h&
    g0.end_input=<ISO time>&g0.relative_time=none` (its default range is the last 5 minutes),
    plus `limit` (vmui's default 50 lines) and `view` (group, table or json).
    """
    if not _DURATION.fullmatch(last):
        raise ValueError(f"last={last!r}: a vmui duration such as 15m, 1h, 7d")
    if view not in VMUI_VIEWS:
        raise ValueError(f"view={view!r}: one of {', '.join(VMUI_VIEWS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit={limit}: at least 1")
    until = end or datetime.datetime.now(datetime.UTC)
    if until.tzinfo is None:
        raise ValueError("end: a timezone-aware datetime")
    params = {
        "query": query,
        "g0.range_input": last,
        "g0.end_input": until.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "g0.relative_time": "none",
        "view": view,
    } | ({"limit": str(limit)} if limit is not None else {})
    return f"{base_url.rstrip('/')}{VMUI_PATH}#/?{urlencode(params, quote_via=quote)}"


def render_page(
    url: str,
    screenshot: Path,
    *,
    wait_ms: int = DEFAULT_WAIT_MS,
    window: tuple[int, int] = DEFAULT_WINDOW,
    timeout_s: float | None = None,
) -> str:
    """Load `url` in headless Chromium, write a PNG of the window to `screenshot` and return the
    rendered DOM (HTML). One Chromium run does both (--screenshot with --dump-dom), so the PNG and
    the DOM are the same page. `wait_ms` is the virtual-time budget for the page's scripts."""
    if wait_ms < 1:
        raise ValueError(f"wait_ms={wait_ms}: at least 1 (with 0 Chromium never finishes)")
    binary = chromium_binary()
    screenshot = screenshot.resolve()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)  # never mistake an earlier capture for this one
    timeout = timeout_s if timeout_s is not None else wait_ms / 1000 + STARTUP_TIMEOUT_S
    with tempfile.TemporaryDirectory(prefix="webstack-chromium-") as profile:
        command = [
            binary,
            "--headless",
            "--no-sandbox",  # run as root (CI, containers); the page is our own UI
            "--disable-gpu",
            "--disable-dev-shm-usage",  # a container's /dev/shm is small
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",  # a fresh profile: no state (vmui's local storage) kept
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={wait_ms}",
            f"--screenshot={screenshot}",
            "--dump-dom",
            url,
        ]
        # Its own process group: Debian's /usr/bin/chromium* are shell wrappers, and the browser's
        # helper processes must all go when it times out.
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            dom, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            _kill_group(process)
            _, stderr = process.communicate()
            raise BrowserError(f"{binary} did not finish {url} within {timeout:.0f}s:\n{_reason(stderr)}") from err
        finally:
            _kill_group(process)  # anything left behind
    if process.returncode != 0:
        raise BrowserError(f"{binary} exited {process.returncode} on {url}:\n{_reason(stderr)}")
    if not dom.strip() or not screenshot.is_file() or screenshot.stat().st_size == 0:
        raise BrowserError(f"{binary} gave no DOM or no screenshot for {url}:\n{_reason(stderr)}")
    return dom


def _reason(stderr: str) -> str:
    """The end of Chromium's stderr, without its noise about D-Bus (absent in containers)."""
    lines = [line for line in stderr.splitlines() if "dbus" not in line and "Floss" not in line]
    return "\n".join(lines)[-3000:]


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def page_text(dom: str) -> str:
    """The text of a rendered DOM (entities decoded, no scripts or styles), one element's text
    a line: what a line of the page reads, e.g. a log line's message."""
    parser = _TextOnly()
    parser.feed(dom)
    parser.close()
    return "\n".join(parser.parts)
