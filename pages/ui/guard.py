"""The app's last line of defence: an unexpected exception in a page becomes one line with a reference.

Problems a user can fix are shown by the pages themselves as one line (ExplorerError). Anything else
is a bug: the user sees a short message with a reference, and the server's log gets the traceback
under the same reference, so nobody sees the server's paths and a teacher can still find the cause.
"""

from __future__ import annotations

import logging
import uuid

import streamlit as st

LOG = logging.getLogger("dm21_explorer")


def run_guarded(page) -> None:
    """Runs ``page`` (the st.Page that st.navigation returned). Streamlit's own st.stop, st.rerun and
    st.switch_page raise BaseExceptions and pass through."""
    try:
        page.run()
    except Exception:
        reference = uuid.uuid4().hex[:8]
        LOG.exception("unexpected error in page %r, reference %s", page.title, reference)
        st.error(
            f"Something went wrong on this page (reference {reference}); the server's log has the details."
        )


def through_router() -> None:
    """Makes sure this page runs inside app.py's router. Called first by every page.

    Until some session of this server has run app.py, Streamlit's runner treats the pages/ folder as
    an old-style multipage app: a first visit to a deep link (/Compare, a lesson's shared address)
    runs the page file by itself, without app.py (no sidebar of views, no wide layout, no error guard,
    no release of closed tabs' jobs). Streamlit offers no switch for this; its runner reads the class
    flag below on every run, and st.navigation clears it. So the page clears it and asks for a rerun,
    which goes through app.py and resolves the same address to the same page. Not under AppTest: it
    sets the flag again before each of its runs, so the rerun would swallow every click."""
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", None) and not config.get_option("global.appTest"):
        PagesManager.uses_pages_directory = False
        st.rerun()
