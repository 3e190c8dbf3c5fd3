"""Resources shared by every session of the app server: the results store. (The DM21 networks are
loaded in the task workers, where the calculations run: explorer.engine.network keeps one per process.)"""

from __future__ import annotations

import streamlit as st

from explorer import ResultsStore


@st.cache_resource
def results_store() -> ResultsStore:
    """The results database shared by every session of this server (and the CLI)."""
    return ResultsStore()
