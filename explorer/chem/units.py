"""Energy units: Hartree to kcal/mol, kJ/mol and eV from CODATA constants (scipy.constants)."""

from __future__ import annotations

from scipy import constants

from explorer.errors import InputError

_HARTREE_J = constants.physical_constants["Hartree energy"][0]

#: Value of one Hartree in each unit the app offers.
PER_HARTREE: dict[str, float] = {
    "Ha": 1.0,
    "kcal/mol": _HARTREE_J * constants.Avogadro / constants.calorie / 1000.0,
    "kJ/mol": _HARTREE_J * constants.Avogadro / 1000.0,
    "eV": constants.physical_constants["Hartree energy in eV"][0],
}
UNITS = tuple(PER_HARTREE)


def from_hartree(value: float | None, unit: str) -> float | None:
    """``value`` (Hartree) expressed in ``unit`` (one of UNITS); None stays None."""
    if unit not in PER_HARTREE:
        raise InputError(f"unknown energy unit {unit!r}: use one of {', '.join(UNITS)}")
    return None if value is None else value * PER_HARTREE[unit]


def to_hartree(value: float, unit: str) -> float:
    """``value`` given in ``unit`` expressed in Hartree."""
    if unit not in PER_HARTREE:
        raise InputError(f"unknown energy unit {unit!r}: use one of {', '.join(UNITS)}")
    return value / PER_HARTREE[unit]
