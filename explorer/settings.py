"""Limits and service settings, each with a default and an environment variable that overrides it.

Read at call time, so a changed variable takes effect without a restart of the Python process (and
workers started later inherit it). A value that is not a positive number is an InputError naming the
variable. The engine's memory budget is ``DM21_EXPLORER_MEMORY_MB`` (explorer.numint).

========================== ======================= ================================================
variable                   default                 meaning
========================== ======================= ================================================
DM21_EXPLORER_MAX_ATOMS    40                      most atoms in one interactive calculation
DM21_EXPLORER_MAX_BASIS    150                     most basis functions in one interactive calculation
DM21_EXPLORER_MAX_SECONDS  120                     largest estimated time (s) of an interactive run
DM21_EXPLORER_JOB_SECONDS  900                     wall-time limit (s) of one SCF job; 0: none
DM21_EXPLORER_DB_TIMEOUT   30                      seconds to wait for a locked results database
DM21_EXPLORER_SCHEDULER    (unset: local cluster)  address of a Dask scheduler, tcp://host:8786
DM21_EXPLORER_WORKERS      (sized to the machine)  workers of the in-process local cluster
========================== ======================= ================================================
"""

from __future__ import annotations

import os

from explorer.errors import InputError

MAX_ATOMS_ENV = "DM21_EXPLORER_MAX_ATOMS"
MAX_BASIS_ENV = "DM21_EXPLORER_MAX_BASIS"
MAX_SECONDS_ENV = "DM21_EXPLORER_MAX_SECONDS"
JOB_SECONDS_ENV = "DM21_EXPLORER_JOB_SECONDS"
DB_TIMEOUT_ENV = "DM21_EXPLORER_DB_TIMEOUT"
SCHEDULER_ENV = "DM21_EXPLORER_SCHEDULER"
WORKERS_ENV = "DM21_EXPLORER_WORKERS"

DEFAULT_MAX_ATOMS = 40
#: Water/cc-pVDZ has 24 basis functions, benzene/cc-pVDZ 114 (DM21: about 2 minutes on 2 cores).
DEFAULT_MAX_BASIS = 150
DEFAULT_MAX_SECONDS = 120.0
DEFAULT_JOB_SECONDS = 900.0
DEFAULT_DB_TIMEOUT = 30.0


def _number(env: str, default: float, allow_zero: bool = False) -> float:
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{env}={text!r} is not a number") from None
    if not (value > 0 or (allow_zero and value == 0)) or value != value or value == float("inf"):
        raise InputError(f"{env} must be a positive number, got {text!r}")
    return value


def max_atoms() -> int:
    """Most atoms allowed in one interactive calculation ($DM21_EXPLORER_MAX_ATOMS, default 40)."""
    return int(_number(MAX_ATOMS_ENV, DEFAULT_MAX_ATOMS))


def max_basis() -> int:
    """Most basis functions allowed in one interactive calculation ($DM21_EXPLORER_MAX_BASIS, 150)."""
    return int(_number(MAX_BASIS_ENV, DEFAULT_MAX_BASIS))


def max_seconds() -> float:
    """Largest estimated wall time (s) of an interactive run ($DM21_EXPLORER_MAX_SECONDS, 120)."""
    return _number(MAX_SECONDS_ENV, DEFAULT_MAX_SECONDS)


def job_seconds() -> float | None:
    """Wall-time limit of one SCF job in seconds ($DM21_EXPLORER_JOB_SECONDS, default 900); None
    when the variable is 0 (no limit)."""
    value = _number(JOB_SECONDS_ENV, DEFAULT_JOB_SECONDS, allow_zero=True)
    return value or None


def db_timeout() -> float:
    """Seconds a results-database call waits for another writer's lock ($DM21_EXPLORER_DB_TIMEOUT, 30)."""
    return _number(DB_TIMEOUT_ENV, DEFAULT_DB_TIMEOUT)


def scheduler_address() -> str | None:
    """The Dask scheduler to use ($DM21_EXPLORER_SCHEDULER), or None for an in-process local cluster."""
    return os.environ.get(SCHEDULER_ENV, "").strip() or None


def local_workers() -> int | None:
    """Workers of the local cluster ($DM21_EXPLORER_WORKERS), or None: sized to the machine."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    return int(_number(WORKERS_ENV, 1)) if text else None


def size_problem(n_atoms: int, n_basis: int) -> str | None:
    """None if a molecule of ``n_atoms`` atoms and ``n_basis`` basis functions is within the
    interactive limits, else a one-line reason naming the limit and the setting that raises it."""
    if n_atoms > max_atoms():
        return (
            f"{n_atoms} atoms is more than the limit of {max_atoms()} for interactive runs "
            f"(set {MAX_ATOMS_ENV} to raise it)"
        )
    if n_basis > max_basis():
        return (
            f"{n_basis} basis functions is more than the limit of {max_basis()} for interactive runs "
            f"(choose a smaller basis, or set {MAX_BASIS_ENV} to raise it)"
        )
    return None


def check_size(molecule) -> None:
    """Raises InputError when ``molecule`` (explorer.molecules.Molecule) exceeds the interactive
    limits of size_problem; builds the basis to count its functions (InputError for a bad basis)."""
    if len(molecule.atoms) > max_atoms():
        raise InputError(size_problem(len(molecule.atoms), 0))
    problem = size_problem(len(molecule.atoms), int(molecule.to_pyscf().nao_nr()))
    if problem:
        raise InputError(problem)
