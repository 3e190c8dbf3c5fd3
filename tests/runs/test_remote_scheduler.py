"""explorer.runs.tasks on a remote Dask scheduler ($DM21_EXPLORER_SCHEDULER): a real scheduler and one
worker started here as separate processes on 127.0.0.1, reached only through their address."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer.chem.molecules import parse_atoms
from explorer.engine.grids import GridSpec
from explorer.engine.scf import run_scf
from explorer.runs import tasks
from explorer.runs.store import ResultsStore

WATER = "O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587"
DASK = [sys.executable, "-m", "dask"]


def _wait_for(condition, seconds: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
            pytest.fail(f"{what} within {seconds:g} s\n{tails}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def remote_cluster(tmp_path, monkeypatch):
    """A scheduler and one single-threaded worker (no nanny, so the worker is the process started
    here) as subprocesses; yields (scheduler address, worker process); both are always stopped."""
    db = tmp_path / "remote.sqlite3"
    monkeypatch.setenv("DM21_EXPLORER_DB", str(db))  # tasks pass this path to the worker
    scheduler_file = tmp_path / "scheduler.json"
    logs = [tmp_path / "scheduler.log", tmp_path / "worker.log"]
    procs = []
    try:
        with logs[0].open("w") as log:
            procs.append(
                subprocess.Popen(
                    DASK + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                    + ["--scheduler-file", str(scheduler_file)],
                    stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                )
            )  # fmt: skip
        _wait_for(scheduler_file.exists, 30, "the scheduler wrote no scheduler file", logs)
        _wait_for(lambda: "address" in scheduler_file.read_text(), 10, "no address", logs)
        address = json.loads(scheduler_file.read_text())["address"]
        # The environment the local cluster gives its workers (one thread each), plus the DB path.
        env = dict(os.environ) | tasks._worker_env(threads=1, workers=1)
        with logs[1].open("w") as log:
            procs.append(
                subprocess.Popen(
                    DASK + ["worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1"]
                    + ["--nthreads", "1", "--nworkers", "1", "--no-nanny", "--no-dashboard"]
                    + ["--local-directory", str(tmp_path / "worker")],
                    stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
                )
            )  # fmt: skip
        monkeypatch.setenv("DM21_EXPLORER_SCHEDULER", address)
        tasks.shutdown()  # a client cached by an earlier test would be reused otherwise
        yield address, procs[1], db, logs
    finally:
        tasks.shutdown()
        for proc in reversed(procs):  # the worker first, so it does not try to reconnect
            _stop(proc)


def test_scf_runs_on_remote_scheduler(remote_cluster):
    """A B3LYP and a DM21 SCF submitted through explorer.runs.tasks run on the remote worker (its
    process, found via the scheduler) and give the energies of run_scf in this process for the same
    request: 1e-8 Ha allows for the worker's single-threaded summation order (the SCFs converge to
    1e-9 Ha, as in tests/runs/test_load.py)."""
    address, worker_proc, db, logs = remote_cluster
    client = tasks.client()
    assert client.scheduler.address == address  # connected to our scheduler, no local cluster
    assert tasks._cluster is None
    _wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, 30, "the worker did not join", logs)
    (worker_address,) = client.scheduler_info()["workers"]
    # The worker is the process started by the fixture (--no-nanny: no child process in between).
    assert client.run(os.getpid) == {worker_address: worker_proc.pid}

    h2o = parse_atoms(WATER, basis="sto-3g")
    h2 = parse_atoms("H 0 0 0; H 0 0 0.74", basis="sto-3g")
    requests = [
        {"molecule": h2o, "functional": "B3LYP", "grid": GridSpec(level=1)},
        {"molecule": h2, "functional": "DM21", "grid": GridSpec(level=1)},
    ]
    jobs = [tasks.submit_scf(**r) for r in requests]
    _wait_for(lambda: all(j.done() for j in jobs), 120, "the jobs did not finish", logs)
    # Where each result lives (asked before tasks.result releases it): on the remote worker.
    holders = client.who_has([j.future for j in jobs])
    assert {j.key: list(holders[j.key]) for j in jobs} == {j.key: [worker_address] for j in jobs}
    outcomes = [tasks.result(j, timeout=10) for j in jobs]
    # Progress came back from the remote worker over the event topic.
    assert all(j.started for j in jobs)

    for request, (remote, cached, _) in zip(requests, outcomes, strict=True):
        assert not cached and remote.converged
        local = run_scf(**request)
        assert local.converged
        assert remote.energy == pytest.approx(local.energy, abs=1e-8)
    # The worker stored both results in the database whose path the client passed to it.
    assert len(ResultsStore(db).list()) == 2
