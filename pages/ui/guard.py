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
