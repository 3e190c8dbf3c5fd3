"""The shared results store (explorer.runs.store_service): one store process, a Dask actor, serving
tasks on workers that cannot open the database themselves. A real LocalCluster of two single-threaded
worker processes reached through its address (as a remote scheduler is), real SQLite, real PySCF."""

import logging
import sqlite3
import sys
import threading
import time

import cloudpickle
import dask
import numpy as np
import pytest

from explorer.chem.molecules import parse_atoms
from explorer.engine.grids import GridSpec
from explorer.errors import ExplorerError
from explorer.runs import tasks
from explorer.runs.cached import run_scf_stored
from explorer.runs.store import ResultsStore
from explorer.runs.store_service import RemoteStore

H2 = "H 0 0 0; H 0 0 0.74"
# Functions of this file run on the workers (client.run), which cannot import the test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two single-threaded worker processes on 127.0.0.1 (started once here)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
        env=tasks._worker_env(threads=1, workers=2),
    ) as running:
        yield running
    tasks.shutdown()


@pytest.fixture
def shared(cluster, tmp_path, monkeypatch):
    """Shared-store mode against ``cluster`` as a remote scheduler, a fresh database; yields its path."""
    db = tmp_path / "shared.sqlite3"
    monkeypatch.setenv("DM21_EXPLORER_DB", str(db))
    monkeypatch.setenv("DM21_EXPLORER_SCHEDULER", cluster.scheduler_address)
    monkeypatch.setenv("DM21_EXPLORER_SHARED_STORE", "1")
    monkeypatch.delenv("DM21_EXPLORER_STORE_WORKER", raising=False)
    tasks.shutdown()  # a client of an earlier test (or store process of another database) is not reused
    yield db
    tasks.shutdown()


def _forbid_sqlite() -> None:
    """Runs on a worker: from now on every SQLite database this process opens fails to open."""

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("unable to open database file (refused on this worker by the test)")

    sqlite3._test_saved_connect = getattr(sqlite3, "_test_saved_connect", sqlite3.connect)
    sqlite3.connect = refuse


def _allow_sqlite() -> None:
    sqlite3.connect = getattr(sqlite3, "_test_saved_connect", sqlite3.connect)


def test_a_worker_without_the_database_stores_and_finds_results_through_the_store_process(
    shared, monkeypatch
):
    """Fails if the task opened the database on its own worker (SQLite is refused there), if the
    result did not reach the store process's database, or if it did not round-trip exactly."""
    c = tasks.client()
    store = tasks._store_for_tasks(c)
    assert isinstance(store, RemoteStore)
    assert tasks._store_for_tasks(c) is store  # started once per client, then reused
    other = next(w for w in c.scheduler_info()["workers"] if w != store.worker)
    h2 = parse_atoms(H2, basis="sto-3g")
    c.run(_forbid_sqlite, workers=[other])
    try:

        def run_on_other(grid_level: int):
            with dask.annotate(workers=[other], allow_other_workers=False):
                job = tasks.submit_scf(h2, "B3LYP", grid=GridSpec(level=grid_level))
            job.future.result(timeout=120)
            ran_on = c.who_has([job.future])[job.key]
            return tasks.result(job), ran_on

        (result, cached, _), ran_on = run_on_other(1)
        assert list(ran_on) == [other] and not cached and result.converged
        rows = ResultsStore(shared).list()  # a plain store of the file, in this process
        assert len(rows) == 1 and rows[0]["energy"] == result.energy  # exact: the same float stored
        stored = ResultsStore(shared).get(rows[0]["key"])
        np.testing.assert_array_equal(stored["dm"], result.dm)
        (again, cached, _), ran_on = run_on_other(1)
        assert list(ran_on) == [other] and cached and again.energy == result.energy
        np.testing.assert_array_equal(again.dm, result.dm)

        # The control: without the store process, the same worker cannot open the database at all.
        monkeypatch.delenv("DM21_EXPLORER_SHARED_STORE")
        with pytest.raises(ExplorerError, match="refused on this worker"):
            run_on_other(2)
    finally:
        c.run(_allow_sqlite, workers=[other])


def test_two_identical_requests_through_the_store_process_compute_once(shared):
    """Two threads ask for the same new SCF through RemoteStores of one store process. The one that
    computes waits (in its first SCF iteration) until the other has started waiting for the claim,
    so the two surely overlap. Fails if claims did not work through the actor: both would claim,
    neither would wait, and both would compute (cached False twice)."""
    store = tasks._store_for_tasks(tasks.client())
    h2 = parse_atoms(H2, basis="sto-3g")
    someone_waits = threading.Event()
    outcomes, errors = [], []

    def ask():
        def iteration(message):
            someone_waits.wait(30)

        try:
            remote = RemoteStore(store._actor, store.worker, str(store.path))
            outcomes.append(
                run_scf_stored(
                    h2,
                    "B3LYP",
                    remote,
                    grid=GridSpec(level=1),
                    callback=iteration,
                    on_wait=lambda holder: someone_waits.set(),
                )
            )
        except Exception as err:  # reported below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not errors and len(outcomes) == 2
    assert sorted(cached for _, cached in outcomes) == [False, True]
    assert outcomes[0][0].energy == outcomes[1][0].energy
    assert len(ResultsStore(shared).list()) == 1
    assert store.holder(ResultsStore(shared).list()[0]["key"]) is None  # released


def test_a_claim_whose_holder_stopped_renewing_is_taken_over_after_its_lease(shared):
    """A claim taken through the store process and never renewed (its holder died) is taken over
    once ``lease`` seconds passed, not before; a holder that renews keeps it past the lease. Fails
    if takeover did not work through the actor (waits to the end), if a live claim were taken
    (renewals not reaching the actor), or if the lease were ignored (taken at once)."""
    store = tasks._store_for_tasks(tasks.client())
    assert store.try_claim("dead", "a worker that died", "another-host", 12345)
    waits = []
    start = time.monotonic()
    with store.exclusive("dead", on_wait=waits.append, poll=0.05, lease=1.0):
        took = time.monotonic() - start
        assert store.holder("dead")["host"] != "another-host"
    assert 0.7 < took < 10 and len(waits) == 1 and waits[0]["owner"] == "a worker that died"
    assert store.holder("dead") is None

    holding, done = threading.Event(), threading.Event()

    def live_holder():
        with store.exclusive("live", heartbeat=0.1):
            holding.set()
            done.wait(30)

    holder = threading.Thread(target=live_holder, daemon=True)
    holder.start()
    assert holding.wait(30)
    stop_after = time.monotonic() + 2.5

    class Stop(Exception):
        pass

    def check():
        if time.monotonic() > stop_after:
            raise Stop

    with pytest.raises(Stop):  # 2.5 s of waiting, five leases of 0.5 s: the claim stayed its holder's
        with store.exclusive("live", poll=0.05, lease=0.5, check=check):
            pass
    done.set()
    holder.join(30)
    assert store.holder("live") is None  # released by its holder


def test_no_worker_for_the_store_process_is_a_one_line_error(shared, monkeypatch):
    """Naming a worker that is not there fails before anything is submitted, in one line (fails if
    the name were ignored, the mode were off, or the error were a traceback from Dask)."""
    monkeypatch.setenv("DM21_EXPLORER_STORE_WORKER", "tcp://127.0.0.1:9")
    h2 = parse_atoms(H2, basis="sto-3g")
    with pytest.raises(ExplorerError) as caught:
        tasks.submit_scf(h2, "B3LYP", grid=GridSpec(level=1))
    message = str(caught.value)
    assert "DM21_EXPLORER_STORE_WORKER=tcp://127.0.0.1:9 is not a worker" in message and "\n" not in message
    assert not tasks._holders  # nothing was submitted


def test_the_settings_are_parsed_and_the_local_cluster_keeps_opening_the_file(monkeypatch, tmp_path):
    """Bad values are one-line InputErrors naming the variable; without a remote scheduler the mode
    is off (tasks get the path). Fails if a typo silently switched the mode off or on."""
    from explorer import settings
    from explorer.errors import InputError

    monkeypatch.setenv("DM21_EXPLORER_SHARED_STORE", "yes please")
    with pytest.raises(InputError, match="DM21_EXPLORER_SHARED_STORE must be 1 or 0"):
        settings.shared_store()
    monkeypatch.setenv("DM21_EXPLORER_STORE_WORKER", "127.0.0.1:8786")
    with pytest.raises(InputError, match="DM21_EXPLORER_STORE_WORKER must be a worker address"):
        settings.store_worker()
    monkeypatch.setenv("DM21_EXPLORER_SHARED_STORE", "1")
    monkeypatch.delenv("DM21_EXPLORER_SCHEDULER", raising=False)
    monkeypatch.setenv("DM21_EXPLORER_DB", str(tmp_path / "local.sqlite3"))
    assert settings.shared_store() and tasks._store_for_tasks(None) == str(tmp_path / "local.sqlite3")


def test_when_the_store_process_dies_calls_fail_in_one_line_and_the_next_submission_starts_another(shared):
    """The worker holding the store process exits: a store call fails at once with a one-line
    ExplorerError (not a hang, not a Dask traceback), and the next submission starts a new store
    process on a live worker, which serves the results already in the database. Fails if the dead
    store were reused or the call waited for its timeout. Last in this file: it kills a worker."""
    c = tasks.client()
    h2 = parse_atoms(H2, basis="sto-3g")
    first, cached, _ = tasks.result(tasks.submit_scf(h2, "B3LYP", grid=GridSpec(level=1)), timeout=120)
    store = tasks._store_for_tasks(c)
    c.run(lambda: threading.Timer(0.2, lambda: __import__("os")._exit(1)).start(), workers=[store.worker])
    deadline = time.monotonic() + 30
    while store.worker in c.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.1)
    start = time.monotonic()
    with pytest.raises(ExplorerError) as caught:
        store.get("anything")
    assert time.monotonic() - start < 10 and "\n" not in str(caught.value)
    assert "results store process" in str(caught.value)
    again = tasks._store_for_tasks(c)
    assert again is not store and again.worker in c.scheduler_info()["workers"]
    result, cached, _ = tasks.result(tasks.submit_scf(h2, "B3LYP", grid=GridSpec(level=1)), timeout=120)
    assert cached and result.energy == first.energy
