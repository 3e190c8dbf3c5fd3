"""Shared fixtures: small molecules and grids so the suite stays fast on 2 cores."""

import logging

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
