"""A job stops inside a DM21 iteration (issue 17, item 3: the time before the first iteration could be
neither cancelled nor timed out): the integrator calls the check installed for its thread at every block
of grid points, so a check that raises stops the SCF before its first DM21 iteration is reported."""

import pytest

from explorer import from_library, run_scf
from explorer.engine import interrupt


class Stop(Exception):
    pass


def test_a_check_that_raises_stops_the_first_dm21_iteration():
    water = from_library("water", basis="sto-3g")
    seen = []
    calls = []

    def stop():
        calls.append(1)
        raise Stop

    with interrupt.checking(stop), pytest.raises(Stop):
        run_scf(water, "DM21", callback=seen.append)
    assert calls == [1]  # at the first block of the first DM21 energy evaluation
    stages = {event["stage"] for event in seen}
    assert "DM21" not in stages and any(s.startswith("warm start") for s in stages), stages


def test_without_a_check_nothing_changes_and_checks_do_not_leak_between_blocks():
    water = from_library("water", basis="sto-3g")
    with interrupt.checking(lambda: None):
        checked = run_scf(water, "DM21")
    plain = run_scf(water, "DM21")
    assert checked.converged and plain.converged
    assert checked.energy == pytest.approx(plain.energy, abs=1e-9)  # same path, same float32 evaluation
    interrupt.check_now()  # nothing installed outside the block: no error
