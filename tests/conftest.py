"""Shared fixtures: small molecules and grids so the suite stays fast on 2 cores."""

import logging
import os
import time

import pytest
from pyscf import gto

logging.getLogger("absl").setLevel(logging.ERROR)

WATER = "O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587"


@pytest.fixture(scope="session")
def water_631g():
    return gto.M(atom=WATER, basis="6-31g", verbose=0)


@pytest.fixture(scope="session")
def carbon_triplet():
    return gto.M(atom="C 0 0 0", basis="sto-3g", spin=2, verbose=0)


@pytest.fixture(scope="module")
def store(tmp_path_factory, request):
    """A results store of the test module's own, shared by its tests (computed once per module)."""
    from explorer.runs.store import ResultsStore

    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    return ResultsStore(folder / "results.sqlite3")


@pytest.fixture(autouse=True, scope="session")
def private_results_database(tmp_path_factory):
    """Every test (and CLI subprocess) uses a fresh results database, never the user's."""
    path = tmp_path_factory.mktemp("store") / "results.sqlite3"
    saved = os.environ.get("DM21_EXPLORER_DB")
    os.environ["DM21_EXPLORER_DB"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("DM21_EXPLORER_DB", None)
    else:
        os.environ["DM21_EXPLORER_DB"] = saved


@pytest.fixture
def cli_runs_meeting_at_a_claim():
    """Runs ``n`` copies of a CLI command that all ask for the request with store key ``key`` in the
    database ``db``, so that they truly overlap: the test holds the request's claim until every
    process has said it waits for it, then lets go. Returns [(returncode, stdout, stderr)]."""
    import subprocess
    import threading

    from explorer.runs.store import ResultsStore

    def run(args, env, n, db, key, seconds=180):
        procs = []
        errors = [[] for _ in range(n)]
        with ResultsStore(db).exclusive(key):
            for i in range(n):
                pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
                proc = subprocess.Popen(args, text=True, env=env, **pipes)
                reader = threading.Thread(target=lambda p=proc, e=errors[i]: e.extend(p.stderr), daemon=True)
                reader.start()
                procs.append((proc, reader))
            deadline = time.monotonic() + seconds
            while not all(any("waiting for the same calculation" in line for line in e) for e in errors):
                assert time.monotonic() < deadline, f"not every process waited: {errors}"
                assert all(p.poll() is None for p, _ in procs), f"a process ended first: {errors}"
                time.sleep(0.1)
        outcomes = []
        for (proc, reader), error in zip(procs, errors, strict=True):
            out = proc.stdout.read()
            proc.wait(timeout=seconds)
            reader.join(timeout=10)
            outcomes.append((proc.returncode, out, "".join(error)))
        return outcomes

    return run
