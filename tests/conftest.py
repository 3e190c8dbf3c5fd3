"""Shared fixtures: small molecules and grids so the suite stays fast on 2 cores."""

import logging
import os

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
