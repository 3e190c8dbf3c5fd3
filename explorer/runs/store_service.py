"""One results store for a whole Dask cluster: a store process reached through Dask itself.

With a remote scheduler and workers on other machines, a task that opened the database file itself
would open a file on its own disk (or one on a network file system, where SQLite's locks are not
reliable). With ``$DM21_EXPLORER_SHARED_STORE=1`` (explorer.runs.tasks) the submitting process
instead starts ``StoreService``, a Dask actor holding a ResultsStore, on a worker of its own machine
(the one that holds the database; ``$DM21_EXPLORER_STORE_WORKER`` names another), once per client,
and tasks receive a ``RemoteStore``: the ResultsStore interface, each call one round trip to the
actor over Dask's own connections (so with the same TLS or SSH tunnel as the scheduler's; no new
network service). Claims (``exclusive``) run the same protocol as ResultsStore's
(explorer.runs.store.hold_claim) on top of the actor's claim primitives.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np

from explorer import settings
from explorer.errors import ExplorerError
from explorer.runs.store import HEARTBEAT_SECONDS, LEASE_SECONDS, ResultsStore, hold_claim

#: Seconds allowed for the store process to start on its worker (it needs a free thread there once).
START_SECONDS = 60


class StoreService:
    """A Dask actor: the ResultsStore at ``path`` on the worker that runs it. Dask runs an actor's
    methods one at a time, in one thread of that worker; each is a short SQLite call."""

    def __init__(self, path: str):
        self.path = path
        self._store = ResultsStore(path)

    def get(self, key: str) -> dict | None:
        return self._store.get(key)

    def put(self, key, request, result, formula, dm=None, name="") -> None:
        self._store.put(key, request, result, formula, dm, name=name)

    def put_record(self, key, request, result, formula, name="") -> None:
        self._store.put_record(key, request, result, formula, name=name)

    def get_record(self, key: str) -> dict | None:
        return self._store.get_record(key)

    def request(self, key: str) -> dict | None:
        return self._store.request(key)

    def list(self, search: str = "") -> list[dict]:
        return self._store.list(search)

    def list_records(self, job: str | None = None) -> list[dict]:
        return self._store.list_records(job)

    def delete(self, key: str) -> None:
        self._store.delete(key)

    def try_claim(self, key: str, owner: str, host: str, pid: int) -> bool:
        return self._store.try_claim(key, owner, host, pid)

    def renew(self, key: str, owner: str) -> None:
        self._store.renew(key, owner)

    def release(self, key: str, owner: str) -> None:
        self._store.release(key, owner)

    def holder(self, key: str) -> dict | None:
        """The claim row, with "age": seconds since its last heartbeat by this machine's clock (the
        only clock its times were written with), so that callers on other machines need not share it."""
        row = self._store.holder(key)
        return None if row is None else row | {"age": time.time() - row["heartbeat"]}


class RemoteStore:
    """The ResultsStore interface on a worker (or anywhere with a Dask client), forwarding each call to
    a StoreService actor: results and density matrices travel pickled, so they round-trip exactly.
    ``worker`` is the address of the actor's worker (for messages); ``path`` the database file there."""

    def __init__(self, actor, worker: str, path: str):
        self._actor, self.worker, self.path = actor, worker, Path(path)

    def _call(self, method: str, *args, **kwargs):
        # A store call waits at most for the database's lock (db_timeout) behind the calls queued
        # before it; far longer means the store process is gone (its worker died or is unreachable).
        timeout = 2 * settings.db_timeout() + 30
        try:
            return getattr(self._actor, method)(*args, **kwargs).result(timeout=timeout)
        except ExplorerError:
            raise
        except Exception as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise ExplorerError(
                f"the results store process on worker {self.worker} did not answer ({reason}): "
                "its worker may have died; submit again to start a new one"
            ) from None

    def get(self, key: str) -> dict | None:
        """See ResultsStore.get."""
        return self._call("get", key)

    def put(
        self,
        key: str,
        request: dict,
        result: dict,
        formula: str,
        dm: np.ndarray | None = None,
        name: str = "",
    ) -> None:
        """See ResultsStore.put."""
        self._call("put", key, request, result, formula, None if dm is None else np.asarray(dm), name=name)

    def put_record(self, key: str, request: dict, result: dict, formula: str, name: str = "") -> None:
        """See ResultsStore.put_record."""
        self._call("put_record", key, request, result, formula, name=name)

    def get_record(self, key: str) -> dict | None:
        """See ResultsStore.get_record."""
        return self._call("get_record", key)

    def request(self, key: str) -> dict | None:
        """See ResultsStore.request."""
        return self._call("request", key)

    def list(self, search: str = "") -> list[dict]:
        """See ResultsStore.list."""
        return self._call("list", search)

    def list_records(self, job: str | None = None) -> list[dict]:
        """See ResultsStore.list_records."""
        return self._call("list_records", job)

    def delete(self, key: str) -> None:
        """See ResultsStore.delete."""
        self._call("delete", key)

    def exclusive(
        self,
        key: str,
        on_wait=None,
        poll: float = 0.25,
        check=None,
        heartbeat: float = HEARTBEAT_SECONDS,
        lease: float = LEASE_SECONDS,
    ):
        """See ResultsStore.exclusive: the same protocol (hold_claim), through the actor."""
        return hold_claim(
            self, key, on_wait=on_wait, poll=poll, check=check, heartbeat=heartbeat, lease=lease
        )

    def try_claim(self, key: str, owner: str, host: str | None = None, pid: int | None = None) -> bool:
        """See ResultsStore.try_claim; ``host`` and ``pid`` default to this process's."""
        return self._call(
            "try_claim", key, owner, host or socket.gethostname(), os.getpid() if pid is None else pid
        )

    def renew(self, key: str, owner: str) -> None:
        """See ResultsStore.renew."""
        self._call("renew", key, owner)

    def release(self, key: str, owner: str) -> None:
        """See ResultsStore.release."""
        self._call("release", key, owner)

    def holder(self, key: str) -> dict | None:
        """See ResultsStore.holder; "heartbeat" is given in this machine's clock (from the store's "age")."""
        row = self._call("holder", key)
        if row is None:
            return None
        age = row.pop("age")
        return row | {"heartbeat": time.time() - age}


_lock = threading.Lock()
#: The store process started by this process: {"client": client id, "path", "worker", "future", "store"}.
_started: dict = {}


def remote_store(client, path: Path | str) -> RemoteStore:
    """The RemoteStore of the database ``path`` for tasks of ``client``: its store process, started on
    first use on a worker of this machine ($DM21_EXPLORER_STORE_WORKER: that worker) and reused while
    its worker lives. One-line ExplorerError if there is no such worker or the process cannot start."""
    path = str(path)
    with _lock:
        workers = client.scheduler_info().get("workers", {})
        if (
            _started.get("client") == client.id
            and _started.get("path") == path
            and _started["worker"] in workers
            and _started["future"].status == "finished"
        ):
            return _started["store"]
        worker = _store_worker(client, workers, path)
        future = client.submit(
            StoreService, path, actor=True, workers=[worker], allow_other_workers=False, pure=False
        )
        try:
            with client.as_current():  # the actor's handle binds to this client (not the default one)
                actor = future.result(timeout=START_SECONDS)
        except ExplorerError:
            raise
        except Exception as err:
            future.cancel()
            reason = " ".join(str(err).split()) or f"no answer within {START_SECONDS} s (its threads busy?)"
            raise ExplorerError(
                f"the results store process did not start on worker {worker}: {reason}; "
                f"name a worker with a free thread in {settings.STORE_WORKER_ENV}"
            ) from None
        store = RemoteStore(actor, worker, path)
        _started.clear()
        _started.update(client=client.id, path=path, worker=worker, future=future, store=store)
        return store


def forget() -> None:
    """Drops this process's store process (its client is closing)."""
    with _lock:
        _started.clear()


def _store_worker(client, workers: dict, path: str) -> str:
    """The worker to run the store process: the one named by $DM21_EXPLORER_STORE_WORKER, else the
    first (by address) whose host name is this machine's."""
    named = settings.store_worker()
    if named:
        if named not in workers:
            raise ExplorerError(
                f"{settings.STORE_WORKER_ENV}={named} is not a worker of the scheduler "
                f"({len(workers)} workers there): name one of its workers, on the machine holding {path}"
            )
        return named
    here = socket.gethostname()
    try:
        hosts = client.run(socket.gethostname)  # each worker's own name: addresses may be IPs
    except Exception as err:
        raise ExplorerError(f"cannot ask the Dask workers for their host names: {err}") from None
    local = sorted(address for address, host in hosts.items() if host == here)
    if not local:
        raise ExplorerError(
            f"no Dask worker runs on this machine ({here}), which holds the results database {path}: "
            f"start one here (dask worker <scheduler address>) or name one in {settings.STORE_WORKER_ENV}"
        )
    return local[0]
