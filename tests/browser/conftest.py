"""End-to-end fixtures: the real app under `streamlit run`, driven by Debian's Chromium through Playwright.

Every test in tests/browser is marked `browser` (deselect with `-m "not browser"`). Needs /usr/bin/chromium
(setup.sh installs it) and static/3Dmol-min.js (setup.sh copies it from npm). Playwright cannot download
its own browsers here, so Chromium is always launched with executable_path="/usr/bin/chromium".

Fixtures
--------
streamlit_app (session)
    Base URL ("http://127.0.0.1:<port>") of `.venv/bin/python -m streamlit run app.py --server.headless true
    --server.address 127.0.0.1 --server.port <free port> --server.fileWatcherType none`, run from the repo
    root with DM21_EXPLORER_DB pointing at a temporary SQLite file. Started once, stopped at the end.
serve_app (session)
    The context manager `serve(log_path, database, options=None)` that starts such a server (only
    --server.port added to .streamlit/config.toml, unless `options` add more) and yields its address:
    for a test that needs a fresh store or its own log.
new_browser_context (function)
    Callable `new_browser_context(**options)`: launches a headless Chromium with its own empty
    user-data-dir and the flags in CHROMIUM_ARGS, and returns its Playwright BrowserContext; `options`
    go to launch_persistent_context (e.g. color_scheme="dark" for Streamlit's dark theme; default
    viewport 1280x1000). WebGL works: headless Chromium renders it with SwiftShader. Requests to any host
    other than 127.0.0.1/localhost are aborted (and still recorded in `request_log`). Closed at teardown.
browser_context (function)
    `new_browser_context()` with the defaults (light theme).
page (function)
    A page of browser_context (1280x1000), with a 30 s default timeout.
request_log (function)
    List of every URL the context requested, from the page, its iframes (components, st.iframe srcdoc
    frames), workers and WebSockets, in order.
outside_requests (function)
    Callable returning the URLs of request_log whose host is not 127.0.0.1/localhost (data:, blob: and
    about: URLs are local). Use `assert outside_requests() == []`.
open_app (function)
    Callable `open_app(path="")`: opens streamlit_app + "/" + path in `page` and waits until the script
    has finished its run (see wait_for_app); returns the page.
wait_for_app (function)
    Callable `wait_for_app(page)`: waits until the app is connected and not running. After clicking a
    widget, first wait for what the rerun changes (e.g. `expect(locator).to_be_visible()`): right after
    a click the app may still report the previous, finished run.
screenshot (function)
    Callable `screenshot(name=None, target=None)`: saves a screenshot of `target` (a Page, full page, or a
    Locator; default: the `page` fixture) to test-artifacts/<name or test name>.png at the repo root and
    returns the path.

Example::

    from playwright.sync_api import expect

    def test_compare_page(open_app, page, outside_requests, screenshot):
        open_app("Compare")  # pages/1_Compare.py
        expect(page.get_by_role("heading", name="Compare functionals")).to_be_visible()
        viewer = page.frame_locator('iframe[data-testid="stIFrame"]')  # pages.ui.viewer.show_molecule
        expect(viewer.locator("canvas")).to_have_count(1)
        screenshot()  # test-artifacts/test_compare_page.png
        assert outside_requests() == []

Ketcher (streamlit_ketcher.st_ketcher) lives in iframe[title="streamlit_ketcher.streamlit_ketcher"]; to
draw a SMILES, open its "Open..." dialog, paste the text and press Apply::

    ketcher = page.frame_locator('iframe[title="streamlit_ketcher.streamlit_ketcher"]')
    expect(ketcher.get_by_role("button", name="Apply")).to_be_enabled(timeout=60_000)  # editor loaded
    ketcher.locator('button[title^="Open..."]').click()
    ketcher.get_by_text("Paste from clipboard").click()
    ketcher.get_by_role("dialog").locator("textarea").fill("c1ccccc1O")
    ketcher.locator('input[value="Open as New Project"]').click()
    ketcher.get_by_role("button", name="Apply").click()  # st_ketcher now returns Ketcher's SMILES

"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

#: Quiet, offline-friendly Chromium. WebGL needs no extra flag: headless Chromium switches to ANGLE on
#: SwiftShader itself (--use-angle=swiftshader-webgl), and --enable-unsafe-swiftshader (which Playwright
#: adds too) keeps that software WebGL allowed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]

#: For the health check: our server is on loopback, whatever *_proxy variables say.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SERVER_START_TIMEOUT = 90  # seconds: the first import of TensorFlow/PySCF is slow on 2 cores


def pytest_collection_modifyitems(config, items):
    """Marks every test in this folder `browser`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_outside(url: str) -> bool:
    """Whether a request for `url` leaves the machine (data:, blob:, about: and loopback hosts do not)."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "chrome", "chrome-extension", "devtools"}:
        return False
    return (parts.hostname or "") not in LOCAL_HOSTS


@pytest.fixture(scope="session")
def app_database(tmp_path_factory) -> Path:
    """The results database of the test server (a test may store results in it directly)."""
    return tmp_path_factory.mktemp("app_database") / "results.sqlite3"


@pytest.fixture(scope="session")
def streamlit_log(tmp_path_factory) -> Path:
    """The test server's output (stdout and stderr), shown when a browser test fails."""
    return tmp_path_factory.mktemp("streamlit_app") / "streamlit.log"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@contextlib.contextmanager
def serve(log_path: Path, database: Path, options: dict[str, str] | None = None):
    """`streamlit run app.py` from the repo root on a free loopback port, with DM21_EXPLORER_DB =
    ``database``, output to ``log_path`` and ``options`` as --name value flags (besides the port and
    .streamlit/config.toml); yields its address once it answers its health check, then stops it."""
    python = ROOT / ".venv" / "bin" / "python"
    python = python if python.exists() else Path(sys.executable)
    port = _free_port()
    env = dict(os.environ, DM21_EXPLORER_DB=str(database))
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    cmd = [str(python), "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    cmd += [arg for name, value in (options or {}).items() for arg in (f"--{name}", value)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                log_text = log_path.read_text(errors="replace")
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_text}")
            try:
                with NO_PROXY.open(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log_text = log_path.read_text(errors="replace")
                pytest.fail(f"streamlit did not answer in {SERVER_START_TIMEOUT} s:\n{log_text}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def serve_app():
    """``serve``, for a test that needs a server of its own (a fresh store, its own log)."""
    return serve


@pytest.fixture(scope="session")
def streamlit_app(streamlit_log, app_database):
    """The session's test server (serve): the test database, output to streamlit_log, and no file
    watching; its address, shared by the session's browser tests."""
    options = {
        "server.headless": "true",
        "server.address": "127.0.0.1",
        "server.fileWatcherType": "none",  # files edited during a test run must not rerun the app
        # A closed tab's session is gone after 3 s instead of 2 minutes (test_abandoned_browser.py).
        "server.disconnectedSessionTTL": "3",
    }
    with serve(streamlit_log, app_database, options) as url:
        yield url


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `bash setup.sh` (it installs Debian's chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def request_log() -> list[str]:
    return []


@pytest.fixture
def new_browser_context(playwright_driver, tmp_path, request_log):
    contexts = []

    def launch(**options):
        profile = tmp_path / f"chromium-profile-{len(contexts)}"
        options = {"viewport": {"width": 1280, "height": 1000}, "service_workers": "block", **options}
        context = playwright_driver.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **options
        )
        contexts.append(context)
        context.on("request", lambda request: request_log.append(request.url))

        def watch_websockets(page):
            page.on("websocket", lambda ws: request_log.append(ws.url))

        context.on("page", watch_websockets)
        for existing in context.pages:
            watch_websockets(existing)
        context.route(re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])[a-z]+://"), _abort_outside)
        return context

    yield launch
    for context in contexts:
        context.close()


@pytest.fixture
def browser_context(new_browser_context):
    return new_browser_context()


def _abort_outside(route):
    if is_outside(route.request.url):
        route.abort("blockedbyclient")
    else:
        route.continue_()


@pytest.fixture
def page(browser_context, request, streamlit_log):
    """The test's browser tab. When the test fails, its screenshot is saved (test-artifacts/FAILED-*)
    and what the page showed and the server's last log lines are printed: a failure on a CI machine
    can then be understood from CI's output alone."""
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    page.set_default_timeout(30_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{stem}.png"), full_page=True)
        shown = page.locator("body").inner_text(timeout=5_000)
    except Exception as err:  # the page itself may be what broke
        shown = f"(could not read the page: {err})"
    print(f"--- the page at {page.url} showed:\n{shown[-3000:]}")
    if streamlit_log.exists():
        print(
            "--- the server's last log lines:\n"
            + "\n".join(streamlit_log.read_text(errors="replace").splitlines()[-60:])
        )


@pytest.fixture
def outside_requests(request_log):
    return lambda: [url for url in request_log if is_outside(url)]


@pytest.fixture
def wait_for_app():
    def wait(page, timeout: float = 60_000):
        page.wait_for_selector(
            '[data-testid="stApp"][data-test-script-state="notRunning"][data-test-connection-state="CONNECTED"]',
            timeout=timeout,
        )
        return page

    return wait


@pytest.fixture
def open_app(streamlit_app, page, wait_for_app):
    def open_(path: str = "", timeout: float = 60_000):
        page.goto(f"{streamlit_app}/{path.lstrip('/')}")
        return wait_for_app(page, timeout)

    return open_


@pytest.fixture
def screenshot(request):
    def save(name: str | None = None, target=None) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or request.node.name)
        path = ARTIFACTS / f"{stem}.png"
        target = request.getfixturevalue("page") if target is None else target
        if hasattr(target, "frames"):  # a Page
            target.screenshot(path=str(path), full_page=True)
        else:  # a Locator
            target.screenshot(path=str(path))
        return path

    return save


@pytest.fixture
def ensure_functionals():
    """Callable ``ensure(page, names)``: checks that Compare's Functionals box holds ``names`` before Run
    and, if an automated click during a rerun emptied it (seen in CI about once per run, after a molecule
    change and a basis choice, cause not found: see the session 17 note), chooses them again with the
    keyboard and says so in the test's output, so the test goes on to what it checks."""

    def ensure(page, names=("DM21", "B3LYP")) -> None:
        box = page.get_by_test_id("stMultiSelect").filter(has_text="Functionals")
        missing = [n for n in names if box.get_by_text(n, exact=True).count() == 0]
        if not missing:
            return
        print(f"Functionals box lacked {missing}: chosen again (open defect, see the session 17 note)")
        for name in missing:
            box.click()
            page.get_by_role("option", name=name, exact=True).click()
            page.keyboard.press("Escape")
            expect(box.get_by_text(name, exact=True)).to_be_visible()

    return ensure


@pytest.fixture
def choose():
    """Chooses ``option`` in the selectbox labelled ``label`` with the keyboard (type, Enter) and waits
    until the box shows it. A mouse click on the open list can land on whatever lies under it when a
    rerun redraws the page at that moment: in CI it once hit the Functionals box's "clear all"."""

    def choose_(page, label: str, option: str) -> None:
        box = page.get_by_test_id("stSelectbox").filter(has_text=label)
        box.click()
        page.keyboard.type(option)
        expect(page.get_by_role("option", name=option, exact=True)).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.get_by_role("combobox", name=label)).to_have_value(option)

    return choose_
