"""Fractional charge, fractional spin and bond dissociation: the systems DM21 was trained to get right.

Energies are in Hartree, distances in Angstrom, electron counts in electrons. Every SCF goes through
the results store (``run_scf_stored``), so repeating a curve costs nothing. Each point after the
first starts from the density matrix of its nearest already computed neighbour (a digest of that
density goes into the store key), so a curve follows one electronic state and converges in few cycles;
a point that does not converge from there is tried once more from run_scf's own start (for DM21 the
B3LYP warm start). A point that converges from neither comes back with converged False.

Fractional charge (Perdew, Parr, Levy & Balduz 1982): the exact E(N) is a straight line between
integer electron counts. ``charge_occupations`` gives fixed spin-orbital occupations for N0 + delta
electrons, delta in [-1, +1], by this rule:

* the molecule's 2S fixes n_alpha >= n_beta (n_alpha - n_beta = 2S);
* orbitals are filled in order of energy (run_scf's fixed occupations), each spin channel on its own;
* an electron is removed (delta < 0) from the highest occupied spin orbital: the highest alpha
  orbital when n_alpha > n_beta, else the highest beta orbital;
* an electron is added (delta > 0) to the lowest unoccupied spin orbital: the lowest beta orbital
  when n_alpha > n_beta, else the lowest alpha orbital.

For the H atom this gives N in [0, 1]: alpha N, beta 0; N in [1, 2]: alpha 1, beta N - 1.
Degenerate cases are settled by this fixed rule, not by energy: for a closed shell (both spin
channels degenerate) the electron is removed from beta and added to alpha; within a spin channel
the orbital taken is the one at the n-th place in energy order, whichever partner of a degenerate
set (p shells, pi orbitals) that happens to be. No other occupation pattern is tried, so the curve
is the one of this configuration, not necessarily the lowest fractional state.

Fractional spin (Cohen, Mori-Sanchez & Yang 2008): a fraction f of the highest alpha electron moves
to the beta orbital of the same index. f = 0 and f = 1 are the spin-flipped integer states, equal in
energy for a spin-symmetric functional; f = 1/2 is the spin-symmetric ensemble, whose exact energy
(for the H atom, and any 2S = 1 system with a non-degenerate singly occupied orbital) equals the
f = 0 energy. Note: the DM21 networks as published are not exactly symmetric under swapping the spin
channels; for the H atom E(f=1) - E(f=0) is -0.2 mHa (6-31G) and -0.3 mHa (aug-cc-pVTZ).

Dissociation: ``scan`` runs one SCF per bond length; ``DISSOCIATION_PRESETS`` lists classic curves
with their exact separated-fragment limits.

Measured convergence of stretched bonds (6-31G and STO-3G, level-1 grid): H2+ converges at 1 to 6 A
with B3LYP and DM21; H2 converges at every length with B3LYP, restricted and unrestricted (the
latter dissociating to two H atoms, <S^2> = 1). DM21 H2 does not converge beyond about 2 A, neither
restricted (the sigma_g^2 / sigma_u^2 oscillation of the official repository's issue #316) nor
unrestricted (the networks' beta potential where the beta density is tiny but not zero is several
Hartree deep, so the beta electron keeps jumping to the alpha atom); those points come back with
converged False. In STO-3G, restricted DM21 H2 at 2 and 2.5 A converges to the sigma_u^2 state
(far too high in energy): check such points against their neighbours.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from explorer import settings
from explorer.chem import units
from explorer.chem.molecules import Molecule, parse_atoms
from explorer.chem.numbers import parse_numbers
from explorer.engine.grids import GridSpec
from explorer.engine.scf import default_kind
from explorer.errors import ConvergenceError, InputError
from explorer.functionals import resolve
from explorer.runs.cached import run_scf_reporting

#: Exact nonrelativistic energies (Hartree, infinite nuclear mass) used for the limits below.
H_ATOM = -0.5
HE_ATOM = -2.903724377  # Pekeris, Phys. Rev. 112, 1649 (1958); Drake's later value agrees to 1e-9
HE_PLUS = -2.0  # hydrogen-like, -Z^2/2
LI_ATOM = -7.478060323  # Yan, Tambasco & Drake, Phys. Rev. A 57, 1652 (1998)

EXACT_LIMIT_NOTE = (
    "The exact limits are complete-basis-set, nonrelativistic, infinite-nuclear-mass energies of the "
    "separated fragments. A finite basis cannot reach them: small-basis curves sit above them by the "
    "basis-set error (for the H atom with aug-cc-pVTZ, UHF gives -0.4998212 Ha, 0.18 mHa above -0.5; "
    "with 6-31G -0.4982329 Ha, 1.8 mHa above). Approximate functionals can also end below the limit: "
    "delocalization error makes stretched H2+ and He2+ far too low."
)

#: Classic dissociation curves: the atom template (``{r}`` is the bond length in Angstrom), charge,
#: 2S, SCF kind, bond lengths (Angstrom), and the exact energy of the separated fragments (Hartree).
DISSOCIATION_PRESETS: dict[str, dict] = {
    "H2+": {
        "template": "H 0 0 0; H 0 0 {r}",
        "charge": 1,
        "spin": 1,
        "kind": "UKS",
        "values": [0.6, 0.8, 1.06, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0, 6.0],
        "exact_limit": H_ATOM,
        "limit_source": "H atom + bare proton: exact nonrelativistic H atom energy -1/2 Ha",
    },
    "H2 (restricted)": {
        "template": "H 0 0 0; H 0 0 {r}",
        "charge": 0,
        "spin": 0,
        "kind": "RKS",
        "values": [0.5, 0.6, 0.74, 0.9, 1.1, 1.4, 1.8, 2.5, 3.5, 5.0, 6.0],
        "exact_limit": 2 * H_ATOM,
        "limit_source": "two H atoms: 2 x (-1/2 Ha); a restricted determinant cannot reach it "
        "(it keeps ionic H+ H- terms), the static correlation error",
    },
    "H2 (unrestricted)": {
        "template": "H 0 0 0; H 0 0 {r}",
        "charge": 0,
        "spin": 0,
        "kind": "UKS",
        "values": [0.5, 0.6, 0.74, 0.9, 1.1, 1.4, 1.8, 2.5, 3.5, 5.0, 6.0],
        "exact_limit": 2 * H_ATOM,
        "limit_source": "two H atoms: 2 x (-1/2 Ha); reached by a spin-symmetry-broken determinant",
    },
    "He2+": {
        "template": "He 0 0 0; He 0 0 {r}",
        "charge": 1,
        "spin": 1,
        "kind": "UKS",
        "values": [0.8, 1.0, 1.08, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0],
        "exact_limit": HE_ATOM + HE_PLUS,
        "limit_source": "He atom + He+: -2.903724377 Ha (Pekeris 1958; Drake) + -2 Ha (exact, "
        "hydrogen-like) = -4.903724377 Ha",
    },
    "LiH": {
        "template": "Li 0 0 0; H 0 0 {r}",
        "charge": 0,
        "spin": 0,
        "kind": "UKS",
        "values": [1.0, 1.3, 1.6, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0],
        "exact_limit": LI_ATOM + H_ATOM,
        "limit_source": "Li atom + H atom: -7.478060323 Ha (Hylleraas-basis variational value, Yan, "
        "Tambasco & Drake, Phys. Rev. A 57, 1652 (1998)) + -0.5 Ha = -7.978060323 Ha",
    },
}

_TOL = 1e-12


# --- occupations -------------------------------------------------------------------------------


def _spin_counts(molecule: Molecule) -> tuple[int, int]:
    n = molecule.n_electrons
    return (n + molecule.spin) // 2, (n - molecule.spin) // 2


def charge_occupations(molecule: Molecule, delta: float) -> tuple[list[float], list[float]]:
    """(alpha, beta) occupation numbers, in order of orbital energy, for N0 + ``delta`` electrons,
    delta in [-1, +1] (N0 the molecule's electron count), by the rule in the module docstring.
    Trailing zeros are left out (orbitals not listed are empty)."""
    delta = _checked(delta, -1.0, 1.0, "delta (added electrons)")
    n_alpha, n_beta = _spin_counts(molecule)
    alpha, beta = [1.0] * n_alpha, [1.0] * n_beta
    if delta < 0:
        if n_alpha == 0:
            raise InputError(f"{_label(molecule)} has no electron to remove")
        channel = alpha if n_alpha > n_beta else beta
        channel[-1] = 1.0 + delta
    elif delta > 0:
        channel = beta if n_alpha > n_beta else alpha
        channel.append(delta)
    return _trimmed(alpha), _trimmed(beta)


def spin_occupations(molecule: Molecule, fraction: float) -> tuple[list[float], list[float]]:
    """(alpha, beta) occupations with a ``fraction`` (0..1) of the highest alpha electron moved to
    the beta orbital of the same index; needs 2S >= 1."""
    if molecule.spin < 1:
        raise InputError("fractional spin needs an unpaired electron (2S >= 1)")
    fraction = _checked(fraction, 0.0, 1.0, "spin fraction")
    n_alpha, n_beta = _spin_counts(molecule)
    alpha = [1.0] * n_alpha
    alpha[-1] = 1.0 - fraction
    beta = [1.0] * n_beta + [0.0] * (n_alpha - 1 - n_beta) + [fraction]
    return _trimmed(alpha), _trimmed(beta)


def _trimmed(occupations: list[float]) -> list[float]:
    """Without trailing zeros, so that equal occupations give equal store keys (f = 0 of a
    fractional-spin curve is delta = 0 of a fractional-charge curve)."""
    while occupations and occupations[-1] == 0.0:
        occupations.pop()
    return occupations


def _checked(x, low: float, high: float, what: str) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {x!r}") from None
    if not (math.isfinite(x) and low - _TOL <= x <= high + _TOL):
        raise InputError(f"{what} must be between {low:g} and {high:g}, got {x!r}")
    return min(max(x, low), high) + 0.0


def _label(molecule: Molecule) -> str:
    return molecule.name or molecule.formula()


# --- curves at fixed occupations ----------------------------------------------------------------


def fractional_charge(
    molecule: Molecule,
    functional: str,
    store,
    *,
    deltas: Sequence[float] | None = None,
    points: int = 9,
    grid: GridSpec | None = None,
    kind: str | None = None,
    warm_start: str | None = "B3LYP",
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """E(N) for N = N0 + delta electrons (UKS, fixed occupations from ``charge_occupations``).

    ``deltas`` default to ``points`` evenly spaced values from -1 to +1. Returns one dict per delta,
    in the given order: {"delta", "n_electrons", "energy" (Hartree), "converged", "homo", "lumo"
    (Hartree, None where there is none), "s2" (<S^2>), "cached"}. With no electron left (e.g. the H atom at
    delta = -1) the energy is the nuclear repulsion (0 for an atom) and no SCF is run. The integer
    system (delta = 0) is computed first (DM21 from ``warm_start``), then the points outward, each
    from its nearest computed neighbour's density. ``progress`` receives run_scf's iteration dicts
    with a "task" label, and {"task", "stage": "done" | "from the store", "energy"} per point.
    """
    functional = resolve(functional).name
    _require_uks(kind)
    deltas = _abscissae(deltas, points, -1.0, 1.0, "delta (added electrons)", "give at least one delta")
    occupations = [charge_occupations(molecule, d) for d in deltas]
    nao = molecule.to_pyscf().nao_nr()
    if any(max(len(a), len(b)) > nao for a, b in occupations):
        raise InputError(
            f"basis {molecule.basis!r} has {nao} orbitals per spin: too few to add an electron to "
            f"{_label(molecule)}"
        )

    def describe(i):
        n = molecule.n_electrons + deltas[i]
        return {"delta": deltas[i], "n_electrons": n}, f"N={n:g}", f"N = {n:g}", occupations[i]

    return _occupation_curve(molecule, functional, store, deltas, describe, progress, grid, warm_start)


def fractional_spin(
    molecule: Molecule,
    functional: str,
    store,
    *,
    fractions: Sequence[float] | None = None,
    points: int = 5,
    grid: GridSpec | None = None,
    kind: str | None = None,
    warm_start: str | None = "B3LYP",
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """E(f) with a fraction f of the highest alpha electron in the beta orbital of the same index
    (UKS, fixed occupations from ``spin_occupations``); needs 2S >= 1.

    ``fractions`` default to ``points`` evenly spaced values from 0 to 1. Returns one dict per
    fraction, in the given order: {"fraction", "energy" (Hartree), "converged", "homo", "lumo",
    "s2", "cached"}. f = 0 is computed first, then the others outward, each from its nearest computed
    neighbour's density; ``progress`` as in ``fractional_charge``.
    """
    functional = resolve(functional).name
    _require_uks(kind)
    if molecule.spin < 1:
        raise InputError("fractional spin needs an unpaired electron (2S >= 1)")
    fractions = _abscissae(fractions, points, 0.0, 1.0, "spin fraction", "give at least one spin fraction")

    def describe(i):
        f = fractions[i]
        return {"fraction": f}, f"spin fraction {f:g}", f"f = {f:g}", spin_occupations(molecule, f)

    return _occupation_curve(molecule, functional, store, fractions, describe, progress, grid, warm_start)


def _abscissae(values, points, low: float, high: float, what: str, nothing: str) -> list[float]:
    """``values`` checked to lie in [low, high], or ``points`` evenly spaced values from low to high."""
    if values is None:
        values = np.linspace(low, high, _count(points))
    values = [_checked(x, low, high, what) for x in np.ravel(values)]
    if not values:
        raise InputError(nothing)
    return values


def _occupation_curve(molecule, functional, store, xs, describe, progress, grid, warm_start) -> list[dict]:
    """One UKS SCF at fixed occupations per x of ``xs``, x = 0 first, then outward, each from its
    nearest computed neighbour's density (``_outward``). ``describe(i)`` gives point i's (fields of
    its dict, suffix of its molecule's name, suffix of its progress label, (alpha, beta) occupations).
    A point with no electrons gets the nuclear repulsion and no SCF. At whole x (the ends of each
    segment, where an SCF most often has several solutions: H- from H's density lands 1.3 mHa above
    its ground state) the neighbour's density and an independent start are both tried and the lower
    converged energy is kept."""

    def run(i, dm0):
        point, name, task, occupations = describe(i)
        if sum(occupations[0]) + sum(occupations[1]) < _TOL:
            return {**point, **_no_electrons(molecule)}, None
        named = dataclasses.replace(molecule, name=f"{_label(molecule)} {name}")
        whole = abs(xs[i] - round(xs[i])) < _TOL
        return _point(
            named,
            functional,
            store,
            point,
            f"{functional}: {task}",
            progress,
            "UKS",
            grid,
            warm_start,
            occupations,
            _starts(dm0, None),
            lowest=whole,
        )

    return _outward(xs, 0.0, run)


def _count(points) -> int:
    if isinstance(points, bool) or not isinstance(points, int | np.integer) or points < 2:
        raise InputError(f"the number of points must be an integer of at least 2, got {points!r}")
    if points > settings.max_points():
        raise InputError(
            f"{points} points is more than the limit of {settings.max_points()} per curve "
            f"(set {settings.MAX_POINTS_ENV} to raise it)"
        )
    return int(points)


def _require_uks(kind: str | None) -> None:
    if kind is not None and str(kind).upper() != "UKS":
        raise InputError(f"fractional occupations are set per spin orbital: they need UKS, not {kind}")


def _no_electrons(molecule: Molecule) -> dict:
    """A point with no electrons: the energy is the nuclear repulsion, nothing to converge."""
    energy = float(molecule.to_pyscf().energy_nuc())
    return {"energy": energy, "converged": True, "homo": None, "lumo": None, "s2": 0.0, "cached": False}


def _outward(xs: list[float], origin: float, run) -> list[dict]:
    """Calls ``run(i, dm0)`` for every i, nearest to ``origin`` first, each with the density matrix
    of the nearest point already computed (None for the first); returns the points in input order."""
    order = sorted(range(len(xs)), key=lambda i: (abs(xs[i] - origin), xs[i]))
    out: list[dict | None] = [None] * len(xs)
    done: list[tuple[float, np.ndarray]] = []  # (x, dm) of converged points, in computing order
    for i in order:
        dm0 = min(done, key=lambda d: abs(d[0] - xs[i]))[1] if done else None
        point, dm = run(i, dm0)
        out[i] = point
        if dm is not None and point["converged"]:
            done.append((xs[i], dm))
    return out


def _point(
    molecule, functional, store, point, task, progress, kind, grid, warm_start, occ, starts, lowest=False
):
    """One SCF through the store, trying the start densities ``starts`` in turn (None: run_scf's
    own start, the warm start for DM21) until one converges, or with ``lowest`` all of them, keeping
    the lowest converged energy. Returns (point dict, density matrix of the kept result or None); a
    point that converged from no start has converged False. The dict says which start was kept
    ("start": "neighbour" or "independent") and, where several converged, "start_energies"."""

    tried, error = [], None  # (start label, result, cached) of every SCF that ran
    for attempt, dm0 in enumerate(starts):
        if attempt and progress is not None:
            stage = "trying an independent start too" if lowest else "not converged: trying another start"
            progress({"task": task, "stage": stage})
        try:
            result, cached = run_scf_reporting(
                molecule,
                functional,
                store,
                task,
                progress,
                kind=kind,
                grid=grid,
                warm_start=warm_start,
                occupations=occ,
                dm0=dm0,
            )
        except ConvergenceError as err:
            error = str(err)
            continue
        tried.append(("independent" if dm0 is None else "neighbour", result, cached))
        if result.converged and not lowest:
            break
    if not tried:
        if progress is not None:
            progress({"task": task, "stage": f"failed: {error}"})
        fields = {"energy": None, "converged": False, "homo": None, "lumo": None, "s2": None, "cached": False}
        return {**point, **fields, "error": error}, None
    converged = [t for t in tried if t[1].converged]
    start, result, cached = min(converged, key=lambda t: t[1].energy) if converged else tried[-1]
    fields = {
        "energy": result.energy,
        "converged": result.converged,
        "homo": result.homo,
        "lumo": result.lumo,
        "s2": result.s2,
        "cached": cached,
        "start": start,
    }
    if len(converged) > 1:
        fields["start_energies"] = {label: r.energy for label, r, _ in converged}
    return {**point, **fields}, (result.dm if result.converged else None)


def _starts(*candidates) -> list:
    """Start densities to try, in order, without repeats (None: run_scf's own start)."""
    out = []
    for c in candidates:
        if not any((c is None and o is None) or (c is not None and o is not None and c is o) for o in out):
            out.append(c)
    return out


# --- analysis ---------------------------------------------------------------------------------


def linearity(points: Sequence[dict]) -> dict:
    """Deviation of a fractional-charge curve from the exact piecewise-linear E(N) (PPLB 1982).

    ``points`` are dicts with "n_electrons" and "energy" (Hartree), e.g. from ``fractional_charge``;
    points that did not converge are left out. For each segment [n, n + 1] whose two integer end
    points are present: the straight line through them, each point's deviation E - E_line
    (Hartree; negative = below the line), the largest absolute deviation with its sign, and the
    curvature d2E/dN2 (Hartree per electron^2) from a quadratic fit of the segment's points (None
    with fewer than 3): positive = convex, points below the line, delocalization error (as in
    B3LYP); negative = concave, points above the line (as in HF). Returns {"segments": [...],
    "deviations": [one per input point, None outside every segment], "max_abs_deviation",
    "max_deviation" (the signed deviation of largest size), "sign" (-1, 0, +1)}, None where no
    segment has both ends.
    """
    usable = [
        (i, float(p["n_electrons"]), float(p["energy"]))
        for i, p in enumerate(points)
        if p.get("energy") is not None and p.get("converged", True) and math.isfinite(p["energy"])
    ]
    integers = {round(n): e for _, n, e in usable if abs(n - round(n)) < 1e-9}
    deviations: list[float | None] = [None] * len(points)
    segments = []
    for left in sorted(integers):
        if left + 1 not in integers:
            continue
        e_left, slope = integers[left], integers[left + 1] - integers[left]
        inside = [(i, n, e) for i, n, e in usable if left - 1e-9 <= n <= left + 1 + 1e-9]
        rows = []
        for i, n, e in inside:
            line = e_left + slope * (n - left)
            deviations[i] = e - line
            rows.append({"n_electrons": n, "energy": e, "line": line, "deviation": e - line})
        worst = max(rows, key=lambda r: abs(r["deviation"]))["deviation"]
        curvature = None
        if len({n for _, n, _ in inside}) >= 3:
            ns = np.array([n for _, n, _ in inside])
            es = np.array([e for _, _, e in inside])
            curvature = float(2.0 * np.polyfit(ns - left, es, 2)[0])
        segments.append(
            {
                "n_left": left,
                "n_right": left + 1,
                "e_left": e_left,
                "e_right": integers[left + 1],
                "slope": slope,
                "points": rows,
                "max_abs_deviation": abs(worst),
                "max_deviation": worst,
                "curvature": curvature,
            }
        )
    if not segments:
        return {"segments": [], "deviations": deviations, "max_abs_deviation": None, "max_deviation": None,
                "sign": None}  # fmt: skip
    worst = max((s["max_deviation"] for s in segments), key=abs)
    return {
        "segments": segments,
        "deviations": deviations,
        "max_abs_deviation": abs(worst),
        "max_deviation": worst,
        "sign": int(np.sign(worst)),
    }


def ionization_and_affinity(points: Sequence[dict]) -> dict:
    """From a fractional-charge curve (dicts with "delta", "energy", "homo", "lumo"; Hartree):
    IP = E(N0 - 1) - E(N0) and EA = E(N0) - E(N0 + 1) from the integer points, beside -HOMO and
    -LUMO of the N0-electron system (their exact-functional counterparts: -HOMO = IP; -LUMO is
    the EA only in the limit of no derivative discontinuity). None where a point is missing."""

    def at(delta):
        for p in points:
            if abs(p["delta"] - delta) < 1e-9 and p.get("converged", True) and p.get("energy") is not None:
                return p
        return None

    mid, minus, plus = at(0.0), at(-1.0), at(1.0)
    return {
        "ip": None if mid is None or minus is None else minus["energy"] - mid["energy"],
        "ea": None if mid is None or plus is None else mid["energy"] - plus["energy"],
        "minus_homo": None if mid is None or mid.get("homo") is None else -mid["homo"],
        "minus_lumo": None if mid is None or mid.get("lumo") is None else -mid["lumo"],
    }


# --- tables (the app's and the command line's) ------------------------------------------------

#: Column labels of ``ionization_and_affinity``'s quantities in ``charge_table``.
FRONTIER_LABELS = {"ip": "IP", "minus_homo": "-HOMO", "ea": "EA", "minus_lumo": "-LUMO"}


def charge_table(curves: dict[str, Sequence[dict]], unit: str = "kcal/mol") -> list[dict]:
    """The summary of fractional-charge curves (``fractional_charge``'s points by functional): one
    row per functional with "functional"; "max |deviation| (<unit>)", the largest |E - straight
    line| of ``linearity`` in ``unit`` (one of units.UNITS); "curvature N=a..b (Ha)" per segment,
    d2E/dN2 in Hartree per electron^2 (positive: delocalization error); and "IP (eV)",
    "-HOMO (eV)", "EA (eV)", "-LUMO (eV)" from ``ionization_and_affinity``. None where a value is
    missing (a point not converged, a segment without both ends)."""
    rows = []
    for functional, points in curves.items():
        lin = linearity(points)
        row = {
            "functional": functional,
            f"max |deviation| ({unit})": units.from_hartree(lin["max_abs_deviation"], unit),
        }
        for segment in lin["segments"]:
            row[f"curvature N={segment['n_left']}..{segment['n_right']} (Ha)"] = segment["curvature"]
        frontier = ionization_and_affinity(points)
        for name, label in FRONTIER_LABELS.items():
            row[f"{label} (eV)"] = units.from_hartree(frontier[name], "eV")
        rows.append(row)
    return rows


def spin_fraction_table(curves: dict[str, Sequence[dict]], unit: str = "kcal/mol") -> list[dict]:
    """The summary of fractional-spin curves (``fractional_spin``'s points by functional, f = 0
    first): one row per functional with "functional"; "E(f=0.5) - E(0) (<unit>)", the energy of
    the point nearest f = 1/2 above the first point in ``unit`` (exact: 0); and "E(f=0) (Ha)".
    None where an energy is missing."""
    rows = []
    for functional, points in curves.items():
        origin = points[0]["energy"]
        middle = min(points, key=lambda p: abs(p["fraction"] - 0.5))
        rise = None if origin is None or middle["energy"] is None else middle["energy"] - origin
        rows.append(
            {
                "functional": functional,
                f"E(f=0.5) - E(0) ({unit})": units.from_hartree(rise, unit),
                "E(f=0) (Ha)": origin,
            }
        )
    return rows


def scan_table(
    curves: dict[str, Sequence[dict]], unit: str = "kcal/mol", exact_limit: float | None = None
) -> list[dict]:
    """Bond scans side by side (``scan``'s points by functional, the same bond lengths in the same
    order): one row per bond length with "r (A)" (Angstrom), "<functional> E (Ha)" and, given the
    exact separated-fragment energy ``exact_limit`` (Hartree), "<functional> E - limit (<unit>)".
    A point that did not converge is None: it is not a result."""
    rows = []
    first = next(iter(curves.values()), [])
    for i, r in enumerate(p["value"] for p in first):
        row = {"r (A)": r}
        for functional, points in curves.items():
            point = points[i]
            energy = point["energy"] if point["converged"] else None
            row[f"{functional} E (Ha)"] = energy
            if exact_limit is not None:
                below = None if energy is None else energy - exact_limit
                row[f"{functional} E - limit ({unit})"] = units.from_hartree(below, unit)
        rows.append(row)
    return rows


# --- bond scans ---------------------------------------------------------------------------------


def scan_geometries(
    template: str, values: Sequence[float], *, charge: int = 0, spin: int | None = None, basis: str
) -> list[Molecule]:
    """The molecules of a scan: ``template`` with ``{r}`` replaced by each value (Angstrom).
    Raises InputError for a template without ``{r}``, one that does not parse, or a bad value."""
    if not isinstance(template, str) or "{r}" not in template:
        raise InputError(
            "the scan template needs {r} where the bond length goes (Angstrom), e.g. 'H 0 0 0; H 0 0 {r}'"
        )
    values = [] if values is None else values if isinstance(values, str) else np.ravel(values).tolist()
    values = parse_numbers(values, "scan values (Angstrom)", positive=True, most=settings.max_points())
    return [parse_atoms(template.replace("{r}", f"{r:.10g}"), charge, spin, basis) for r in values]


def scan(
    template: str,
    values: Sequence[float],
    functional: str,
    store,
    *,
    charge: int = 0,
    spin: int | None = None,
    basis: str,
    kind: str | None = None,
    grid: GridSpec | None = None,
    warm_start: str | None = "B3LYP",
    name: str = "",
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """A potential-energy curve: one SCF per value of ``{r}`` in ``template`` (Angstrom).

    ``kind`` RKS/UKS/ROKS (default RKS for 2S = 0, else UKS). The points are computed in the given
    order, each from the previous converged point's density matrix (the first one, for DM21, from
    ``warm_start``); a point that does not converge from it is tried once more from run_scf's own
    start. UKS with 2S = 0 (e.g. H2, LiH) starts every point from a spin-symmetry-broken guess
    when its start density is spin-symmetric (see ``broken_symmetry_guess``), so that stretched
    bonds can dissociate into open-shell fragments (at short bond lengths the SCF returns to the
    symmetric solution), and falls back to the symmetric start if that does not converge. Returns
    one dict per value: {"value" (Angstrom), "energy" (Hartree), "converged", "homo", "lumo"
    (Hartree), "s2" (<S^2>), "cached"}; a point whose SCF did not converge is returned with
    converged False (and is not stored). ``progress`` as in ``fractional_charge``.
    """
    functional = resolve(functional).name
    molecules = scan_geometries(template, values, charge=charge, spin=spin, basis=basis)
    for m in molecules:
        m.to_pyscf()  # a bad basis is reported before any calculation
    label = name or molecules[0].formula()
    points, dm = [], None
    for value, molecule in zip(np.ravel(values), molecules, strict=True):
        value = float(value)
        run_kind = (kind or default_kind(molecule.spin)).upper()
        if run_kind == "UKS" and molecule.spin == 0 and molecule.n_electrons >= 2:
            # Symmetry broken first; if that does not converge, the symmetric neighbour density.
            starts = _starts(broken_symmetry_guess(molecule, dm), dm)
        else:
            starts = _starts(dm, None)
        named = dataclasses.replace(molecule, name=f"{label} R={value:g} A")
        task = f"{functional}: R = {value:g} A"
        point, new_dm = _point(
            named,
            functional,
            store,
            {"value": value},
            task,
            progress,
            run_kind,
            grid,
            warm_start,
            None,
            starts,
        )
        points.append(point)
        if new_dm is not None and point["converged"]:
            dm = new_dm
    return points


def broken_symmetry_guess(molecule: Molecule, dm: np.ndarray | None = None, angle: float = math.pi / 4):
    """A UKS start density (2, nao, nao) with alpha and beta HOMOs localized on opposite sides.

    From ``dm`` (a converged density of a nearby geometry; None: PySCF's minao guess) a
    Hartree-Fock Fock matrix is built and diagonalized; in each spin channel the HOMO becomes
    cos(angle) HOMO +- sin(angle) LUMO (+ for alpha, - for beta). A ``dm`` whose spin symmetry is
    already broken (tr((D_a - D_b) S)^2 > 0.1) is returned unchanged, as is one of a molecule with
    n_alpha != n_beta.
    """
    from pyscf import scf

    mol = molecule.to_pyscf()
    mf = scf.UHF(mol)
    if dm is not None:
        dm = np.asarray(dm, dtype=float)
        if dm.ndim == 2:
            dm = np.array([dm / 2, dm / 2])
        spin_density = (dm[0] - dm[1]) @ mf.get_ovlp()
        if np.trace(spin_density @ spin_density) > 0.1:  # about 0 when symmetric, 2 for two H atoms
            return dm
    else:
        dm = np.asarray(mf.get_init_guess(key="minao"))
    n_alpha, n_beta = mol.nelec
    nao = mol.nao_nr()
    if n_alpha != n_beta or n_alpha == 0 or n_alpha >= nao:
        return dm
    fock = mf.get_hcore() + mf.get_veff(mol, dm)
    _, coeff = mf.eig(fock, mf.get_ovlp())
    homo, lumo = n_alpha - 1, n_alpha
    c, s = math.cos(angle), math.sin(angle)
    mixed = []
    for sign, cs in ((1.0, coeff[0]), (-1.0, coeff[1])):
        cs = np.array(cs)
        h, lu = cs[:, homo].copy(), cs[:, lumo].copy()
        cs[:, homo] = c * h + sign * s * lu
        mixed.append(cs)
    occ = np.zeros((2, nao))
    occ[0, :n_alpha] = 1.0
    occ[1, :n_beta] = 1.0
    return np.asarray(mf.make_rdm1(mixed, occ))
