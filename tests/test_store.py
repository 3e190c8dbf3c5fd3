"""Results store: a real SQLite file, canonical keys, round trips, and the CLI's cached answers."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from explorer.errors import ExplorerError
from explorer.grids import GridSpec
from explorer.molecules import parse_atoms
from explorer.scf import run_scf_stored
from explorer.store import ResultsStore, canonical_request, request_key

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
