"""The functional registry: the one place that decides what a functional name means.

``resolve(name)`` turns a user's spelling (any case, surrounding spaces) into a ``Functional``: the
canonical name, whether it is one of DM21's networks (and which checkpoint) or a classical
functional that PySCF/libxc evaluates, its kind and its exact-exchange share. Front ends (CLI, pages,
the public API) resolve once; the layers below take the resolved value as it is (``resolve`` of a
``Functional`` returns it unchanged, at no cost).

Classical names beyond the app's list (any name PySCF's libxc parser accepts) resolve too, upper-cased
as PySCF spells them. Since PySCF 2.3, "B3LYP" is the VWN-RPA flavour (VWN3, as in Gaussian).

This module imports nothing of the engine; PySCF is imported only to check a name outside the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.errors import InputError


@dataclass(frozen=True)
class Functional:
    """A resolved functional. ``hybrid`` is the exact-exchange share (None: not a fixed share; DM21
    reads local exact exchange as features instead); ``checkpoint`` names the DM21 network's folder."""

    name: str
    family: str  # "DM21" or "classical"
    kind: str
    hybrid: float | None
    checkpoint: str | None = None

    @property
    def is_dm21(self) -> bool:
        """True for one of DM21's networks."""
        return self.family == "DM21"

    @property
    def note(self) -> str | None:
        """What a reader must know about this functional's numbers, or None."""
        return B3LYP_NOTE if self.name == "B3LYP" else None

    def __str__(self) -> str:
        return self.name


B3LYP_NOTE = "B3LYP is PySCF's VWN-RPA flavour (VWN3, as in Gaussian), the default since PySCF 2.3."

_DM21_KIND = "learned (neural network), local HF exchange features"
DM21_FUNCTIONALS = (
    Functional("DM21", "DM21", _DM21_KIND, None, "DM21"),
    Functional("DM21m", "DM21", _DM21_KIND + ", molecules only", None, "DM21m"),
    Functional("DM21mc", "DM21", _DM21_KIND + ", molecules + fractional charge", None, "DM21mc"),
    Functional("DM21mu", "DM21", _DM21_KIND + ", molecules + uniform electron gas", None, "DM21mu"),
)
CLASSICAL_FUNCTIONALS = (
    Functional("B3LYP", "classical", "hybrid GGA", 0.2),
    Functional("PBE", "classical", "GGA", 0.0),
    Functional("PBE0", "classical", "hybrid GGA", 0.25),
    Functional("SCAN", "classical", "meta-GGA", 0.0),
    Functional("HF", "classical", "Hartree-Fock", 1.0),
)
#: Names offered by the app's pickers, in their order.
DM21_NAMES = tuple(f.name for f in DM21_FUNCTIONALS)
CLASSICAL_NAMES = tuple(f.name for f in CLASSICAL_FUNCTIONALS)
#: Help text for a functional argument.
HELP = f"{', '.join(DM21_NAMES)}, or a PySCF/libxc name ({', '.join(CLASSICAL_NAMES)})"

_KNOWN = {f.name.lower(): f for f in DM21_FUNCTIONALS + CLASSICAL_FUNCTIONALS}


def resolve(name: str | Functional) -> Functional:
    """The Functional ``name`` means; InputError naming it when neither DM21 nor PySCF/libxc knows it."""
    if isinstance(name, Functional):
        return name
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"no functional given: use {HELP}")
    known = _KNOWN.get(name.strip().lower())
    if known is not None:
        return known
    from pyscf.dft import libxc

    code = name.strip().upper()
    try:
        libxc.parse_xc(code)
        hybrid = float(libxc.hybrid_coeff(code))
    except Exception:  # PySCF's parser fails in many ways on text it does not know ("*": IndexError)
        raise InputError(f"unknown functional {name!r}: use {HELP}") from None
    return Functional(code, "classical", "libxc", hybrid)


def is_dm21(name: str | Functional) -> bool:
    """True if ``name`` names one of DM21's networks (any case); False for anything else."""
    if isinstance(name, Functional):
        return name.is_dm21
    known = _KNOWN.get(name.strip().lower()) if isinstance(name, str) else None
    return known is not None and known.is_dm21


def dm21(name: str | Functional) -> Functional:
    """The DM21 network ``name`` means; InputError if it is not one of them."""
    functional = resolve(name)
    if not functional.is_dm21:
        raise InputError(f"{functional.name} is not a DM21 functional: use {', '.join(DM21_NAMES)}")
    return functional


def resolve_list(text_or_names) -> list[Functional]:
    """Functionals of a comma-separated string or a sequence of names, resolved, duplicates dropped
    (first kept); InputError for an unknown one or an empty list."""
    names = text_or_names.split(",") if isinstance(text_or_names, str) else list(text_or_names)
    resolved = list(dict.fromkeys(resolve(n) for n in names if not isinstance(n, str) or n.strip()))
    if not resolved:
        raise InputError(f"no functional given: use {HELP}")
    return resolved
