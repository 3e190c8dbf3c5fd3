"""Stopping a calculation between iterations and inside them.

A job's progress function is called once per SCF iteration, but one DM21 iteration of a large molecule
takes tens of seconds (the first one also computes the exchange integrals). The code that runs a job
(explorer.runs.tasks) installs its ``check`` (raises to stop: cancelled, past the time limit) for the
thread the job runs in, and the DM21 integrator calls ``check_now()`` at every block of grid points,
so a cancel or a time limit takes effect within one block.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

_local = threading.local()


@contextlib.contextmanager
def checking(check: Callable[[], None] | None) -> Iterator[None]:
    """Within the block, check_now() in this thread calls ``check`` (None: nothing to check)."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def check_now() -> None:
    """Calls this thread's installed check, if any (it raises to stop the calculation)."""
    check = getattr(_local, "check", None)
    if check is not None:
        check()
