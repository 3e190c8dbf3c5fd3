"""Many sessions at once on the task cluster (explorer.runs.tasks): a scan fanned out on two workers, a
bounded load test, queue position, cancel, the per-job time limit, and concurrent CLI runs."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from explorer.analyses import fractional
from explorer.chem.molecules import parse_atoms
from explorer.engine.grids import GridSpec
from explorer.runs import tasks
from explorer.runs.store import ResultsStore

WATER = "O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587"
H2PLUS = "H 0 0 0; H 0 0 {r}"


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """A fresh two-worker local cluster sharing a fresh results database, closed at the end."""
    saved = {k: os.environ.get(k) for k in ("DM21_EXPLORER_WORKERS", "DM21_EXPLORER_DB")}
    os.environ["DM21_EXPLORER_WORKERS"] = "2"
    os.environ["DM21_EXPLORER_DB"] = str(tmp_path_factory.mktemp("load") / "results.sqlite3")
    tasks.shutdown()
    client = tasks.client()
    yield client
    tasks.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _one_task_per_worker(cluster, function, calls: list[dict], labels: list[str]) -> list:
    """Runs ``function(**call)`` for each call as a task (tasks.fan_out), checks that the tasks ran on
    two different workers, and returns their results in order."""
    jobs = tasks.fan_out(function, calls, labels=labels)
    while not all(j.done() for j in jobs):
        time.sleep(0.2)
    holders = cluster.who_has([j.future for j in jobs])
    assert len({w for ws in holders.values() for w in ws}) == 2  # one task on each worker
    return [tasks.result(j) for j in jobs]


def test_scan_fans_out_on_two_workers(two_workers, tmp_path):
    """H2+ curves of two functionals as two tasks on two workers give the numbers of the same scans
    run one after the other in this process (same code and inputs; 1e-8 Ha allows for the workers'
    single-threaded summation order)."""
    values = [1.0, 2.0, 3.0]
    calls = [
        {"template": H2PLUS, "values": values, "functional": f, "charge": 1, "spin": 1, "basis": "sto-3g",
         "grid": GridSpec(level=1)}
        for f in ("B3LYP", "PBE")
    ]  # fmt: skip
    curves = _one_task_per_worker(two_workers, fractional.scan, calls, ["B3LYP", "PBE"])
    local = ResultsStore(tmp_path / "local.sqlite3")
    for call, curve in zip(calls, curves, strict=True):
        kwargs = {k: v for k, v in call.items()}
        expected = fractional.scan(store=local, **kwargs)
        assert [p["value"] for p in curve] == values
        for p, q in zip(curve, expected, strict=True):
            assert p["converged"] and q["converged"]
            assert p["energy"] == pytest.approx(q["energy"], abs=1e-8)
    # Stretched H2+ with B3LYP falls below the exact -0.5 Ha limit (delocalization error).
    assert curves[0][-1]["energy"] < -0.5


def test_fractional_curves_fan_out_on_two_workers(two_workers, tmp_path):
    """E(N) of the H atom for two functionals as two tasks on two workers (one task per curve: each
    point starts from its neighbour's density) gives the energies of fractional_charge run in this
    process on a fresh store. 1e-7 Ha allows for the workers' single-threaded summation order, which
    also moves each point's start density (its neighbour's); the SCFs converge to 1e-9 Ha."""
    h = parse_atoms("H 0 0 0", basis="6-31g")
    calls = [
        {"molecule": h, "functional": f, "points": 5, "grid": GridSpec(level=1)} for f in ("B3LYP", "DM21")
    ]
    curves = _one_task_per_worker(two_workers, fractional.fractional_charge, calls, ["B3LYP", "DM21"])
    local = ResultsStore(tmp_path / "local.sqlite3")
    for call, curve in zip(calls, curves, strict=True):
        expected = fractional.fractional_charge(store=local, **call)
        assert [p["n_electrons"] for p in curve] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
        for p, q in zip(curve, expected, strict=True):
            assert p["n_electrons"] == q["n_electrons"] and p["converged"] and q["converged"]
            assert not q["cached"]  # computed here, not read from the workers' store
            assert p["energy"] == pytest.approx(q["energy"], abs=1e-7)
    # B3LYP's delocalization error at half an electron (measured -43 mHa below the line in test_fractional).
    b3lyp = {p["n_electrons"]: p["energy"] for p in curves[0]}
    assert b3lyp[0.5] < (b3lyp[0.0] + b3lyp[1.0]) / 2 - 0.02


def _session(i: int, outcomes: list, errors: list, start: threading.Barrier) -> None:
    water = parse_atoms(WATER, basis="sto-3g")
    h2 = parse_atoms("H 0 0 0; H 0 0 0.74", basis="sto-3g")
    mine = parse_atoms(f"H 0 0 0; H 0 0 {0.60 + 0.02 * i:.2f}", basis="sto-3g")
    requests = [
        {"molecule": water, "functional": "B3LYP", "grid": GridSpec(level=1)},  # everyone
        {"molecule": h2, "functional": "PBE", "grid": GridSpec(level=1)},  # everyone
        {"molecule": mine, "functional": "B3LYP", "grid": GridSpec(level=1)},  # this session's own
        {"molecule": water, "functional": "DM21", "grid": GridSpec(level=1)},  # everyone, DM21
    ]
    start.wait()
    time.sleep(0.05 * (i % 4))  # some arrive while the task runs, some after it is stored
    try:
        jobs = [tasks.submit_scf(label=f"s{i}", **r) for r in requests]
        for job in jobs:
            result, cached, run_id = tasks.result(job, timeout=240)
            outcomes.append((job.key, run_id, cached, result.energy, result.converged))
    except Exception as err:  # counted, and the test fails on any
        errors.append(f"session {i}: {type(err).__name__}: {err}")


@pytest.mark.slow
def test_load_ten_sessions_compute_each_request_once(two_workers, capsys):
    n = 10
    outcomes, errors, start = [], [], threading.Barrier(n)
    stored_before = len(ResultsStore().list())
    sessions = [threading.Thread(target=_session, args=(i, outcomes, errors, start)) for i in range(n)]
    t0 = time.perf_counter()
    for s in sessions:
        s.start()
    for s in sessions:
        s.join(timeout=300)
    seconds = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nload test: {n} sessions, {len(outcomes)} jobs in {seconds:.1f} s = "
              f"{len(outcomes) / seconds:.2f} jobs/s, {len(errors)} errors")  # fmt: skip
    assert errors == []
    assert len(outcomes) == 4 * n
    keys = {key for key, *_ in outcomes}
    assert len(keys) == 3 + n
    computed = {}
    for key, run_id, cached, _, converged in outcomes:
        assert converged
        if not cached:
            computed.setdefault(key, set()).add(run_id)
    # Every distinct request was computed by exactly one task run; all others shared it or read it.
    assert set(computed) == keys and all(len(runs) == 1 for runs in computed.values())
    for key in keys:  # and every session got the same number for the same request
        assert len({energy for k, _, _, energy, _ in outcomes if k == key}) == 1
    assert len(ResultsStore().list()) - stored_before == len(keys)
    assert ResultsStore()._run("SELECT COUNT(*) FROM claims") == [(0,)]


def test_queue_position_cancel_and_time_limit(two_workers, monkeypatch):
    # Four distinct DM21 jobs on two single-threaded workers: two run, two wait in the queue.
    molecules = [
        parse_atoms(WATER.replace("0.587", f"{0.58 + 0.003 * i:.3f}"), basis="6-31g") for i in range(4)
    ]
    jobs = [
        tasks.submit_scf(m, "DM21", label=f"job {i}", grid=GridSpec(level=1)) for i, m in enumerate(molecules)
    ]
    # Another session's job, submitted after them, waits behind the two of them not yet running.
    other = tasks.submit_scf(molecules[0], "B3LYP", label="other session", grid=GridSpec(level=1))
    deadline = time.monotonic() + 120
    while tasks.status(jobs)["running"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    mine, theirs = tasks.status(jobs), tasks.status([other])
    assert (mine["running"], mine["queued"], mine["workers"]) == (2, 2, 2)
    assert (theirs["queued"], theirs["ahead"]) == (1, 2)
    assert tasks.describe(theirs) == "0 of 1 done, 0 running, 1 queued (2 ahead of them); 2 workers"
    tasks.cancel(jobs + [other])
    for job in jobs:
        with pytest.raises(tasks.JobCancelled):
            tasks.result(job)
    # The running SCFs stop at their next iteration: the workers are free and their claims released
    # well before the SCFs could have finished, and nothing is stored (had they gone on, both would be).
    _wait_until(lambda: not any(two_workers.processing().values()), 30, "the workers stopped")
    _wait_until(lambda: ResultsStore()._run("SELECT COUNT(*) FROM claims") == [(0,)], 30, "claims released")
    time.sleep(2.0)
    for job in jobs:
        assert not [k for k in _stored_keys() if k.startswith(job.key.removeprefix("scf-"))]
    # The cluster is free again, and a cancelled request can be asked for anew.
    again = tasks.submit_scf(molecules[0], "PBE", grid=GridSpec(level=1))
    assert tasks.result(again, timeout=120)[0].converged
    # The per-job time limit: a DM21 SCF (several seconds here) stops in the middle, at its first
    # iteration past one second, with a message naming the setting, and stores nothing.
    monkeypatch.setenv("DM21_EXPLORER_JOB_SECONDS", "1")
    late = tasks.submit_scf(molecules[1], "DM21", grid=GridSpec(level=1))
    with pytest.raises(tasks.JobTimeout, match="DM21_EXPLORER_JOB_SECONDS"):
        tasks.result(late, timeout=120)
    _wait_until(lambda: any("cycle" in m for m in late.messages), 10, "iterations before the limit")
    assert not [k for k in _stored_keys() if k.startswith(late.key.removeprefix("scf-"))]


def test_three_identical_concurrent_cli_runs_agree(tmp_path, cli_runs_meeting_at_a_claim):
    db = tmp_path / "cli.sqlite3"
    env = dict(os.environ, DM21_EXPLORER_DB=str(db))
    args = [sys.executable, "-m", "explorer", "scf", "--atoms", WATER, "--basis", "6-31g"]
    args += ["--functional", "B3LYP", "--json"]
    from explorer.runs.request import scf_request

    _, key = scf_request(parse_atoms(WATER, basis="6-31g"), "B3LYP")
    outputs = []
    for code, out, err in cli_runs_meeting_at_a_claim(args, env, 3, db, key):  # all three at once
        assert code == 0, err
        outputs.append(json.loads(out))
    assert sorted(o["cached"] for o in outputs) == [False, True, True]  # computed once
    assert len({o["energy"] for o in outputs}) == 1 and outputs[0]["converged"]
    # The same request through --cluster (its own local cluster, another database) agrees.
    env["DM21_EXPLORER_DB"] = str(tmp_path / "cluster.sqlite3")
    env["DM21_EXPLORER_WORKERS"] = "1"
    run = subprocess.run(args + ["--cluster"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    clustered = json.loads(run.stdout)
    assert clustered["cached"] is False
    assert clustered["energy"] == pytest.approx(outputs[0]["energy"], abs=1e-9)


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    tasks.shutdown()
    monkeypatch.setenv("DM21_EXPLORER_SCHEDULER", "tcp://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setattr(tasks, "CONNECT_SECONDS", 2)
    with pytest.raises(tasks.ExplorerError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        tasks.client()


def _stored_keys() -> list[str]:
    return [row[0] for row in ResultsStore()._run("SELECT key FROM results")]


def _wait_until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


def test_a_job_waiting_for_another_sessions_claim_can_be_cancelled(two_workers):
    """Issue 17 (3): cancel was checked only on SCF iterations, so a task waiting for another
    process's claim went on waiting, and computed and stored once the claim was released."""
    from explorer.runs.request import scf_request

    store = ResultsStore()
    molecule = parse_atoms(WATER.replace("0.587", "0.601"), basis="sto-3g")
    _, key = scf_request(molecule, "PBE", grid=GridSpec(level=1))
    with store.exclusive(key):  # another process computing the same request
        job = tasks.submit_scf(molecule, "PBE", label="waiter", grid=GridSpec(level=1))
        _wait_until(lambda: any(m["stage"].startswith("waiting") for m in job.messages), 60, "waiting")
        tasks.cancel([job])
        with pytest.raises(tasks.JobCancelled):
            tasks.result(job)
        time.sleep(1.0)  # the worker's next look at the claim (every 0.25 s) raises
    time.sleep(2.0)  # had it gone on waiting, it would now take the claim, compute and store
    assert store.get(key) is None
    assert store._run("SELECT COUNT(*) FROM claims") == [(0,)]


def test_a_worker_killed_mid_scf_fails_clearly_and_a_retry_stores_once(two_workers):
    """Done-when of issue 17: a worker process killed in the middle of an SCF. The job fails with a
    one-line error, the dead worker's claim is free at once on this host (its PID is gone; elsewhere
    within LEASE_SECONDS by its lease), and asking again computes and stores exactly one result."""
    import signal

    from explorer.runs import store as store_module
    from explorer.runs.request import scf_request

    store = ResultsStore()
    molecule = parse_atoms(WATER.replace("0.587", "0.611"), basis="6-31g")
    _, key = scf_request(molecule, "DM21", grid=GridSpec(level=1))
    job = tasks.submit_scf(molecule, "DM21", label="victim", grid=GridSpec(level=1))
    _wait_until(lambda: any("cycle" in m for m in job.messages), 120, "SCF iterations")
    cluster = tasks.client()  # the module's cluster, or a new one if a test before closed it
    where = [w for w, keys in cluster.processing().items() if job.key in keys]
    pids = cluster.run(os.getpid, workers=where)
    killed_at = time.monotonic()
    os.kill(pids[where[0]], signal.SIGKILL)
    with pytest.raises(tasks.ExplorerError, match="died") as info:
        tasks.result(job, timeout=120)
    assert "\n" not in str(info.value)
    holder = store.holder(key)
    assert holder is not None and not store_module._claim_alive(holder)  # dead: free to take over
    assert time.monotonic() - killed_at < 60
    _wait_until(lambda: len(cluster.scheduler_info()["workers"]) == 2, 120, "the worker restarted")
    retry = tasks.submit_scf(molecule, "DM21", label="retry", grid=GridSpec(level=1))
    result, cached, _ = tasks.result(retry, timeout=300)
    assert result.converged and not cached
    assert store._run("SELECT COUNT(*) FROM results WHERE key = ?", (key,)) == [(1,)]
    assert store._run("SELECT COUNT(*) FROM claims") == [(0,)]


def test_cancel_in_one_client_leaves_another_clients_identical_job_running(two_workers):
    """Issue 17 (10): cancelling set a cancel flag named after the task, shared by every client of
    the scheduler, so a CLI Ctrl-C stopped an app session's identical SCF and vice versa. Now a
    client withdraws only its own wish; the task stops when no client wants it."""
    from distributed import Client

    from explorer.functionals import resolve

    molecule = parse_atoms(WATER.replace("0.587", "0.621"), basis="6-31g")
    job = tasks.submit_scf(molecule, "DM21", label="app session", grid=GridSpec(level=1))
    other = Client(tasks.client().scheduler.address, set_as_default=False)  # e.g. a CLI --cluster run
    try:
        args = (molecule, resolve("DM21"), {"grid": GridSpec(level=1)}, tasks._db_path(), job.key, None)
        twin = other.submit(tasks._scf_task, *args, key=job.key, pure=False)
        _wait_until(lambda: any("cycle" in m for m in job.messages), 120, "SCF iterations")
        tasks.cancel([job])
        with pytest.raises(tasks.JobCancelled):
            tasks.result(job)
        result, cached, _ = twin.result(timeout=300)
        assert result.converged and not cached
    finally:
        other.close()


def test_a_job_is_cancelled_inside_its_first_dm21_iteration(two_workers):
    """Issue 17 (3): cancel and the time limit were checked only when an iteration was reported, so
    the first DM21 iteration of a large molecule (exchange integrals, tens of seconds) ran to its end.
    The integrator now checks at every block of grid points: benzene/6-31G, cancelled once its warm
    start is over and the first DM21 iteration runs, stops within seconds, with no DM21 iteration
    reported and nothing stored."""
    from explorer.chem.molecules import from_library

    benzene = from_library("benzene", basis="6-31g")
    job = tasks.submit_scf(benzene, "DM21", label="benzene")
    _wait_until(lambda: any(m["stage"].startswith("warm start") for m in job.messages), 120, "warm start")
    # The warm start is over when its messages stop: then the first DM21 iteration runs.
    count = -1
    while count != len(job.messages):
        count = len(job.messages)
        time.sleep(2.0)
    assert not [m for m in job.messages if m["stage"] == "DM21"]
    tasks.cancel([job])
    cancelled = time.monotonic()
    # The claim on the request is released when the computation itself stops (the scheduler forgets a
    # cancelled task at once, while its thread on the worker may go on).
    claims = ResultsStore()
    _wait_until(lambda: claims._run("SELECT COUNT(*) FROM claims") == [(0,)], 120, "the SCF stopped")
    seconds = time.monotonic() - cancelled
    assert seconds < 5.0, f"the SCF went on for {seconds:.1f} s after the cancel"
    assert not [m for m in job.messages if m["stage"] == "DM21"]
    assert not [k for k in _stored_keys() if k.startswith(job.key.removeprefix("scf-"))]
