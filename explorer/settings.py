"""Limits and service settings, each with a default and an environment variable that overrides it.

Read at call time, so a changed variable takes effect without a restart of the Python process (and
workers started later inherit it). A value that is not a positive number is an InputError naming the
variable. The engine's memory budget is ``DM21_EXPLORER_MEMORY_MB`` (explorer.engine.numint).

========================== ======================= ================================================
variable                   default                 meaning
========================== ======================= ================================================
DM21_EXPLORER_MAX_ATOMS    40                      most atoms in one interactive calculation
DM21_EXPLORER_ATOM_CEILING 200                     most atoms any input may have (checked while parsing,
                                                   before embedding or distance checks; no override)
DM21_EXPLORER_MAX_BASIS    150                     most basis functions in one interactive calculation
DM21_EXPLORER_BASIS_CEILING 1000                   most basis functions in the app, "Run anyway" or not
DM21_EXPLORER_MAX_POINTS   50                      most points of one curve or scan
DM21_EXPLORER_MAX_SECONDS  120                     largest estimated time (s) of an interactive run
DM21_EXPLORER_JOB_SECONDS  900                     wall-time limit (s) of one SCF job; 0: none
DM21_EXPLORER_DB_TIMEOUT   30                      seconds to wait for a locked results database
DM21_EXPLORER_SCHEDULER    (unset: local cluster)  address of a Dask scheduler, tcp://host:8786
DM21_EXPLORER_WORKERS      (sized to the machine)  workers of the in-process local cluster
DM21_EXPLORER_SHARED_STORE (unset)                 1: with a remote scheduler, tasks reach the results
                                                   database through one store process (a Dask actor on
                                                   a worker of the database's machine) instead of
                                                   opening the file themselves
DM21_EXPLORER_STORE_WORKER (a worker on this host) address of the worker that runs the store process
DM21_EXPLORER_MEMORY_MB    4000                    the engine's memory budget (MB)
DM21_EXPLORER_CLASS_MODE   (unset)                 1: the app's History is read-only (no Delete)
DM21_EXPLORER_DB           (user data folder)      the results database file
DM21_CHECKPOINTS           (unset)                 a folder holding DM21/, DM21m/, ... (searched first)
DM21_CACHE_DIR             (user cache folder)     where downloaded checkpoints go (under checkpoints/)
DM21_WEIGHTS_URL           (official repository)   base URL the checkpoints are downloaded from
========================== ======================= ================================================
"""

from __future__ import annotations

import os
from pathlib import Path

from explorer.errors import InputError

MAX_ATOMS_ENV = "DM21_EXPLORER_MAX_ATOMS"
ATOM_CEILING_ENV = "DM21_EXPLORER_ATOM_CEILING"
BASIS_CEILING_ENV = "DM21_EXPLORER_BASIS_CEILING"
MAX_POINTS_ENV = "DM21_EXPLORER_MAX_POINTS"
MAX_BASIS_ENV = "DM21_EXPLORER_MAX_BASIS"
MAX_SECONDS_ENV = "DM21_EXPLORER_MAX_SECONDS"
JOB_SECONDS_ENV = "DM21_EXPLORER_JOB_SECONDS"
DB_TIMEOUT_ENV = "DM21_EXPLORER_DB_TIMEOUT"
SCHEDULER_ENV = "DM21_EXPLORER_SCHEDULER"
WORKERS_ENV = "DM21_EXPLORER_WORKERS"
SHARED_STORE_ENV = "DM21_EXPLORER_SHARED_STORE"
STORE_WORKER_ENV = "DM21_EXPLORER_STORE_WORKER"
CLASS_MODE_ENV = "DM21_EXPLORER_CLASS_MODE"
MEMORY_ENV = "DM21_EXPLORER_MEMORY_MB"
DB_ENV = "DM21_EXPLORER_DB"
CHECKPOINTS_ENV = "DM21_CHECKPOINTS"
CACHE_DIR_ENV = "DM21_CACHE_DIR"
WEIGHTS_URL_ENV = "DM21_WEIGHTS_URL"
#: Settings a calculation worker needs to see as the process that submitted to it does.
WORKER_SETTINGS = (CHECKPOINTS_ENV, CACHE_DIR_ENV, DB_ENV, JOB_SECONDS_ENV)

DEFAULT_MAX_ATOMS = 40
#: RDKit embeds a 200-atom SMILES in ~6 s here (an alkane C66), and 900 atoms took minutes.
DEFAULT_ATOM_CEILING = 200
#: About 400 basis functions is the largest DM21 run that fits 2 cores and 4 GB in minutes (issue 15).
DEFAULT_BASIS_CEILING = 1000
DEFAULT_MAX_POINTS = 50
#: Water/cc-pVDZ has 24 basis functions, benzene/cc-pVDZ 114 (DM21: about 2 minutes on 2 cores).
DEFAULT_MAX_BASIS = 150
DEFAULT_MAX_SECONDS = 120.0
DEFAULT_JOB_SECONDS = 900.0
DEFAULT_DB_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 4000


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


def atom_ceiling() -> int:
    """Most atoms any molecule may have ($DM21_EXPLORER_ATOM_CEILING, default 200): a hard limit,
    checked before the expensive parsing steps; "Run anyway" and --allow-large do not pass it."""
    return int(_number(ATOM_CEILING_ENV, DEFAULT_ATOM_CEILING))


def basis_ceiling() -> int:
    """Most basis functions of a calculation in the app ($DM21_EXPLORER_BASIS_CEILING, default 1000):
    a hard limit that "Run anyway" does not pass."""
    return int(_number(BASIS_CEILING_ENV, DEFAULT_BASIS_CEILING))


def max_points() -> int:
    """Most points of one fractional curve or bond scan ($DM21_EXPLORER_MAX_POINTS, default 50)."""
    return int(_number(MAX_POINTS_ENV, DEFAULT_MAX_POINTS))


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


def memory_budget_mb() -> float:
    """The engine's memory budget in MB ($DM21_EXPLORER_MEMORY_MB, default 4000)."""
    return _number(MEMORY_ENV, DEFAULT_MEMORY_MB)


def memory_budget_set() -> str | None:
    """The memory budget as set in the environment (text), or None when it is not set."""
    return os.environ.get(MEMORY_ENV) or None


def _path(env: str) -> Path | None:
    text = os.environ.get(env, "").strip()
    return Path(text).expanduser() if text else None


def database_path() -> Path | None:
    """The results database file set by $DM21_EXPLORER_DB, or None (the user data folder's)."""
    return _path(DB_ENV)


def checkpoints_path() -> Path | None:
    """The checkpoint folder set by $DM21_CHECKPOINTS, or None."""
    return _path(CHECKPOINTS_ENV)


def cache_path() -> Path | None:
    """The cache folder set by $DM21_CACHE_DIR, or None (the user cache folder)."""
    return _path(CACHE_DIR_ENV)


def weights_url() -> str | None:
    """The base URL set by $DM21_WEIGHTS_URL, or None (the official repository)."""
    return os.environ.get(WEIGHTS_URL_ENV, "").strip() or None


def _switch(env: str) -> bool:
    text = os.environ.get(env, "").strip().lower()
    if text not in ("", "0", "1", "false", "true", "no", "yes"):
        raise InputError(f"{env} must be 1 or 0, got {text!r}")
    return text in ("1", "true", "yes")


def class_mode() -> bool:
    """Whether the app serves a class ($DM21_EXPLORER_CLASS_MODE=1): stored results are read-only
    there (students cannot delete each other's; the teacher runs an instance without it)."""
    return _switch(CLASS_MODE_ENV)


def shared_store() -> bool:
    """Whether tasks on a remote scheduler reach the results store through one store process
    ($DM21_EXPLORER_SHARED_STORE=1, explorer.runs.store_service) instead of opening the database
    file on their own machine (unset or 0; the in-process local cluster always opens it directly)."""
    return _switch(SHARED_STORE_ENV)


def store_worker() -> str | None:
    """The address of the worker that runs the store process ($DM21_EXPLORER_STORE_WORKER, e.g.
    tls://10.0.0.5:40123), or None: a worker on this machine is chosen."""
    text = os.environ.get(STORE_WORKER_ENV, "").strip()
    if text and "://" not in text:
        raise InputError(f"{STORE_WORKER_ENV} must be a worker address like tcp://host:port, got {text!r}")
    return text or None


def worker_settings() -> dict[str, str]:
    """The WORKER_SETTINGS that are set here, as {variable: value}, for a worker's environment."""
    return {name: os.environ[name] for name in WORKER_SETTINGS if os.environ.get(name)}


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


def ceiling_problem(n_basis: int) -> str | None:
    """None if ``n_basis`` basis functions are within the app's hard ceiling, else a one-line reason
    (the atom ceiling is checked while parsing)."""
    if n_basis > basis_ceiling():
        return (
            f"{n_basis} basis functions is more than this server's ceiling of {basis_ceiling()} "
            f"({BASIS_CEILING_ENV}): choose a smaller basis or molecule"
        )
    return None


def check_size(molecule) -> None:
    """Raises InputError when ``molecule`` (explorer.chem.molecules.Molecule) exceeds the interactive
    limits of size_problem; builds the basis to count its functions (InputError for a bad basis)."""
    if len(molecule.atoms) > max_atoms():
        raise InputError(size_problem(len(molecule.atoms), 0))
    problem = size_problem(len(molecule.atoms), int(molecule.to_pyscf().nao_nr()))
    if problem:
        raise InputError(problem)
