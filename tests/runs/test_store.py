"""Results store: a real SQLite file, canonical keys, round trips, and the CLI's cached answers."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from explorer.chem.molecules import from_library, from_smiles, parse_atoms
from explorer.engine.grids import GridSpec
from explorer.errors import ExplorerError
from explorer.runs.cached import run_scf_stored
from explorer.runs.request import canonical_request, request_key, scf_request
from explorer.runs.store import ResultsStore

WATER = "O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587"


def _key(molecule, functional="DM21", grid=None):
    return request_key(
        canonical_request(molecule, functional, "RKS", (grid or GridSpec()).as_dict(), "B3LYP")
    )


def test_keys_follow_every_input_that_changes_numbers():
    water = parse_atoms(WATER, basis="sto-3g")
    same = parse_atoms(WATER.replace("0.757", "0.75700000001"), basis="STO-3G")
    assert _key(water) == _key(same)  # below 1e-8 A and basis case do not matter
    assert _key(water) != _key(parse_atoms(WATER, basis="6-31g"))
    assert _key(water) != _key(water, "DM21m")
    assert _key(water) != _key(water, grid=GridSpec(level=4))
    assert _key(water) != _key(parse_atoms(WATER.replace("0.757", "0.758"), basis="sto-3g"))


def test_round_trip_list_and_delete(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite3")
    water = parse_atoms(WATER, basis="sto-3g")
    result, cached = run_scf_stored(water, "B3LYP", store, grid=GridSpec(level=1))
    assert not cached
    again, cached = run_scf_stored(water, "B3LYP", store, grid=GridSpec(level=1))
    assert cached and again.energy == result.energy and again.mo_energy == result.mo_energy
    np.testing.assert_array_equal(again.dm, result.dm)
    rows = store.list("H2O")
    assert len(rows) == 1 and rows[0]["energy"] == pytest.approx(result.energy, abs=0)
    assert store.list("PBE") == []
    dm21, _ = run_scf_stored(water, "DM21", store, grid=GridSpec(level=1), warm_start="b3lyp")
    assert run_scf_stored(water, "dm21", store, grid=GridSpec(level=1), warm_start="B3LYP")[1]
    store.delete(store.list("DM21")[0]["key"])
    store.delete(rows[0]["key"])
    assert store.list() == []


def test_corrupted_database_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ExplorerError, match="results database"):
        ResultsStore(path)


def test_old_database_is_migrated_once_by_concurrent_openers(tmp_path):
    # A database written before the name column existed, opened by 8 threads at once: exactly one adds
    # the column; none fails (CI once saw "duplicate column name" from two processes racing).
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE results (key TEXT PRIMARY KEY, created REAL NOT NULL, formula TEXT NOT NULL, "
            "functional TEXT NOT NULL, basis TEXT NOT NULL, request TEXT NOT NULL, "
            "result TEXT NOT NULL, dm BLOB)"
        )
        db.execute("INSERT INTO results VALUES ('k', 0, 'H2', 'PBE', 'sto-3g', '{}', '{}', NULL)")
    db.close()
    barrier, errors = threading.Barrier(8), []

    def open_store():
        barrier.wait()
        try:
            ResultsStore(path)
        except ExplorerError as err:
            errors.append(err)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    [row] = ResultsStore(path).list()
    assert (row["key"], row["name"], row["formula"], row["title"]) == ("k", "", "H2", "H2")


def test_request_keys_are_unchanged():
    """Readable names are stored beside a result, not in its request: the key of a request is the
    one earlier versions stored it under (pinned), so stored results keep being found."""
    water = parse_atoms(WATER, basis="sto-3g")
    request = canonical_request(water, "B3LYP", "RKS", GridSpec(level=1).as_dict(), None)
    assert request_key(request) == "a8901df4f45888651e59313dec25985ea03004cd4b9100b08d492cb99d16c6b1"


def test_old_rows_get_readable_searchable_names(tmp_path):
    """Issue 20 (7): a database written before titles were kept, with a SMILES molecule stored under
    its SMILES and an H2+ scan point labelled "H2 R=1.5 A": opened now, phenol is found as "phenol"
    and the scan point reads "H2+ R=1.5 A", charge +1; keys and requests are untouched."""
    path = tmp_path / "old.sqlite3"
    phenol = from_smiles("c1ccc(O)cc1", basis="sto-3g")
    h2_plus = parse_atoms("H 0 0 0; H 0 0 1.5", 1, 1, "sto-3g")
    rows = []
    for molecule, label in ((phenol, phenol.name), (h2_plus, "H2 R=1.5 A")):
        request, key = scf_request(molecule, "B3LYP")
        rows.append((key, request, label, molecule.formula()))
    with sqlite3.connect(path) as db:  # the schema before titles
        db.execute(
            "CREATE TABLE results (key TEXT PRIMARY KEY, created REAL NOT NULL, formula TEXT NOT NULL, "
            "functional TEXT NOT NULL, basis TEXT NOT NULL, request TEXT NOT NULL, "
            "result TEXT NOT NULL, dm BLOB, name TEXT NOT NULL DEFAULT '')"
        )
        for n, (key, request, label, formula) in enumerate(rows):
            db.execute(
                "INSERT INTO results VALUES (?, ?, ?, 'B3LYP', 'sto-3g', ?, '{\"energy\": -1.0}', NULL, ?)",
                (key, n, formula, json.dumps(request, sort_keys=True), label),
            )
    db.close()
    store = ResultsStore(path)
    [found] = store.list("phenol")
    assert (found["key"], found["title"], found["smiles"], found["formula"]) == (
        rows[0][0],
        "phenol",
        "Oc1ccccc1",
        "C6H6O",
    )
    assert [r["key"] for r in store.list("Oc1ccccc1")] == [rows[0][0]]
    [ion] = store.list("H2+")
    assert (ion["key"], ion["title"], ion["species"], ion["charge"], ion["spin"]) == (
        rows[1][0],
        "H2+ R=1.5 A",
        "H2+",
        1,
        1,
    )
    for key, request, _, _ in rows:
        assert store.request(key) == request and request_key(request) == key


def test_stored_results_are_searchable_by_name_formula_smiles_functional_and_basis(tmp_path):
    """A SMILES molecule run now is stored with its common name and canonical SMILES; History's
    search finds it by any of them, by what the user typed, and by functional and basis; an H2+
    scan point is stored as "H2+ R=... A"."""
    from explorer.analyses.fractional import DISSOCIATION_PRESETS, scan

    store = ResultsStore(tmp_path / "r.sqlite3")
    ethanol = from_smiles("OCC", basis="sto-3g")
    result, cached = run_scf_stored(ethanol, "B3LYP", store, grid=GridSpec(level=1))
    assert result.converged and not cached
    _, key = scf_request(ethanol, "B3LYP", grid=GridSpec(level=1))
    for search in ("ethanol", "ETHANOL", "OCC", "CCO", "C(O)C", "C2H6O", "b3lyp", "STO-3G"):
        assert [r["key"] for r in store.list(search)] == [key], search
    [row] = store.list("ethanol")
    assert (row["title"], row["species"], row["smiles"], row["charge"]) == ("ethanol", "C2H6O", "CCO", 0)
    assert row["energy"] == pytest.approx(result.energy, abs=0)
    assert store.list("phenol") == [] and store.list("%") == [] and store.list("_") == []

    preset = DISSOCIATION_PRESETS["H2+"]
    [point] = scan(
        preset["template"],
        [1.5],
        "B3LYP",
        store,
        charge=preset["charge"],
        spin=preset["spin"],
        kind=preset["kind"],
        basis="sto-3g",
        grid=GridSpec(level=1),
    )
    assert point["converged"]
    [ion] = store.list("H2+")
    assert (ion["title"], ion["species"], ion["charge"], ion["formula"]) == ("H2+ R=1.5 A", "H2+", 1, "H2")


def test_cli_second_identical_run_is_cached(tmp_path):
    env = dict(os.environ, DM21_EXPLORER_DB=str(tmp_path / "cli.sqlite3"))
    args = [
        sys.executable,
        "-m",
        "explorer",
        "scf",
        "--smiles",
        "OCC",
        "--basis",
        "sto-3g",
        "--functional",
        "B3LYP",
        "--json",
    ]
    runs = [subprocess.run(args, capture_output=True, text=True, env=env, timeout=300) for _ in range(2)]
    first, second = (json.loads(r.stdout) for r in runs)
    assert first["cached"] is False and second["cached"] is True
    assert second["energy"] == first["energy"] and first["converged"]
    no_cache = subprocess.run(args + ["--no-cache"], capture_output=True, text=True, env=env, timeout=300)
    assert json.loads(no_cache.stdout)["cached"] is False


def test_two_sessions_asking_for_the_same_new_calculation_compute_it_once(tmp_path):
    store = ResultsStore(tmp_path / "shared.sqlite3")
    water = parse_atoms(WATER, basis="sto-3g")
    start = threading.Barrier(2)
    outcomes, computed = [], []

    waited = threading.Event()

    def iteration(label):
        computed.append(label)
        # The computing session holds the claim until the other one has seen it and waits: the test
        # cannot pass by the two sessions happening to run one after the other.
        assert waited.wait(60), "the other session never waited for the claim"

    def session(label):
        start.wait()
        result, cached = run_scf_stored(
            water,
            "B3LYP",
            store,
            grid=GridSpec(level=1),
            callback=lambda entry: iteration(label),
            on_wait=lambda holder: waited.set(),
        )
        outcomes.append((cached, result.energy))

    threads = [threading.Thread(target=session, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(c for c, _ in outcomes) == [False, True]
    assert len(set(computed)) == 1  # SCF iterations ran in one session only
    assert outcomes[0][1] == outcomes[1][1]
    assert store._run("SELECT COUNT(*) FROM claims") == [(0,)]


def test_two_cli_processes_compute_once(tmp_path, cli_runs_meeting_at_a_claim):
    db = tmp_path / "cli.sqlite3"
    env = dict(os.environ, DM21_EXPLORER_DB=str(db))
    args = [sys.executable, "-m", "explorer", "scf", "--name", "water", "--basis", "6-31g"]
    args += ["--functional", "PBE", "--json"]
    _, key = scf_request(from_library("water", basis="6-31g"), "PBE")
    runs = cli_runs_meeting_at_a_claim(args, env, 2, db, key)  # both run at once, whatever the load
    assert [code for code, _, _ in runs] == [0, 0], runs
    outputs = [json.loads(out) for _, out, _ in runs]
    assert sorted(o["cached"] for o in outputs) == [False, True]
    assert outputs[0]["energy"] == outputs[1]["energy"]


def test_abandoned_claim_is_taken_over(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite3")
    water = parse_atoms(WATER, basis="sto-3g")
    request = canonical_request(water, "B3LYP", "RKS", GridSpec(level=1).as_dict(), None)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(finished.stdout)  # a process that has exited
    store._run(
        "INSERT INTO claims (key, owner, host, pid, started) VALUES (?, ?, ?, ?, ?)",
        (request_key(request), "crashed", socket.gethostname(), dead_pid, 0.0),
    )
    result, cached = run_scf_stored(water, "B3LYP", store, grid=GridSpec(level=1))
    assert not cached and result.converged
    assert store.get(request_key(request)) is not None


def _claimed_by_someone_else(store, key, host, pid, heartbeat_age):
    """A claim row as another process would leave it, its last heartbeat ``heartbeat_age`` s ago."""
    now = time.time()
    store._run(
        "INSERT INTO claims (key, owner, host, pid, started, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
        (key, "someone else", host, pid, now - heartbeat_age, now - heartbeat_age),
    )


def _finishes_within(seconds, call):
    """``call()`` in a thread; its return value if it ended within ``seconds``, else the test fails
    (the old store waited forever in these cases)."""
    out = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"still waiting after {seconds} s"
    return out[0]


@pytest.mark.parametrize(
    "host, pid",
    [
        (socket.gethostname(), os.getpid()),  # a PID that exists again after a restart (reused)
        ("another-host", 12345),  # claims from other hosts were trusted for 24 h
    ],
)
def test_a_claim_whose_heartbeat_stopped_expires_with_its_lease(tmp_path, host, pid):
    """Issue 17 (3): claims carry a lease renewed by a heartbeat; one not renewed for LEASE_SECONDS
    belongs to a dead process, whatever its PID or host."""
    from explorer.runs.store import LEASE_SECONDS

    store = ResultsStore(tmp_path / "r.sqlite3")
    water = parse_atoms(WATER, basis="sto-3g")
    request, key = scf_request(water, "B3LYP", grid=GridSpec(level=1))
    _claimed_by_someone_else(store, key, host, pid, heartbeat_age=LEASE_SECONDS + 1)
    result, cached = _finishes_within(
        60, lambda: run_scf_stored(water, "B3LYP", store, grid=GridSpec(level=1))
    )
    assert result.converged and not cached and store.get(key) is not None


def test_a_live_claim_is_renewed_and_waiting_for_it_can_be_stopped(tmp_path):
    """A holder's heartbeat keeps its claim alive past the lease; a waiter's ``check`` runs at every
    poll, so a cancelled or timed-out job stops waiting (it waited forever before)."""
    from explorer.runs import store as store_module

    store = ResultsStore(tmp_path / "r.sqlite3")
    holding, release = threading.Event(), threading.Event()

    def holder():
        with store.exclusive("k", heartbeat=0.05):
            holding.set()
            release.wait(10)

    threading.Thread(target=holder, daemon=True).start()
    assert holding.wait(10)
    first = store.holder("k")["heartbeat"]
    time.sleep(0.3)
    assert store.holder("k")["heartbeat"] > first  # renewed while held
    assert store_module._claim_alive(store.holder("k"))

    class Stop(Exception):
        pass

    polls = []

    def check():
        polls.append(1)
        if len(polls) >= 3:
            raise Stop

    def wait_then_stop():
        try:
            with store.exclusive("k", check=check, poll=0.05):
                return "got the claim"
        except Stop:
            return "stopped"

    assert _finishes_within(5, wait_then_stop) == "stopped"
    release.set()
