"""Resources shared by every session of the app server: the loaded DM21 networks and the results store."""

from __future__ import annotations

import streamlit as st

from explorer import ResultsStore, network


@st.cache_resource(show_spinner="Loading the DM21 network…")
def loaded_network(name: str):
    """The DM21 network ``name``, loaded once per server process and shared by all sessions."""
    return network.load_network(name)


def load_networks(functionals: list[str]) -> None:
    """Loads the networks of the DM21 functionals among ``functionals`` (with a spinner, once)."""
    for name in functionals:
        if network.is_dm21(name):
            loaded_network(name)


@st.cache_resource
def results_store() -> ResultsStore:
    """The results database shared by every session of this server (and the CLI)."""
    return ResultsStore()
