"""Drawing a molecule in a real Chromium at common laptop sizes (issue 20, item 1): Ketcher's whole
editor (element palette, both toolbars) is on screen at 1280x800 and 1366x768, in the light and the dark
theme, and an atom drawn from the palette reaches a calculation."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

KETCHER = 'iframe[title="streamlit_ketcher.streamlit_ketcher"]'
#: Buttons at the far ends of the editor's toolbars: the right-hand element palette, the top toolbar's end.
PALETTE = ("Hydrogen (H)", "Carbon (C)", "Nitrogen (N)", "Oxygen (O)", "Fluorine (F)", "Periodic Table")
TOP_RIGHT = ("Fullscreen mode", "Help (?)")


def _open_editor(page, open_app):
    open_app("")  # the router first (a deep link to a fresh server skips it)
    open_app("Compare")
    page.get_by_test_id("stButtonGroup").get_by_role("radio", name="Draw", exact=True).click()
    ketcher = page.frame_locator(KETCHER)
    expect(ketcher.get_by_role("button", name="Apply")).to_be_enabled(timeout=90_000)
    return ketcher


def _assert_whole_editor(page, ketcher, width: int) -> None:
    """Every palette and top-toolbar end button lies inside the editor's frame and the window."""
    frame = page.locator(KETCHER).bounding_box()
    assert frame["x"] >= 0 and frame["x"] + frame["width"] <= width, frame
    for title in PALETTE + TOP_RIGHT:
        button = ketcher.locator(f'button[title="{title}"]')
        expect(button).to_be_visible()
        box = button.bounding_box()  # page coordinates
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"], (
            title,
            box,
            frame,
        )


@pytest.mark.parametrize(
    ("width", "height", "scheme"),
    [(1280, 800, "light"), (1280, 800, "dark"), (1366, 768, "light"), (1366, 768, "dark")],
)
def test_whole_editor_is_on_screen(
    new_browser_context, streamlit_app, wait_for_app, screenshot, width, height, scheme
):
    context = new_browser_context(color_scheme=scheme, viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)

    def open_app(path: str = ""):
        page.goto(f"{streamlit_app}/{path}")
        wait_for_app(page)

    ketcher = _open_editor(page, open_app)
    _assert_whole_editor(page, ketcher, width)
    page.locator(KETCHER).scroll_into_view_if_needed()
    screenshot(f"draw_editor_{width}x{height}_{scheme}", page)


def test_atom_drawn_from_the_palette_is_calculated(
    open_app, page, choose, ensure_functionals, wait_for_app, outside_requests, screenshot
):
    page.set_viewport_size({"width": 1280, "height": 800})
    ketcher = _open_editor(page, open_app)
    _assert_whole_editor(page, ketcher, 1280)
    ammonia = page.get_by_text(re.compile(r"H3N, 10 electrons"))
    # On a busy machine the editor may not have taken the tool before the click: drawn again if the
    # app did not get the molecule.
    for attempt in range(3):
        ketcher.locator('button[title="Clear Canvas (Ctrl+Del)"]').click()
        ketcher.locator('button[title="Nitrogen (N)"]').click()
        page.wait_for_timeout(500 * (attempt + 1))
        box = ketcher.locator("[class*=StructEditor-module_canvas]").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # one N atom: NH3
        ketcher.get_by_role("button", name="Apply").click()
        try:
            expect(ammonia).to_be_visible(timeout=30_000)
            break
        except AssertionError:
            screenshot(f"draw_attempt_{attempt}")
    expect(ammonia).to_be_visible()
    wait_for_app(page)
    choose(page, "Basis set", "sto-3g")
    wait_for_app(page)
    ensure_functionals(page)
    expect(page.get_by_text(re.compile(r"^8 basis functions"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Run comparison").click()
    expect(page.get_by_text(re.compile(r"/ sto-3g$"))).to_be_visible(timeout=180_000)
    wait_for_app(page, timeout=120_000)
    page.get_by_text(re.compile(r"/ sto-3g$")).scroll_into_view_if_needed()
    screenshot("draw_ammonia_compared")
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []
