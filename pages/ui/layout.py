"""Page frame shared by app.py and every page: page settings and the sidebar's links."""

from __future__ import annotations

import streamlit as st

#: (script, label, icon) of each view, in the order of the sidebar.
VIEWS = (
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/2_Fractional_electrons.py", "Fractional electrons", ":material/show_chart:"),
    ("pages/3_Spin_states.py", "Spin states", ":material/stacked_line_chart:"),
    ("pages/4_Densities.py", "Densities and XC maps", ":material/blur_on:"),
    ("pages/9_History.py", "History", ":material/history:"),
)


def page_setup() -> None:
    """Call first on every page: title, icon, wide layout, and the sidebar's links to the views."""
    st.set_page_config(page_title="DM21 Explorer", page_icon="⚛", layout="wide")
    with st.sidebar:
        for script, label, icon in VIEWS:
            st.page_link(script, label=label, icon=icon)
