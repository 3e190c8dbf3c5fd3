"""DM21 Explorer's router (`streamlit run app.py`): each view is a page in pages/, listed here once.

Streamlit runs this file as __main__. The calculation workers Dask spawns re-run it as __mp_main__
(multiprocessing's spawn rules; Streamlit's script is the server's __main__ module): there it must draw
nothing, start no cluster and import no page code, so everything happens in main(), under __main__ only.
"""

import streamlit as st


def views() -> list[st.Page]:
    """The views in the sidebar's order. Each url_path is set so the addresses stay put (/Compare ...)."""
    return [
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
            "pages/4_Densities.py",
            title="Densities and XC maps",
            icon=":material/blur_on:",
            url_path="Densities",
        ),
        st.Page(
            "pages/6_Geometry.py",
            title="Geometry and vibrations",
            icon=":material/vibration:",
            url_path="Geometry",
        ),
        st.Page("pages/5_Lessons.py", title="Lessons", icon=":material/school:", url_path="Lessons"),
        st.Page("pages/9_History.py", title="History", icon=":material/history:", url_path="History"),
    ]


def main() -> None:
    """Runs the view the address asks for, after the app-wide chores."""
    from pages.ui.guard import run_guarded
    from pages.ui.jobs import release_abandoned, warm_up

    st.set_page_config(page_title="DM21 Explorer", page_icon="⚛", layout="wide")
    warm_up()  # the cluster starts while the first visitor reads the page
    release_abandoned()  # jobs of browser tabs closed meanwhile, in any session
    run_guarded(st.navigation(views()))


if __name__ == "__main__":
    main()
