"""Results store: every calculation in an embedded SQLite database, keyed by its canonical request.

Keys come from explorer.runs.request (the one place that decides what identifies a calculation):
identical requests find their stored result; anything that could change a number changes the
key. The database lives in the user data folder (``$DM21_EXPLORER_DB`` overrides)
and is shared by the app's sessions and the CLI; WAL mode lets readers and a writer work at once.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import platformdirs

from explorer.chem.names import describe, smiles_facts
from explorer.errors import ExplorerError
from explorer.settings import DB_TIMEOUT_ENV, database_path, db_timeout

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    formula TEXT NOT NULL,
    functional TEXT NOT NULL,
    basis TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    dm BLOB,
    name TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    species TEXT NOT NULL DEFAULT '',
    smiles TEXT NOT NULL DEFAULT ''
)""",
    # Results other than single SCF runs (optimisations, frequencies, displaced gradients), kept apart
    # so that the results table holds SCF Results only (the History view reads it as such).
    """CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    job TEXT NOT NULL,
    formula TEXT NOT NULL,
    functional TEXT NOT NULL,
    basis TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT ''
)""",
    """CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL DEFAULT 0
)""",
)
#: A claim is a lease: its holder renews it every HEARTBEAT_SECONDS while it computes; one not renewed
#: for LEASE_SECONDS belongs to a process that died (on any host, whatever its PID became since).
LEASE_SECONDS = 30.0
HEARTBEAT_SECONDS = 5.0


def default_path() -> Path:
    """The database file: ``$DM21_EXPLORER_DB``, else results.sqlite3 in the user data folder."""
    return database_path() or Path(platformdirs.user_data_dir("dm21-explorer")) / "results.sqlite3"


class ResultsStore:
    """A results database at ``path``; each call opens its own connection (thread-safe)."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Switching a new or old database to WAL while another connection is between its read
            # and write locks fails at once instead of waiting (SQLite's deadlock rule; seen with 8
            # threads opening an old database), so that case is retried until the usual timeout.
            deadline = time.monotonic() + db_timeout()
            while True:
                try:
                    self._create_or_migrate()
                    break
                except sqlite3.OperationalError as err:
                    if "locked" not in str(err) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        except (sqlite3.DatabaseError, OSError) as err:
            raise _database_error(self.path, err) from None

    def _create_or_migrate(self) -> None:
        db = self._connect()
        try:
            db.isolation_level = None  # explicit transactions below
            db.execute("PRAGMA journal_mode=WAL")
            # One write transaction for creation and migration, so two processes opening a new
            # database at once cannot both add the same column.
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
            if "name" not in columns:  # databases written before names were kept
                db.execute("ALTER TABLE results ADD COLUMN name TEXT NOT NULL DEFAULT ''")
            for column in _READABLE:  # databases written before readable names were kept
                if column not in columns:
                    db.execute(f"ALTER TABLE results ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
            _fill_readable(db)
            columns = {row[1] for row in db.execute("PRAGMA table_info(claims)")}
            if "heartbeat" not in columns:  # databases written before claims were leases
                db.execute("ALTER TABLE claims ADD COLUMN heartbeat REAL NOT NULL DEFAULT 0")
            db.execute("COMMIT")
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=db_timeout())

    def _run(self, sql: str, args=()) -> list:
        try:
            with self._connect() as db:
                return db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as err:
            raise _database_error(self.path, err) from None

    def get(self, key: str) -> dict | None:
        """The stored result dictionary for ``key`` (with "dm" as an array, if stored), or None."""
        rows = self._run("SELECT result, dm FROM results WHERE key = ?", (key,))
        if not rows:
            return None
        result = json.loads(rows[0][0])
        result["dm"] = None if rows[0][1] is None else np.load(io.BytesIO(rows[0][1]), allow_pickle=False)
        return result

    def put(
        self,
        key: str,
        request: dict,
        result: dict,
        formula: str,
        dm: np.ndarray | None = None,
        name: str = "",
    ) -> None:
        """Stores ``result`` (JSON-ready, no arrays) and its density matrix under ``key``;
        ``name`` is the molecule's label; its readable name, charged formula and SMILES
        (explorer.chem.names.describe) are stored beside it for listings and searches."""
        blob = None
        if dm is not None:
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(dm), allow_pickle=False)
            blob = buffer.getvalue()
        self._run(
            "INSERT OR REPLACE INTO results (key, created, formula, functional, basis, request, result, dm, "
            "name, title, species, smiles) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                time.time(),
                formula,
                request["functional"],
                request["basis"],
                json.dumps(request, sort_keys=True),
                json.dumps(result),
                blob,
                name,
                *_readable(name, formula, request.get("charge")),
            ),
        )

    def list(self, search: str = "") -> list[dict]:
        """Stored results, newest first: key, created (Unix time), name (the molecule's label as
        stored), title (its readable name: "phenol", "H2+ R=1.5 A"), species (formula with charge),
        smiles (canonical, "" unless built from one), formula (Hill), functional, basis, charge,
        spin (2S), energy (Hartree). ``search`` filters by a substring (case-insensitive) of any of
        title, name, species, smiles, formula, functional or basis; a search that is a SMILES also
        finds the same molecule written another way ("c1ccc(O)cc1" finds "Oc1ccccc1")."""
        text = search.strip()
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        facts = smiles_facts(text) if text else None
        rows = self._run(
            f"SELECT {', '.join(_LISTED)}, json_extract(request, '$.charge'), "
            "json_extract(request, '$.spin'), json_extract(result, '$.energy') FROM results WHERE "
            + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in _SEARCHED)
            + " OR (smiles != '' AND smiles = ?) ORDER BY created DESC",
            (pattern,) * len(_SEARCHED) + (facts[0] if facts else "",),
        )
        entries = [dict(zip(_LISTED + ("charge", "spin", "energy"), row, strict=True)) for row in rows]
        for entry in entries:
            if not entry["title"]:  # written after this store opened by a program that keeps no titles
                readable = _readable(entry["name"], entry["formula"], entry["charge"])
                entry.update(zip(_READABLE, readable, strict=True))
        return entries

    def put_record(self, key: str, request: dict, result: dict, formula: str, name: str = "") -> None:
        """Stores a result that is not one SCF run (``request["job"]``: "optimize", "frequencies",
        "gradient"; ``result`` JSON-ready) under ``key``, in the records table."""
        self._run(
            "INSERT OR REPLACE INTO records (key, created, job, formula, functional, basis, request, result, "
            "name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                time.time(),
                request["job"],
                formula,
                request["functional"],
                request["basis"],
                json.dumps(request, sort_keys=True),
                json.dumps(result),
                name,
            ),
        )

    def get_record(self, key: str) -> dict | None:
        """The record (put_record's ``result``) stored under ``key``, or None."""
        rows = self._run("SELECT result FROM records WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def list_records(self, job: str | None = None) -> list[dict]:
        """Stored records, newest first: key, created (Unix time), job, name, formula, functional,
        basis; only those of ``job`` if given."""
        names = ("key", "created", "job", "name", "formula", "functional", "basis")
        where, args = ("WHERE job = ?", (job,)) if job else ("", ())
        rows = self._run(f"SELECT {', '.join(names)} FROM records {where} ORDER BY created DESC", args)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def request(self, key: str) -> dict | None:
        """The canonical request stored under ``key`` (see canonical_request), or None."""
        rows = self._run("SELECT request FROM results WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def delete(self, key: str) -> None:
        """Removes the result stored under ``key`` (nothing if absent)."""
        self._run("DELETE FROM results WHERE key = ?", (key,))

    def exclusive(
        self,
        key: str,
        on_wait: Callable[[dict], None] | None = None,
        poll: float = 0.25,
        check: Callable[[], None] | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
        lease: float = LEASE_SECONDS,
    ):
        """Holds the claim on ``key`` for the duration of the block (a context manager), so that of
        several sessions or processes asking for the same new calculation, one computes and the
        others wait; see hold_claim (the protocol, shared with explorer.runs.store_service)."""
        return hold_claim(
            self, key, on_wait=on_wait, poll=poll, check=check, heartbeat=heartbeat, lease=lease
        )

    # Claim primitives (hold_claim's protocol; the store service forwards them to remote workers).

    def try_claim(self, key: str, owner: str, host: str | None = None, pid: int | None = None) -> bool:
        """Takes the claim on ``key`` for ``owner`` (a process ``pid`` on ``host``, this one's by
        default) if nobody holds it; True if taken."""
        try:
            with self._connect() as db:
                now = time.time()
                db.execute(
                    "INSERT INTO claims (key, owner, host, pid, started, heartbeat) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key, owner, host or socket.gethostname(), os.getpid() if pid is None else pid, now, now),
                )
            return True
        except sqlite3.IntegrityError:
            return False
        except sqlite3.DatabaseError as err:
            raise _database_error(self.path, err) from None

    def renew(self, key: str, owner: str) -> None:
        """Renews the lease of ``owner``'s claim on ``key`` (nothing if it does not hold it)."""
        self._run("UPDATE claims SET heartbeat = ? WHERE key = ? AND owner = ?", (time.time(), key, owner))

    def release(self, key: str, owner: str) -> None:
        """Drops ``owner``'s claim on ``key`` (nothing if it does not hold it)."""
        self._run("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner))

    def holder(self, key: str) -> dict | None:
        """The claim on ``key``: owner, host, pid, started and heartbeat (Unix times of this
        machine's clock), or None if nobody holds it."""
        names = ("owner", "host", "pid", "started", "heartbeat")
        rows = self._run(f"SELECT {', '.join(names)} FROM claims WHERE key = ?", (key,))
        return dict(zip(names, rows[0], strict=True)) if rows else None


@contextmanager
def hold_claim(
    claims,
    key: str,
    *,
    on_wait: Callable[[dict], None] | None = None,
    poll: float = 0.25,
    check: Callable[[], None] | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
    lease: float = LEASE_SECONDS,
) -> Iterator:
    """Holds the claim on ``key`` through ``claims`` (an object with try_claim, renew, release and
    holder: a ResultsStore, or explorer.runs.store_service.RemoteStore) for the duration of the block.

    The claim is a lease renewed every ``heartbeat`` seconds by a thread while the block runs. Waits
    while a live holder has it (renewed within ``lease`` seconds and, on this host, its process still
    there); ``on_wait`` is called once with the holder's row when waiting starts, ``check`` at every
    poll (it raises to stop waiting: a cancelled or timed-out job). Abandoned claims are taken over.
    The claim is released when the block ends, however it ends.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    waiting = False
    while not claims.try_claim(key, owner, socket.gethostname(), os.getpid()):
        holder = claims.holder(key)
        if holder is None:
            continue  # released between our two queries
        if not _claim_alive(holder, lease):
            claims.release(key, holder["owner"])
            continue
        if on_wait is not None and not waiting:
            on_wait(holder)
        waiting = True
        if check is not None:
            check()
        time.sleep(poll)
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(claims, key, owner, heartbeat, stop), name="dm21-claim-lease", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        claims.release(key, owner)


def _renew(claims, key: str, owner: str, every: float, stop: threading.Event) -> None:
    """Renews the claim's lease every ``every`` seconds until ``stop`` is set."""
    while not stop.wait(every):
        try:
            claims.renew(key, owner)
        except ExplorerError:
            pass  # the database stayed busy past its timeout (or the store did not answer): beat again


#: Readable columns of a result (explorer.chem.names.describe), derived from its name, formula and charge.
_READABLE = ("title", "species", "smiles")
_LISTED = ("key", "created", "name") + _READABLE + ("formula", "functional", "basis")
_SEARCHED = _READABLE + ("name", "formula", "functional", "basis")


def _readable(name: str, formula: str, charge: int | None) -> tuple[str, str, str]:
    """(title, species, smiles) of a result stored under ``name`` with ``formula`` and ``charge``."""
    described = describe(name, formula, charge or 0)
    return described["name"], described["species"], described["smiles"]


def _fill_readable(db: sqlite3.Connection) -> None:
    """Gives every result stored without a title (before titles were kept) its readable columns."""
    rows = db.execute(
        "SELECT key, name, formula, json_extract(request, '$.charge') FROM results WHERE title = ''"
    ).fetchall()
    for key, name, formula, charge in rows:
        db.execute(
            "UPDATE results SET title = ?, species = ?, smiles = ? WHERE key = ?",
            (*_readable(name, formula, charge), key),
        )


def _database_error(path: Path, err: Exception) -> ExplorerError:
    """A one-line error for a database problem: locked by another program, or unusable."""
    if "locked" in str(err) or "busy" in str(err):
        return ExplorerError(
            f"results database {path} is locked by another program (waited {db_timeout():g} s; "
            f"{DB_TIMEOUT_ENV} sets the wait): try again, or close the program holding it"
        )
    return ExplorerError(f"results database {path} cannot be used: {err}")


def _claim_alive(holder: dict, lease: float = LEASE_SECONDS) -> bool:
    """Whether the process holding a claim may still be computing: its lease was renewed within
    ``lease`` seconds and, on this host, a process with its PID exists (gone: dead at once)."""
    if time.time() - holder["heartbeat"] > lease:
        return False
    if holder["host"] == socket.gethostname():
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by another user
    return True
