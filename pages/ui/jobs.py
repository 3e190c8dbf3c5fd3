"""Following calculations that run as tasks on the shared cluster (explorer.tasks) from a page.

A page submits its jobs on the Run button and keeps them in session state, so they survive the reruns
any click causes; every run of the page then follows them here until they are done, showing their
progress and the queue, with a Cancel button next to them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from explorer import tasks

#: Seconds between looks at the jobs while they run.
POLL_SECONDS = 0.3


def cancel_button(state_key: str, button_key: str) -> bool:
    """Draws a Cancel button while jobs are kept under ``state_key``; on a click cancels them, forgets
    them and says so. True when there is nothing (left) to follow."""
    pending = st.session_state.get(state_key)
    if pending is None:
        return True
    if st.button(
        "Cancel", key=button_key, help="Stops these calculations (running ones at their next iteration)"
    ):
        tasks.cancel(pending["jobs"])
        st.session_state.pop(state_key, None)
        st.info("Cancelled.")
        return True
    return False


def follow(jobs: list[tasks.Job], on_event: Callable[[dict], None]) -> None:
    """Waits for ``jobs``, handing each progress message (run_scf's iteration dicts and outcome
    messages, each with a "task" label) to ``on_event`` and showing the queue line under it."""
    queue_line = st.empty()
    while True:
        for job in jobs:
            for event in tasks.drain(job):
                on_event(event)
        if all(job.done() for job in jobs):
            break
        queue_line.caption("Queue: " + tasks.describe(tasks.status(jobs)))
        time.sleep(POLL_SECONDS)
    queue_line.empty()
