"""The speed benchmark: fast and exact DM21 paths agree, the report's numbers are consistent."""

import subprocess
import sys
import time

import pytest

from explorer.analyses import bench
from explorer.errors import InputError


def test_fast_path_energy_equals_exact_path_and_report_is_consistent():
    # Fast path (hand-derived network gradients, float32 integrals kept, float32-aware convergence)
    # against the reference evaluation. Tolerance 1e-6 Ha: float32 rounding (measured: 1.1e-7 Ha on
    # water/cc-pVDZ); the bar is 2e-5.
    row = bench.run_case(bench.Case("water", "sto-3g", library="water"), exact=True)
    assert abs(row["fast_minus_exact"]) < 1e-6
    assert row["fast_minus_exact"] == row["dm21"]["energy"] - row["dm21_exact"]["energy"]
    assert row["ratio"] == pytest.approx(row["dm21"]["scf_seconds"] / row["b3lyp"]["scf_seconds"])
    assert row["n_basis"] == 7 and row["b3lyp"]["converged"] and row["dm21"]["converged"]
    # The fast path needs fewer cycles: it stops at the float32 noise floor instead of chasing it.
    assert row["dm21"]["cycles"] <= row["dm21_exact"]["cycles"]
    assert 100 < row["dm21"]["peak_rss_mb"] <= row["max_rss_mb"] + 1


def test_peak_memory_sees_an_allocation():
    with bench.peak_memory() as small:
        pass
    with bench.peak_memory() as big:
        block = bytearray(300 * 10**6)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        # Held while the sampling thread gets the GIL (the page touching above keeps it), as an SCF
        # holds its arrays while C code runs.
        time.sleep(0.2)
        del block
    assert big["peak_mb"] - small["peak_mb"] > 250


def test_unknown_case_is_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "explorer", "bench", "quinine"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown benchmark case 'quinine': choose from water, benzene, caffeine, aspirin, estradiol"
    ]


def test_fitted_exponent_recovers_a_power_law():
    # t = 0.3 n^2.7 exactly, then with +-5% noise: the slope of log t against log n is 2.7 (to 1e-12,
    # then within the noise's reach over a 16x range of sizes, 0.05).
    sizes = [20, 40, 80, 160, 320]
    exact = [0.3 * n**2.7 for n in sizes]
    assert bench.fitted_exponent(sizes, exact) == pytest.approx(2.7, abs=1e-12)
    noisy = [t * f for t, f in zip(exact, (1.05, 0.95, 1.05, 0.95, 1.0), strict=True)]
    assert bench.fitted_exponent(sizes, noisy) == pytest.approx(2.7, abs=0.05)
    with pytest.raises(InputError, match="two different sizes"):
        bench.fitted_exponent([10, 10], [1.0, 2.0])


def test_blas_report_names_the_kernels_numpy_runs(monkeypatch):
    # The report says which BLAS kernels ran (the network's products depend on them) and whether
    # OPENBLAS_CORETYPE chose them; numpy's own OpenBLAS must be among the libraries listed.
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    libraries = bench.blas_kernels()
    assert any(lib["library"] == "openblas" and lib["kernels"] for lib in libraries)
    assert all(lib["OPENBLAS_CORETYPE"] == "Haswell" for lib in libraries)
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert all(lib["OPENBLAS_CORETYPE"] is None for lib in bench.blas_kernels())
