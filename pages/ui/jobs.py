"""Following calculations that run as tasks on the shared cluster (explorer.runs.tasks) from a page.

A page submits its jobs on the Run button and keeps them in session state, so they survive the reruns
any click causes; every run of the page then follows them here until they are done, showing their
progress and the queue, with a Cancel button next to them. ``run_batch`` is that whole block (button,
submit, follow, keep the last result) for the calculation pages; ``task_value`` the same for one view
computed on demand.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import ExplorerError
from explorer.runs import tasks
from pages.ui.molecule_input import ESTIMATE_KEY, duration

#: Seconds between looks at the jobs while they run.
POLL_SECONDS = 0.3
#: Finished view computations (task_value) kept for every session of this server.
KEPT_VALUES = 12

LOG = logging.getLogger("dm21_explorer")


@st.cache_resource
def _jobs_by_session() -> tuple[threading.Lock, dict]:
    """The jobs each browser session of this server submitted: {session id: [jobs]}."""
    return threading.Lock(), {}


@st.cache_resource
def _sweeper() -> ThreadPoolExecutor:
    """One background thread that releases abandoned jobs, so no page run waits on the cluster."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-abandoned")


def _log_failure(done: Future) -> None:
    if done.exception() is not None:
        LOG.error("the cluster could not be reached", exc_info=done.exception())


@st.cache_resource
def warm_up() -> Future:
    """Starts the cluster (or connects to it) in the background, once per server, when the app is
    first opened, so the first Run does not wait for the worker processes to start."""
    started = _sweeper().submit(tasks.client)
    started.add_done_callback(_log_failure)
    return started


def _remember(jobs: list[tasks.Job]) -> None:
    """Notes ``jobs`` as this browser session's, for release_abandoned."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        lock, by_session = _jobs_by_session()
        with lock:
            by_session.setdefault(ctx.session_id, []).extend(jobs)


def release_abandoned() -> None:
    """Lets go of the jobs of browser sessions that are gone (the tab closed, and Streamlit's
    server.disconnectedSessionTTL passed): nobody will follow them, so they must not hold a worker.
    Called on every run of any page; jobs already released are forgotten here too. The cluster is
    told in a background thread: a busy or failing scheduler neither slows nor breaks the page."""
    from streamlit.runtime import Runtime

    # Streamlit offers no public question "does this session still exist?"; its session manager
    # answers it (None once a disconnected session has expired). Bare scripts and AppTest (a stand-in
    # runtime) have none, and no sessions to lose.
    sessions = getattr(Runtime.instance(), "_session_mgr", None) if Runtime.exists() else None
    if not hasattr(sessions, "get_session_info"):
        return
    lock, by_session = _jobs_by_session()
    with lock:
        gone = [s for s in by_session if sessions.get_session_info(s) is None]
        abandoned = [job for s in gone for job in by_session.pop(s)]
        for jobs in by_session.values():
            jobs[:] = [job for job in jobs if not job.released]
    if abandoned:
        _sweeper().submit(tasks.forget, abandoned).add_done_callback(_log_failure)


def keep_jobs(state_key: str, batch: dict) -> None:
    """Keeps a new batch (a dict with "jobs", the page's own fields beside) under ``state_key`` for
    follow_jobs. The batch it replaces is cancelled, only now that the new one is queued: a task both
    ask for (the same calculation, a shared task) goes on."""
    previous = st.session_state.get(state_key)
    st.session_state[state_key] = batch
    _remember(batch["jobs"])
    if previous is not None:
        tasks.cancel(previous["jobs"])


def cancel_button(state_key: str, button_key: str, slot) -> bool:
    """Draws a Cancel button in ``slot`` (an st.empty(), emptied by the caller once the jobs are done)
    while jobs are kept under ``state_key``; on a click cancels them, forgets them and says so in its
    place. True when there is nothing (left) to follow."""
    pending = st.session_state.get(state_key)
    if pending is None:
        return True
    if slot.button(
        "Cancel", key=button_key, help="Stops these calculations (running ones at their next iteration)"
    ):
        tasks.cancel(pending["jobs"])
        st.session_state.pop(state_key, None)
        slot.info("Cancelled.")
        return True
    return False


def follow(
    jobs: list[tasks.Job],
    on_event: Callable[[dict], None],
    queue_line: DeltaGenerator,
    estimate: float | None = None,
    since: float | None = None,
) -> None:
    """Waits for ``jobs``, handing each progress message (run_scf's iteration dicts and outcome
    messages, each with a "task" label) to ``on_event`` and keeping the queue line (queue_text) in
    ``queue_line``, an st.empty() emptied at the end."""
    while True:
        for job in jobs:
            for event in tasks.drain(job):
                on_event(event)
        if all(job.done() for job in jobs):
            break
        queue_line.caption(queue_text(jobs, estimate, since))
        time.sleep(POLL_SECONDS)
    queue_line.empty()


def queue_text(jobs: list[tasks.Job], estimate: float | None = None, since: float | None = None) -> str:
    """The queue line: "Queue: 0 of 2 done, 1 running, 1 queued; 2 workers", with the time so far
    (since: a time.time()) and the expected time (estimate, seconds) when known."""
    text = "Queue: " + tasks.describe(tasks.status(jobs))
    if since is not None:
        text += f". {duration(time.time() - since)} so far"
    if estimate is not None:
        text += f", expected about {duration(estimate)} in all"
    return text


def _expected(seconds: float | None) -> str:
    return "" if seconds is None else f" (expected about {duration(seconds)})"


def batch_label(batch: dict) -> str:
    """The status heading of a kept batch: "Running DM21, B3LYP (expected about 8 s)"."""
    names = list(dict.fromkeys(job.label for job in batch["jobs"]))
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"Running {shown}" + _expected(batch.get("estimate"))


def status_progress(
    status,
    on_iteration: Callable[[dict], None] | None = None,
    on_message: Callable[[dict], None] | None = None,
) -> Callable[[dict], None]:
    """A progress function for follow(): every SCF iteration sets the label of ``status`` (an
    st.status) to "task — stage: iteration n, E = ... Ha" and then goes to ``on_iteration``; every
    other message (a point's, a step's or a job's outcome, waiting for another session) is written
    into it and then goes to ``on_message``."""

    def progress(event: dict) -> None:
        if "cycle" in event:
            task, stage = event["task"], event["stage"]
            where = task if stage == task else f"{task} — {stage}"
            status.update(label=f"{where}: iteration {event['cycle']}, E = {event['energy']:.8f} Ha")
            if on_iteration is not None:
                on_iteration(event)
        else:
            energy, gradient = event.get("energy"), event.get("max_gradient")
            text = f"{event['task']}: {event['stage']}" + (f" {event['step']}" if "step" in event else "")
            text += "" if energy is None else f", E = {energy:.8f} Ha"
            text += "" if gradient is None else f", max |gradient| {gradient:.1e} Ha/bohr"  # a geometry step
            status.write(text)
            if on_message is not None:
                on_message(event)

    return progress


def follow_jobs(
    state_key: str,
    button_key: str,
    collect: Callable[[dict], object],
    *,
    label: str | None = None,
    expanded: bool = False,
    on_iteration: Callable[[dict], None] | None = None,
    on_message: Callable[[dict], None] | None = None,
    transient: bool = False,
    slots: tuple[DeltaGenerator, DeltaGenerator] | None = None,
):
    """Follows the jobs kept under ``state_key`` (a dict with "jobs", put there by the Run button)
    in an st.status headed ``label`` (default: batch_label), under the Cancel button and the queue
    line (in ``slots``, two st.empty(), when given), then forgets them (``transient``: the status
    goes too). Returns ``collect(the kept dict)``, which reads the jobs' results, once all are done;
    None when nothing is kept, on Cancel, or on an ExplorerError (shown as one line)."""
    # Cancel, then the queue line (outside the status: collapsed, the status would hide it), then the
    # status, whose list of finished steps grows downwards: the first two stay where the user looks.
    slot, queue_line = slots or (st.empty(), st.empty())
    if cancel_button(state_key, button_key, slot):
        return None
    pending = st.session_state[state_key]
    box = st.empty()
    estimate, since = pending.get("estimate"), pending.get("submitted")
    queue_line.caption(queue_text(pending["jobs"], estimate, since))
    with box.status(label or batch_label(pending), expanded=expanded) as status:
        try:
            progress = status_progress(status, on_iteration, on_message)
            follow(pending["jobs"], progress, queue_line, estimate, since)
            value, failure = collect(pending), None
        except ExplorerError as err:
            value, failure = None, str(err)
            tasks.forget(pending["jobs"])  # the batch's other jobs, finished or not
            status.update(label="failed", state="error")
        else:
            status.update(label="done", state="complete", expanded=False)
    st.session_state.pop(state_key, None)
    slot.empty()
    if transient:
        box.empty()
    if failure is not None:
        st.error(failure)
    return value


def run_batch(
    prefix: str,
    submit: Callable[[], dict | None] | None,
    collect: Callable[[dict], dict],
    *,
    label: str = "Run",
    disabled: bool = False,
    start: bool = False,
    expanded: bool = False,
    live: Callable[[dict, DeltaGenerator], None] | None = None,
    live_messages: bool = False,
) -> dict | None:
    """A calculation page's Run block; its session-state keys start with ``prefix``. Returns the
    page's last result (kept under ``{prefix}_last``; None before the first) for the page to draw.

    Draws the primary button ``label`` (key ``{prefix}_run``; none when ``submit`` is None: the
    input is not complete). On a click, or with ``start`` (a demo asking to run), unless
    ``disabled``: ``submit()`` checks the input, puts the jobs on the cluster and returns the batch,
    a dict with "jobs" and whatever ``collect`` needs (None: nothing to run); an ExplorerError it
    raises is shown as one line and nothing is queued. The batch is kept under ``{prefix}_jobs``
    (keep_jobs) and followed, on this and later runs of the page, with a Cancel button
    ``{prefix}_cancel`` (follow_jobs, the progress box ``expanded`` or not); once all its jobs are
    done, ``collect(batch)`` reads their results and returns the page's new last result (an
    ExplorerError it raises is shown instead). ``live(event, slot)`` draws each SCF iteration into
    ``slot``, a placeholder under the progress box, emptied once the new result is kept (with
    ``live_messages``, every other message too, e.g. an optimisation's steps). Run, Cancel
    and the queue line (with the expected time, ESTIMATE_KEY) share one row above them."""
    # Run, Cancel and the queue line in one row: where the user just clicked, whatever grows below.
    run_column, cancel_column, queue_column = st.columns([2, 1, 5], vertical_alignment="center")
    slots = (cancel_column.empty(), queue_column.empty())
    clicked = submit is not None and run_column.button(
        label, type="primary", disabled=disabled, key=f"{prefix}_run"
    )
    panel = st.container()  # the status
    slot = st.empty() if live is not None else None  # the live chart, under the status
    if (clicked or start) and submit is not None and not disabled:
        estimate = st.session_state.get(ESTIMATE_KEY)
        # Shown before anything is sent: the first submission may wait for the cluster to start.
        slots[1].caption("Sending the calculations to the workers" + _expected(estimate) + "…")
        try:
            batch = submit()
        except ExplorerError as err:
            slots[1].empty()
            panel.error(str(err))
        else:
            if batch is None:  # nothing to run
                slots[1].empty()
            else:
                keep_jobs(f"{prefix}_jobs", {"estimate": estimate, "submitted": time.time()} | batch)
    with panel:
        result = follow_jobs(
            f"{prefix}_jobs",
            f"{prefix}_cancel",
            collect,
            expanded=expanded,
            on_iteration=None if live is None else (lambda event: live(event, slot)),
            on_message=(lambda event: live(event, slot)) if live is not None and live_messages else None,
            slots=slots,
        )
    if result is not None:
        if slot is not None:
            slot.empty()
        st.session_state[f"{prefix}_last"] = result
    return st.session_state.get(f"{prefix}_last")


@st.cache_resource
def _finished() -> tuple[threading.Lock, OrderedDict]:
    """Values of finished view tasks, by request digest, oldest first, shared by all sessions."""
    return threading.Lock(), OrderedDict()


def _digest(function: Callable, kwargs: dict) -> str:
    text = pickle.dumps((function.__module__, function.__qualname__, sorted(kwargs.items())), protocol=5)
    return hashlib.sha256(text).hexdigest()


def task_value(state_key: str, function: Callable, kwargs: dict, label: str):
    """The value of ``function(store=..., progress=..., **kwargs)`` computed as a task on the
    cluster (tasks.fan_out) and followed here (follow_jobs); None if it failed (the error shown) or
    was cancelled (a button then offers to compute it again). The job is kept under ``state_key``
    until done, so it survives reruns; asking for another request under the same key cancels the
    old one. Finished values are kept for all sessions of this server: identical requests are
    computed once, and reruns redraw at once."""
    digest = _digest(function, kwargs)
    lock, finished = _finished()
    with lock:
        if digest in finished:
            finished.move_to_end(digest)
            return finished[digest]
    stopped = f"{state_key}_cancelled"
    if st.session_state.get(stopped) == digest:
        if not st.button(f"Compute {label}", key=f"{state_key}_again"):
            return None
        st.session_state.pop(stopped)
    pending = st.session_state.get(state_key)
    if pending is None or pending["digest"] != digest:
        # keep_jobs cancels an older request under this key, not wanted any more.
        keep_jobs(state_key, {"digest": digest, "jobs": tasks.fan_out(function, [kwargs], labels=[label])})
    button_key = f"{state_key}_cancel"
    value = follow_jobs(
        state_key,
        button_key,
        lambda batch: tasks.result(batch["jobs"][0]),
        label=f"Computing {label}…",
        transient=True,
    )
    if value is None:
        if st.session_state.get(button_key):  # cancelled in this run: not asked for again by itself
            st.session_state[stopped] = digest
        return None
    with lock:
        finished[digest] = value
        while len(finished) > KEPT_VALUES:
            finished.popitem(last=False)
    return value
