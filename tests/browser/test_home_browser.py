"""The app in a real Chromium: the home page renders, the 3D viewer draws with the app's own 3Dmol.js in
the light and the dark theme, and nothing is fetched from outside 127.0.0.1."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_home_page_renders_offline(open_app, page, outside_requests, request_log, screenshot):
    open_app()
    expect(page.get_by_role("heading", name="DM21 Explorer")).to_be_visible()
    expect(page).to_have_title("DM21 Explorer")
    assert page.get_by_test_id("stException").count() == 0
    path = screenshot("home")
    assert path.is_file() and path.stat().st_size > 0
    assert any("/_stcore/stream" in url for url in request_log)  # the app really talked to our server
    assert outside_requests() == []


def test_app_serves_3dmol_from_static(streamlit_app, page):
    response = page.request.get(f"{streamlit_app}/app/static/3Dmol-min.js")
    assert response.status == 200
    assert "javascript" in response.headers["content-type"]
    assert b"$3Dmol" in response.body()


def test_request_recorder_sees_iframes_and_blocks_outside_hosts(page, outside_requests):
    page.set_content("<iframe srcdoc=\"<img src='https://cdn.example.invalid/x.png'>\"></iframe>")
    page.wait_for_timeout(300)
    assert outside_requests() == ["https://cdn.example.invalid/x.png"]


def _check_viewer(page, streamlit_app, wait_for_app, request_log, outside_requests, screenshot, name):
    """Opens the Compare page (it shows its default molecule with pages.ui.viewer.show_molecule) and
    checks that 3Dmol.js came from the app and drew on a WebGL canvas."""
    page.goto(f"{streamlit_app}/Compare")
    wait_for_app(page, timeout=120_000)
    viewer = page.frame_locator('iframe[data-testid="stIFrame"]').first
    expect(viewer.locator("canvas")).to_have_count(1, timeout=30_000)
    frames = [f for f in page.frames if f.url == "about:srcdoc"]
    frame = next(f for f in frames if f.evaluate("typeof $3Dmol") == "object")
    # 3Dmol.js draws with WebGL 2 on an OffscreenCanvas and shows the bitmap on the page's canvas.
    drawn = frame.evaluate(
        """() => {
            const name = Object.keys(window).find(k => k.startsWith('viewer_v') && window[k]);
            const viewer = window[name];
            const gl = viewer.getRenderer().getContext();
            return {gl: gl && !gl.isContextLost() ? gl.getParameter(gl.VERSION) : null,
                    atoms: viewer.selectedAtoms({}).length};
        }"""
    )
    assert drawn["gl"].startswith("WebGL") and drawn["atoms"] > 0, drawn
    assert f"{streamlit_app}/app/static/3Dmol-min.js" in request_log
    page.wait_for_timeout(500)  # let 3Dmol.js finish the first frame
    screenshot(name, page.locator('iframe[data-testid="stIFrame"]').first)
    assert outside_requests() == []
    return frame.evaluate("() => getComputedStyle(document.body).backgroundColor")


def test_viewer_draws_offline_on_compare_page(
    page, streamlit_app, wait_for_app, request_log, outside_requests, screenshot
):
    background = _check_viewer(
        page, streamlit_app, wait_for_app, request_log, outside_requests, screenshot, "viewer_light"
    )
    assert background == "rgb(255, 255, 255)"


def test_viewer_follows_dark_theme(
    new_browser_context, streamlit_app, wait_for_app, request_log, outside_requests, screenshot
):
    page = new_browser_context(color_scheme="dark").pages[0]
    background = _check_viewer(
        page, streamlit_app, wait_for_app, request_log, outside_requests, screenshot, "viewer_dark"
    )
    assert background == "rgb(14, 17, 23)"  # #0e1117
