"""Geometry jobs on the task cluster (explorer.runs.tasks): an optimisation as one task reporting each
step, a frequency job whose stencil gradients fan out as one task per point, both through the
results store, with the numbers of the same jobs run in this process."""

import time

import pytest

from explorer.analyses import geometry
from explorer.chem.molecules import from_library
from explorer.engine.grids import GridSpec
from explorer.runs import tasks
from explorer.runs.request import geometry_request
from explorer.runs.store import ResultsStore

# Level 1: not the grid of the other tests of H2, which may have stored these jobs in the same database.
GRID = GridSpec(level=1, spec="pyscf")


def _follow(jobs: list) -> list[dict]:
    messages = []
    while not all(j.done() for j in jobs):
        for job in jobs:
            messages += tasks.drain(job)
        time.sleep(0.1)
    for job in jobs:
        messages += tasks.drain(job)
    return messages


def test_optimisation_and_frequencies_as_tasks(tmp_path):
    """H2 B3LYP/STO-3G: the task's optimisation equals the one run here (same code and inputs; 1e-8
    allows for the workers' single-threaded summation order) and its progress messages carry every
    step's energy and gradient; the frequency job fans out 12 point tasks (6N) and gives the
    frequency of the same stencil run here to 0.01 cm-1; asked again, both come from the store."""
    h2 = from_library("H2", basis="sto-3g")
    job = geometry.submit_optimization(h2, "B3LYP", grid=GRID, label="opt")
    messages = _follow([job])
    opt, cached = geometry.optimization_result(job)
    assert opt.converged and not cached
    steps = [m for m in messages if m.get("stage") == "step"]
    assert [m["step"] for m in steps] == list(range(1, opt.steps + 1))
    assert all(m["task"] == "opt" and "max_gradient" in m and "energy" in m for m in steps)
    assert messages[-1]["stage"] == "done"
    here = geometry.optimize(h2, "B3LYP", grid=GRID)
    assert opt.energy == pytest.approx(here.energy, abs=1e-8)

    freq = geometry.submit_frequencies(opt.molecule(), "B3LYP", grid=GRID)
    assert len(freq.jobs) == 12 and freq.stored is None
    _follow(freq.jobs)
    vib, cached = geometry.frequencies_result(freq)
    assert not cached
    local = geometry.frequencies(opt.molecule(), "B3LYP", grid=GRID)
    assert vib.frequencies_cm1 == pytest.approx(local.frequencies_cm1, abs=0.01)

    again = geometry.submit_frequencies(opt.molecule(), "B3LYP", grid=GRID)
    assert again.jobs == [] and again.done() and geometry.frequencies_result(again) == (vib, True)
    _, key = geometry_request("frequencies", opt.molecule(), "B3LYP", grid=GRID, options={"step": vib.step})
    assert geometry.Vibrations.from_dict(ResultsStore().get_record(key)) == vib


def test_records_are_kept_apart_from_scf_results(tmp_path):
    """A geometry record is found by its key and listed by its job, never among the SCF results
    (the History view reads those as SCF Results); a database written before records existed gets
    the table on opening."""
    import sqlite3

    old = tmp_path / "old.sqlite3"
    ResultsStore(old)
    with sqlite3.connect(old) as db:
        db.execute("DROP TABLE records")
    store = ResultsStore(old)
    h2 = from_library("H2", basis="sto-3g")
    request, key = geometry_request("optimize", h2, "B3LYP", grid=GRID, options={"max_steps": 5})
    assert request["job"] == "optimize" and request["atoms"][0][0] == "H"
    other = geometry_request("optimize", h2, "B3LYP", grid=GRID, options={"max_steps": 6})[1]
    assert other != key and geometry_request("optimize", h2, "PBE", grid=GRID)[1] != key
    store.put_record(key, request, {"energy": -1.0}, h2.formula(), name="H2")
    assert store.get_record(key) == {"energy": -1.0} and store.get_record(other) is None
    assert [r["key"] for r in store.list_records("optimize")] == [key] and store.list_records(
        "gradient"
    ) == []
    assert store.list() == []
