"""The "Page as HTML" button every calculation view offers once it shows a result."""

from __future__ import annotations

import functools

import streamlit as st

from explorer.present.static_page import view_html


def page_html_button(title: str, sections: list[dict], file_name: str, key: str, **options) -> None:
    """A download button for the view as one HTML file that opens without the app (static_page.view_html
    of ``title``, ``sections`` and ``options``: molecule, notes, subtitle). The document is built only
    when clicked: it holds plotly.js (and 3Dmol.js with a molecule), a few MB."""
    st.download_button(
        "Page as HTML (opens without the app)",
        functools.partial(view_html, title, sections, **options),
        file_name,
        "text/html",
        key=key,
    )
