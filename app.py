"""DM21 Explorer's router (`streamlit run app.py`): each view is a page in pages/, listed here once."""

import streamlit as st

from pages.ui.guard import run_guarded
from pages.ui.jobs import release_abandoned

st.set_page_config(page_title="DM21 Explorer", page_icon="⚛", layout="wide")

#: The views in the sidebar's order. Each url_path is set so the addresses stay put (/Compare ...).
VIEWS = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", url_path="Home", default=True),
    st.Page("pages/1_Compare.py", title="Compare", icon=":material/compare_arrows:", url_path="Compare"),
    st.Page(
        "pages/2_Fractional_electrons.py",
        title="Fractional electrons",
        icon=":material/show_chart:",
        url_path="Fractional_electrons",
    ),
    st.Page(
        "pages/3_Spin_states.py",
        title="Spin states",
        icon=":material/stacked_line_chart:",
        url_path="Spin_states",
    ),
    st.Page(
        "pages/4_Densities.py", title="Densities and XC maps", icon=":material/blur_on:", url_path="Densities"
    ),
    st.Page("pages/9_History.py", title="History", icon=":material/history:", url_path="History"),
]

release_abandoned()  # jobs of browser tabs closed meanwhile, in any session
run_guarded(st.navigation(VIEWS))
