"""Calculations as tasks on Dask's distributed scheduler, for many sessions and batches at once.

By default an in-process ``distributed.LocalCluster`` is started on first use (worker processes
sized to the machine, each loading the DM21 networks once, since explorer.engine.network caches them per
process) and closed at exit; with ``$DM21_EXPLORER_SCHEDULER`` set (``tcp://host:8786``) the same
calls run on that scheduler's cluster instead. Workers there must have this package and the
checkpoints installed; they reach the results database (``$DM21_EXPLORER_DB``) either by opening
the same path themselves (the default: workers on this machine) or, with
``$DM21_EXPLORER_SHARED_STORE=1``, through one store process on a worker of this machine
(explorer.runs.store_service), for workers on other machines.

Identical requests are computed once: a task's Dask key is derived from the results store's request
key, so concurrent identical requests share one task, and the store's claims (explorer.runs.store) keep
two processes from computing the same thing. Every SCF job reports its iterations back (worker
events on the topic PROGRESS_TOPIC), can be cancelled (a client withdraws its own wish; once no
client wants the task, it stops at its next progress message) and stops with JobTimeout after the
per-job limit (explorer.settings.job_seconds).
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from explorer import functionals, settings
from explorer.chem.molecules import Molecule
from explorer.engine import interrupt
from explorer.engine.grids import GridSpec
from explorer.errors import ExplorerError
from explorer.functionals import Functional
from explorer.runs import store_service
from explorer.runs.cached import OUTCOMES, run_scf_reporting
from explorer.runs.request import array_digest, scf_request
from explorer.runs.store import ResultsStore, default_path

PROGRESS_TOPIC = "dm21-explorer-progress"
#: Seconds allowed for connecting to a remote scheduler or starting the local cluster.
CONNECT_SECONDS = 60


class JobTimeout(ExplorerError):
    """A job ran longer than the per-job time limit."""


class JobCancelled(ExplorerError):
    """A job was cancelled before it finished."""


@dataclass
class Job:
    """One submitted calculation: its Dask future, a label for messages, and progress messages
    (run_scf's callback dicts, with "task": label) collected as they arrive."""

    key: str
    label: str
    future: object
    messages: list = field(default_factory=list)
    cancelled: bool = False
    released: bool = False
    started: bool = False  # a worker has reported on it
    order: int = field(default_factory=lambda: next(_submitted))

    def done(self) -> bool:
        """True once the job finished, failed or was cancelled."""
        return self.cancelled or self.future.done()


_lock = threading.RLock()
_submitted = itertools.count()
_client = None
_cluster = None
#: Dask key -> jobs of this process holding it (identical requests share one task).
_holders: dict[str, list[Job]] = {}


def worker_layout(cores: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) of the local cluster: ``$DM21_EXPLORER_WORKERS`` single-threaded
    workers if set, else one single-threaded worker per core. One thread per worker because an SCF
    spends much of its time in Python (PySCF's loop, the GIL) and in single-threaded network calls:
    measured on 2 cores, two 1-thread workers finish a mixed batch faster than one 2-thread worker
    (README, "Running a class")."""
    n = settings.local_workers() or max(1, cores or os.cpu_count() or 1)
    return n, 1


def _worker_env(threads: int, workers: int) -> dict:
    """Environment of each worker process: thread pools sized so workers do not oversubscribe the
    cores, and a memory budget that is each worker's share of the engine's default."""
    # Not NUMBA_NUM_THREADS: the worker may import numba (explorer.engine.network does) before Dask applies
    # this environment, and numba then refuses to compile once its threads run with another count.
    # numba's loops follow OMP_NUM_THREADS at each call instead (features._use_threads).
    env = {
        name: str(threads)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
    }
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    budget = settings.memory_budget_set() or str(max(1500, settings.DEFAULT_MEMORY_MB // workers))
    return env | {settings.MEMORY_ENV: budget} | settings.worker_settings()


def client():
    """The process-wide Dask client, connecting or starting the cluster on first use (thread-safe)."""
    global _client, _cluster
    with _lock:
        if _client is not None and _client.status == "running":
            return _client
        import dask
        from distributed import Client, LocalCluster

        # Tasks beyond the free threads wait on the scheduler, in submission order, where their
        # queue position can be read (the default 1.1 would hand each worker one extra task).
        dask.config.set({"distributed.scheduler.worker-saturation": 1.0})
        # A task whose worker died fails at once with KilledWorker (shown as a one-line error; the
        # user asks again) instead of being retried silently up to three times on the next workers:
        # what kills a worker (memory, most often) kills the next one too.
        dask.config.set({"distributed.scheduler.allowed-failures": 0})
        address = settings.scheduler_address()
        try:
            if address:
                _client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
            else:
                workers, threads = worker_layout()
                _cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=threads,
                    processes=True,
                    # The scheduler's HTTP endpoints on loopback, on a free port: two clusters (the
                    # app's, a CLI run's) must not fight over Dask's default 8787.
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    # A failed task is reported once, as the caller's one-line error; the workers'
                    # own multi-line logs of it would break the CLI's one-line contract.
                    silence_logs=logging.CRITICAL,
                    env=_worker_env(threads, workers),
                )
                _client = Client(_cluster, set_as_default=False)
        except (OSError, TimeoutError) as err:
            where = address or "a local cluster"
            raise ExplorerError(f"cannot reach the Dask scheduler at {where}: {err}") from None
        _client.subscribe_topic(PROGRESS_TOPIC, _dispatch)
        return _client


def shutdown() -> None:
    """Closes the client and, if this process started it, the local cluster."""
    global _client, _cluster
    with _lock:
        closing, _client, _cluster = (_client, _cluster), None, None
        _holders.clear()
        store_service.forget()
    # Closed outside the lock: the client's event loop may be waiting for it (_dispatch).
    for thing in closing:
        if thing is not None:
            thing.close()


def _shutdown_at_exit() -> None:
    # At exit the streams the scheduler logs to may be closed already (pytest's capture, a server's).
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    shutdown()


atexit.register(_shutdown_at_exit)


def _dispatch(event) -> None:
    """Runs in the client's event loop: hands a worker's progress message to the jobs waiting on it."""
    _, message = event
    with _lock:
        jobs = list(_holders.get(message.get("key"), ()))
    for job in jobs:
        job.started = True
        job.messages.append({k: v for k, v in message.items() if k != "key"} | {"task": job.label})


def _key(prefix: str, payload) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return array_digest(x)
    if isinstance(x, GridSpec):
        return x.as_dict()
    if isinstance(x, Molecule):
        return {"atoms": x.atoms, "charge": x.charge, "spin": x.spin, "basis": x.basis.lower()}
    return repr(x)


def scf_key(molecule: Molecule, functional: Functional | str, **options) -> str:
    """The Dask key of an SCF request: the results store's key of the same request (the start
    density's digest included), so identical requests share one task and different ones never do."""
    return "scf-" + scf_request(molecule, functional, **options)[1][:40]


def _db_path() -> str:
    return str(default_path())


def _store_for_tasks(c) -> str | store_service.RemoteStore:
    """What this process's tasks are given to reach the results store (see _task_store): the
    database path, or with $DM21_EXPLORER_SHARED_STORE=1 on a remote scheduler the RemoteStore of the
    store process (started on first use; a one-line ExplorerError if it cannot be). The in-process
    local cluster always gets the path: its workers share this machine's disk, and a direct SQLite
    call is cheaper than a round trip to an actor."""
    if settings.shared_store() and settings.scheduler_address():
        return store_service.remote_store(c, _db_path())
    return _db_path()


def _task_store(where: str | store_service.RemoteStore) -> ResultsStore | store_service.RemoteStore:
    """Runs on a worker: the store a task uses, the one place this is decided: the database file
    at the path ``where`` opened here, or the store process's RemoteStore."""
    return ResultsStore(where) if isinstance(where, str) else where


class _Reporter:
    """Runs on a worker: a progress function that sends each message back to the client, then stops
    the job (raising from inside the SCF's iteration callback, a wait for another session's claim, or
    a map's stage message) if it was cancelled or ran longer than ``seconds``. A run's last message
    (its outcome) is sent without the check: the work is done by then."""

    def __init__(self, key: str, seconds: float | None):
        from distributed import get_worker

        self.key, self.seconds = key, seconds
        self._worker = get_worker()
        self._deadline = None if not seconds else time.monotonic() + seconds

    def __call__(self, message: dict) -> None:
        self._worker.log_event(PROGRESS_TOPIC, {"key": self.key, **message})
        if message.get("stage") not in OUTCOMES:
            self.check()

    def check(self) -> None:
        """Raises JobTimeout past the deadline, JobCancelled once the job was cancelled."""
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise JobTimeout(
                f"the calculation ran longer than the per-job limit of {self.seconds:g} s "
                f"(set {settings.JOB_SECONDS_ENV} to change it)"
            )
        # The scheduler marks a running task cancelled on its worker once no client wants it any more.
        task = self._worker.state.tasks.get(self.key)
        if task is None or task.state == "cancelled":
            raise JobCancelled("the calculation was cancelled")


def _scf_task(molecule, functional, options, where, key, seconds):
    """Runs on a worker: run_scf_stored through the results store (``where``: see _task_store),
    reporting every iteration and stopping at the next one on cancellation or after ``seconds``.
    Returns (Result, cached, run id)."""
    # The client labels each message with its job's name: the task name here is only the key.
    reporter = _Reporter(key, seconds)
    with interrupt.checking(reporter.check):  # also inside an iteration (explorer.engine.interrupt)
        result, cached = run_scf_reporting(molecule, functional, _task_store(where), key, reporter, **options)
    return result, cached, uuid.uuid4().hex


def _register(job: Job) -> Job:
    with _lock:
        _holders.setdefault(job.key, []).append(job)
    return job


def submit_scf(molecule: Molecule, functional: Functional | str, label: str = "", **options) -> Job:
    """Submits run_scf_stored(molecule, functional, store, **options) as a task; ``label`` names it
    in progress messages. Identical requests (same store key) share one task."""
    functional = functionals.resolve(functional)
    key = scf_key(molecule, functional, **options)
    c = client()
    where = _store_for_tasks(c)
    future = c.submit(
        _scf_task, molecule, functional, options, where, key, settings.job_seconds(), key=key, pure=False
    )
    return _register(Job(key, label or functional.name, future))


def _call_task(function, kwargs, where, key, seconds):
    """Runs on a worker: ``function(store=the results store, progress=..., **kwargs)`` (``where``:
    see _task_store), stopped at its next SCF iteration on cancellation or after ``seconds``."""
    reporter = _Reporter(key, seconds)
    with interrupt.checking(reporter.check):  # also inside an iteration (explorer.engine.interrupt)
        return function(store=_task_store(where), progress=reporter, **kwargs)


def fan_out(function: Callable, calls: list[dict], labels: list[str] | None = None) -> list[Job]:
    """Submits ``function(store=..., progress=..., **kwargs)`` for each kwargs of ``calls`` as an
    independent task (a scan or fractional curve per functional, a spin state). ``function`` must be
    importable on the workers (a module-level function of this package). Identical calls share a task."""
    c = client()
    where = _store_for_tasks(c)
    jobs = []
    for i, kwargs in enumerate(calls):
        name = f"{function.__module__}.{function.__qualname__}"
        key = _key(f"call-{function.__name__}", [name, kwargs])
        future = c.submit(
            _call_task, function, kwargs, where, key, settings.job_seconds(), key=key, pure=False
        )
        jobs.append(_register(Job(key, labels[i] if labels else name, future)))
    return jobs


def status(jobs: list[Job]) -> dict:
    """Where ``jobs`` stand: {"done", "running" (a worker has reported on them), "queued" (counts of
    these jobs), "ahead" (calculations of any session of this process submitted earlier and still
    waiting for a worker), "workers" (count)}."""
    c = client()
    done = sum(1 for j in jobs if j.done())
    running = sum(1 for j in jobs if j.started and not j.done())
    waiting = [j.order for j in jobs if not j.started and not j.done()]
    ahead = 0
    if waiting:
        with _lock:
            others = [j for holders in _holders.values() for j in holders]
        # One count per task: identical requests share one.
        ahead = len({j.key for j in others if j.order < min(waiting) and not (j.started or j.done())})
        ahead -= len({j.key for j in jobs if j.order < min(waiting) and not (j.started or j.done())})
    return {
        "done": done,
        "running": running,
        "queued": len(jobs) - done - running,
        "ahead": max(0, ahead),
        "workers": len(c.scheduler_info().get("workers", {})),
    }


def describe(state: dict) -> str:
    """A one-line summary of status(): "2 of 5 done, 1 running, 2 queued (3 ahead of them); 2 workers"."""
    total = state["done"] + state["running"] + state["queued"]
    text = f"{state['done']} of {total} done, {state['running']} running, {state['queued']} queued"
    if state["queued"] and state["ahead"]:
        text += f" ({state['ahead']} ahead of them)"
    return text + f"; {state['workers']} workers"


def cancel(jobs: list[Job]) -> None:
    """Cancels ``jobs``: queued tasks are dropped; a running SCF stops at its next iteration unless
    someone else still wants the same task: another session of this process, or another client of
    the scheduler (a CLI run, another app server). The scheduler knows who wants a task; this
    process withdraws only its own wish (Dask's cancel without force), and the worker stops the task
    when nobody wants it any more (``_Reporter.check``)."""
    for job in jobs:
        if job.done():
            continue
        job.cancelled = True
        with _lock:
            holders = _holders.get(job.key, [])
            if job in holders:
                holders.remove(job)
            last = not holders
        if last:
            job.future.cancel()


def forget(jobs: list[Job]) -> None:
    """Lets go of ``jobs`` whatever state they are in: cancels those still running (see cancel) and
    releases the finished ones (e.g. the rest of a batch whose first job failed)."""
    for job in jobs:
        if not job.done():
            cancel([job])
        release(job)


def drain(job: Job) -> list[dict]:
    """The progress messages received for ``job`` since the last call."""
    out, job.messages[:] = list(job.messages), []
    return out


def result(job: Job, timeout: float | None = None):
    """The job's return value (an SCF job: (Result, cached, run id)); raises its ExplorerError,
    JobCancelled if cancelled, or JobTimeout if ``timeout`` (seconds) passes first."""
    from distributed import TimeoutError as DaskTimeout

    if job.cancelled:
        raise JobCancelled("the calculation was cancelled")
    try:
        return job.future.result(timeout=timeout)
    except (DaskTimeout, TimeoutError):
        raise JobTimeout(f"{job.label}: no result within {timeout:g} s") from None
    except ExplorerError:
        raise
    except Exception as err:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        if isinstance(err, FutureCancelledError) or type(err).__name__ == "CancelledError":
            raise JobCancelled(f"{job.label}: the calculation was cancelled") from None
        if isinstance(err, KilledWorker):
            # Dask retried it on other workers; each died (out of memory, most often).
            raise ExplorerError(
                f"{job.label}: the workers running it died (out of memory?); try a smaller basis or "
                "molecule, or raise DM21_EXPLORER_MEMORY_MB on larger machines"
            ) from None
        raise
    finally:
        if job.future.done():
            release(job)


def release(job: Job) -> None:
    """Forgets ``job``: its result is dropped from the cluster once no job holds it, so a later
    identical request is answered by the results store, not by a finished task's memory."""
    with _lock:
        holders = _holders.get(job.key, [])
        if job in holders:
            holders.remove(job)
        if not holders:
            _holders.pop(job.key, None)
        if job.released:
            return
        job.released = True
    job.future.release()


def run_scf_tasks(requests: list[dict], progress: Callable[[dict], None] | None = None, poll: float = 0.2):
    """Runs SCF ``requests`` (dicts: molecule, functional, label and run_scf_stored options) as
    parallel tasks, telling ``progress`` each message; returns [(Result, cached)] in request order.
    The blocking counterpart of submit_scf for the CLI and scripts; cancels the rest on failure."""
    jobs = [submit_scf(**r) for r in requests]
    try:
        while not all(j.done() for j in jobs):
            for job in jobs:
                for message in drain(job):
                    if progress is not None:
                        progress(message)
            time.sleep(poll)
        outcomes = [result(j)[:2] for j in jobs]
        for job in jobs:
            for message in drain(job):
                if progress is not None:
                    progress(message)
        return outcomes
    except BaseException:
        cancel(jobs)
        raise
