"""Spin-state energetics: the lowest state of several multiplicities of one molecule at one geometry.

For each requested 2S (0, 2, 4 ... for an even electron count, 1, 3, 5 ... for an odd one) and each
functional, one SCF on the same basis and grid, through the results store:

* 2S = 0: restricted closed-shell (RKS) by default; with ``broken_symmetry`` an unrestricted (UKS)
  determinant started from a spin-symmetry-broken guess (``fractional.broken_symmetry_guess``: alpha
  and beta HOMOs mixed with the LUMO in opposite senses). For DM21 that guess first converges with the
  warm-start functional (B3LYP), and DM21 starts from the result. If the symmetry breaking brings no
  energy gain the SCF falls back to the closed-shell solution (<S^2> = 0).
* 2S > 0: UKS (the high-spin component M_S = S), DM21 from the engine's default B3LYP warm start.

Energies are in Hartree; gaps are E(higher 2S) - E(lower 2S) between successive requested spins, so a
negative gap means the higher multiplicity lies lower (CH2, O2). <S^2> is PySCF's value for UKS and
S(S + 1) by construction for RKS; a state whose |<S^2> - S(S + 1)| exceeds CONTAMINATION_THRESHOLD is
flagged. Single determinants are not pure spin or angular-momentum eigenstates: the closed-shell
singlet of O2, NH and the C and O atoms (two electrons in one of two degenerate orbitals) mixes the
1Delta (1D) state with 1Sigma+ (1S), and a broken-symmetry singlet mixes singlet and triplet. Treat
the comparison with the references as qualitative there. An SCF finds a local solution: with
degenerate orbitals (atoms) it can land in different determinants from run to run (B3LYP N atom doublet
in 6-31G: <S^2> 1.750 at -54.5380 Ha, or 0.750 at -54.4761 Ha), so "lowest" means lowest found.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence

from explorer.chem import units
from explorer.chem.molecules import Molecule, from_library, parse_atoms
from explorer.chem.numbers import parse_numbers
from explorer.engine.grids import GridSpec
from explorer.engine.scf import default_kind
from explorer.errors import ConvergenceError, InputError
from explorer.functionals import is_dm21, resolve
from explorer.runs.cached import run_scf_reporting

#: |<S^2> - S(S+1)| above which a state is flagged as spin-contaminated (dimensionless).
CONTAMINATION_THRESHOLD = 0.1

MULTIPLICITY_NAMES = {1: "singlet", 2: "doublet", 3: "triplet", 4: "quartet", 5: "quintet", 6: "sextet",
                      7: "septet", 8: "octet"}  # fmt: skip


def multiplicity_name(spin: int) -> str:
    """'singlet', 'doublet', ... for 2S = 0, 1, ...; '2S+1 = n' beyond octets."""
    return MULTIPLICITY_NAMES.get(spin + 1, f"2S+1 = {spin + 1}")


@dataclasses.dataclass(frozen=True)
class GapReference:
    """A reference gap E(to_spin) - E(from_spin) in ``unit`` (kcal/mol or eV), what kind of gap it
    is (adiabatic, vertical, atomic term energy ...) and where the number comes from."""

    from_spin: int
    to_spin: int
    value: float
    unit: str
    kind: str
    source: str

    def hartree(self) -> float:
        """The reference gap in Hartree."""
        return units.to_hartree(self.value, self.unit)


@dataclasses.dataclass(frozen=True)
class SpinPreset:
    """A classroom system: a library molecule (``library``) or an atom string (``atoms``, Angstrom,
    with ``geometry_source``), the spins 2S to compute, and a reference gap with its source."""

    name: str
    spins: tuple[int, ...]
    reference: GapReference
    library: str = ""
    atoms: str = ""
    geometry_source: str = ""
    note: str = ""

    def molecule(self, basis: str = "6-31g") -> Molecule:
        """The preset's molecule in ``basis``, its 2S the first of ``spins``."""
        if self.library:
            base = from_library(self.library, basis)
            return dataclasses.replace(base, spin=self.spins[0], name=self.name)
        return dataclasses.replace(
            parse_atoms(self.atoms, 0, self.spins[0], basis, self.name), source=self.geometry_source
        )


def _bent(center: str, ligand: str, r: float, angle: float) -> str:
    """Atom string of a symmetric bent XY2 (bond length ``r`` in Angstrom, angle in degrees)."""
    y, z = r * math.sin(math.radians(angle) / 2), r * math.cos(math.radians(angle) / 2)
    return f"{center} 0 0 0; {ligand} 0 {y:.10g} {z:.10g}; {ligand} 0 {-y:.10g} {z:.10g}"


_CARBENE_NOTE = (
    "The calculation is at one geometry, so it gives a vertical gap; the reference is adiabatic (each "
    "state at its own geometry: the carbene's singlet and triplet angles differ by 15-35 degrees). At "
    "the ground state's geometry the upper state is not at its own minimum, so the vertical gap is "
    "larger than the adiabatic one: part of the difference from the reference is the geometry, not "
    "the functional."
)
_DEGENERATE_NOTE = (
    "The closed-shell singlet puts both electrons in one of two degenerate orbitals: a single "
    "determinant that mixes the 1Delta (1D for atoms) state with the higher 1Sigma+ (1S), so it "
    "overestimates the singlet's energy; the comparison is qualitative."
)

#: Classic spin-state gaps. Reference values are E(to_spin) - E(from_spin): negative when the higher
#: multiplicity is the ground state.
PRESETS: dict[str, SpinPreset] = {
    p.name: p
    for p in (
        SpinPreset(
            "CH2 (methylene)",
            (0, 2),
            GapReference(
                0,
                2,
                -9.0,
                "kcal/mol",
                "adiabatic T0 (between zero-point levels), a1A1 - X3B1",
                "experiment: Leopold, Murray, Miller & Lineberger, J. Chem. Phys. 83, 4849 (1985), 9.0 +- "
                "0.1 kcal/mol; Jensen & Bunker, J. Chem. Phys. 89, 1327 (1988), 3147 cm-1 (9.0 kcal/mol)",
            ),
            library="CH2 (triplet)",
            note="Geometry of the triplet ground state. " + _CARBENE_NOTE,
        ),
        SpinPreset(
            "SiH2 (silylene)",
            (0, 2),
            GapReference(
                0,
                2,
                21.0,
                "kcal/mol",
                "adiabatic T0, b3B1 - X1A1",
                "experiment (photoionization): Berkowitz, Greene, Cho & Ruscic, J. Chem. Phys. 86, 1235 "
                "(1987), 21.0 +- 0.7 kcal/mol",
            ),
            atoms=_bent("Si", "H", 1.514, 92.1),
            geometry_source="experimental singlet ground state r(SiH)=1.514 A, HSiH=92.1 deg (NIST CCCBDB)",
            note="Geometry of the singlet ground state. " + _CARBENE_NOTE,
        ),
        SpinPreset(
            "CF2 (difluorocarbene)",
            (0, 2),
            GapReference(
                0,
                2,
                56.6,
                "kcal/mol",
                "adiabatic, a3B1 - X1A1",
                "experiment (photoelectron spectrum of CF2-): Murray, Leopold, Miller & Lineberger, "
                "J. Chem. Phys. 89, 5442 (1988), 56.6 +- 0.7 kcal/mol",
            ),
            atoms=_bent("C", "F", 1.304, 104.8),
            geometry_source="experimental singlet ground state r(CF)=1.304 A, FCF=104.8 deg (NIST CCCBDB)",
            note="Geometry of the singlet ground state. " + _CARBENE_NOTE,
        ),
        SpinPreset(
            "NH (imidogen)",
            (0, 2),
            GapReference(
                0,
                2,
                -1.56,
                "eV",
                "adiabatic term energy, a1Delta - X3Sigma- (bond lengths differ by 0.2%)",
                "experiment: Huber & Herzberg, Constants of Diatomic Molecules (1979), NIST WebBook",
            ),
            library="NH",
            note=_DEGENERATE_NOTE,
        ),
        SpinPreset(
            "O2 (oxygen)",
            (0, 2),
            GapReference(
                0,
                2,
                -0.98,
                "eV",
                "adiabatic Te, a1Delta_g - X3Sigma_g- (7918 cm-1; bond lengths differ by 0.7%)",
                "experiment: Huber & Herzberg, Constants of Diatomic Molecules (1979), NIST WebBook",
            ),
            library="O2",
            note=_DEGENERATE_NOTE,
        ),
        SpinPreset(
            "C atom",
            (0, 2),
            GapReference(
                0,
                2,
                -1.26,
                "eV",
                "atomic term energy 1D - 3P, 3P averaged over J (1.264 eV from 3P0)",
                "experiment: NIST Atomic Spectra Database (1D2 at 10192.6 cm-1)",
            ),
            library="C",
            note=_DEGENERATE_NOTE,
        ),
        SpinPreset(
            "O atom",
            (0, 2),
            GapReference(
                0,
                2,
                -1.96,
                "eV",
                "atomic term energy 1D - 3P, 3P averaged over J (1.967 eV from 3P2)",
                "experiment: NIST Atomic Spectra Database (1D2 at 15867.9 cm-1)",
            ),
            library="O",
            note=_DEGENERATE_NOTE,
        ),
        SpinPreset(
            "N atom",
            (1, 3),
            GapReference(
                1,
                3,
                -2.38,
                "eV",
                "atomic term energy 2D - 4S, 2D averaged over J",
                "experiment: NIST Atomic Spectra Database (2D5/2 at 19224.5 cm-1, 2D3/2 at 19233.2 cm-1)",
            ),
            library="N",
            note="The doublet is a single UKS determinant, a mix of 2D and 2P components (and, with <S^2> "
            "near 1.75, of the quartet); the SCF may land in either of two doublet determinants: "
            "qualitative.",
        ),
    )
}


def parse_spins(spins: str | Iterable, molecule: Molecule | None = None) -> list[int]:
    """The spins 2S to compute, from "0,2" or a sequence, without repeats and in increasing order.
    With ``molecule``, each must fit its electron count (parity, 0 <= 2S <= N). InputError otherwise."""
    what = "spins 2S (0, 2, 4 ... or 1, 3, 5 ...)"
    values = sorted(set(parse_numbers(spins, what, whole=True, non_negative=True)))
    if molecule is not None:
        n = molecule.n_electrons
        parity = "even (0, 2, 4 ...)" if n % 2 == 0 else "odd (1, 3, 5 ...)"
        for s in values:
            if (n - s) % 2:
                raise InputError(f"2S={s} does not fit {n} electrons: 2S must be {parity}")
            if s > n:
                raise InputError(f"2S={s} is impossible with {n} electrons")
    return values


def spin_states(
    molecule: Molecule,
    functional: str,
    spins: Sequence[int] | str,
    store,
    *,
    broken_symmetry: bool = False,
    grid: GridSpec | None = None,
    warm_start: str | None = "B3LYP",
    threshold: float = CONTAMINATION_THRESHOLD,
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """The lowest SCF state of each multiplicity 2S in ``spins`` with ``functional`` (one geometry, the
    molecule's basis and charge; its own 2S is ignored), in increasing 2S.

    Returns one dict per spin: {"spin" (2S), "multiplicity" (2S+1), "label" ("triplet" ...), "kind"
    ("RKS", "UKS" or "UKS broken symmetry"), "energy" (Hartree; None unless the SCF converged), "s2" (<S^2>),
    "s2_expected" (S(S+1)), "contaminated" (|<S^2> - S(S+1)| > ``threshold``), "converged",
    "cached" (from the store), "homo", "lumo" (Hartree)}; a failed SCF adds "error". Every SCF goes
    through ``store`` (run_scf_reporting), so repeated requests come back at once. ``progress``
    receives run_scf's iteration dicts and outcome messages, each with a "task" label.
    """
    functional = resolve(functional).name
    spins = parse_spins(spins, molecule)
    nao = molecule.to_pyscf().nao_nr()  # also reports a bad basis before any calculation
    for s in spins:
        if (molecule.n_electrons + s) // 2 > nao:
            raise InputError(f"2S={s} needs more orbitals than basis {molecule.basis!r} has ({nao})")
    warm = resolve(warm_start).name if warm_start else None
    label = molecule.name or molecule.formula()
    states = []
    for s in spins:
        state_molecule = dataclasses.replace(molecule, spin=s, name=f"{label} {multiplicity_name(s)}")
        bs = broken_symmetry and s == 0 and molecule.n_electrons >= 2
        task = f"{functional}: {multiplicity_name(s)} (2S={s}{', broken symmetry' if bs else ''})"
        try:
            if bs:
                result, cached = _broken_symmetry(
                    state_molecule, functional, store, task, progress, grid, warm
                )
            else:
                options = {"kind": default_kind(s), "grid": grid, "warm_start": warm}
                result, cached = run_scf_reporting(
                    state_molecule, functional, store, task, progress, **options
                )
        except ConvergenceError as err:
            if progress is not None:
                progress({"task": task, "stage": f"failed: {err}"})
            states.append(_state(s, bs, None, False, threshold, error=str(err)))
            continue
        states.append(_state(s, bs, result, cached, threshold))
    return states


def _broken_symmetry(molecule, functional, store, task, progress, grid, warm):
    """A UKS singlet from a broken-symmetry guess; DM21 via a warm start from the same guess."""
    from explorer.analyses.fractional import broken_symmetry_guess

    guess = broken_symmetry_guess(molecule)
    if is_dm21(functional) and warm:
        start, _ = run_scf_reporting(
            molecule, warm, store, f"{task}: {warm} start", progress, kind="UKS", grid=grid, dm0=guess
        )
        if start.converged:
            guess = start.dm
    return run_scf_reporting(molecule, functional, store, task, progress, kind="UKS", grid=grid, dm0=guess)


def _state(spin: int, broken: bool, result, cached: bool, threshold: float, error: str | None = None) -> dict:
    """One state's row. An SCF that failed or did not converge gives no numbers (None): its energy is
    not a result, and must not reach a gap."""
    s = spin / 2
    expected = s * (s + 1)
    ok = result is not None and result.converged
    state = {
        "spin": spin,
        "multiplicity": spin + 1,
        "label": multiplicity_name(spin),
        "kind": "UKS broken symmetry" if broken else default_kind(spin),
        "energy": result.energy if ok else None,
        "s2": result.s2 if ok else None,
        "s2_expected": expected,
        "contaminated": ok and abs(result.s2 - expected) > threshold,
        "converged": ok,
        "cached": cached,
        "homo": result.homo if ok else None,
        "lumo": result.lumo if ok else None,
    }
    if error is not None:
        state["error"] = error
    return state


def gaps(states: Sequence[dict]) -> list[dict]:
    """Gaps between successive spins: {"from" (2S), "to" (2S), "from_label", "to_label", "gap"
    (E(to) - E(from), Hartree; None if either energy is missing), "converged" (both states)}; from a
    broken-symmetry singlet to the triplet also "gap_projected" (E(T) - E(S) with the singlet
    spin-projected, see ``projected_gap``)."""
    ordered = sorted(states, key=lambda st: st["spin"])
    out = []
    for a, b in zip(ordered, ordered[1:], strict=False):
        gap = None if a["energy"] is None or b["energy"] is None else b["energy"] - a["energy"]
        out.append(
            {
                "from": a["spin"],
                "to": b["spin"],
                "from_label": a["label"],
                "to_label": b["label"],
                "gap": gap,
                "converged": bool(a["converged"] and b["converged"]),
            }
        )
        projected = projected_gap(a, b)
        if projected is not None:
            out[-1]["gap_projected"] = -projected  # E(T) - E(S), the same sense as "gap"
    return out


def projected_gap(singlet: dict, triplet: dict) -> float | None:
    """Spin-projected singlet-triplet gap E(S) - E(T) (Hartree) from a broken-symmetry singlet and the
    triplet (Yamaguchi's approximate projection, which removes the triplet admixture of the
    broken-symmetry determinant): (E_BS - E_T) <S^2>_T / (<S^2>_T - <S^2>_BS). None unless both
    converged, ``singlet`` is a contaminated broken-symmetry 2S = 0 state and ``triplet`` has 2S = 2."""
    if not (singlet.get("converged") and triplet.get("converged")):
        return None
    if singlet["kind"] != "UKS broken symmetry" or not singlet["contaminated"] or triplet["spin"] != 2:
        return None
    denominator = triplet["s2"] - singlet["s2"]
    if denominator < 0.5:  # no meaningful projection when the two <S^2> are close
        return None
    return (singlet["energy"] - triplet["energy"]) * triplet["s2"] / denominator


def contamination_warnings(states: Sequence[dict], functional: str = "") -> list[str]:
    """One sentence per contaminated state, naming <S^2> against S(S+1)."""
    prefix = f"{functional}: " if functional else ""
    out = []
    for st in states:
        if not st["contaminated"]:
            continue
        why = (
            " (expected for a broken-symmetry singlet: a mix of singlet and triplet)"
            if st["kind"] == "UKS broken symmetry"
            else ""
        )
        out.append(
            f"{prefix}{st['label']} (2S={st['spin']}) is spin-contaminated: <S^2> = {st['s2']:.3f}, "
            f"S(S+1) = {st['s2_expected']:.3f}{why}."
        )
    return out


def reference_gap(preset: SpinPreset | None, from_spin: int, to_spin: int) -> GapReference | None:
    """The preset's reference for the gap from ``from_spin`` to ``to_spin``, if it has one."""
    if preset is None:
        return None
    ref = preset.reference
    return ref if (ref.from_spin, ref.to_spin) == (from_spin, to_spin) else None


#: What a computed gap is: both states at the one geometry given (a vertical gap), or an atom's, which
#: has no geometry to relax (like the atomic term energies of the references).
VERTICAL = "vertical: every state at this one geometry, none optimised"
ATOMIC = "atomic: no geometry to relax"

#: Decimals that show what a gap means in each unit, for display only (0.01 kcal/mol = 16 microHartree,
#: 0.001 eV = 37 microHartree: below the grid and convergence noise of the energies).
GAP_DECIMALS = {"Ha": 5, "kcal/mol": 2, "kJ/mol": 2, "eV": 3}


def computed_kind(molecule: Molecule) -> str:
    """What kind of gap ``spin_states`` computes for ``molecule``: ``ATOMIC`` for one atom, else
    ``VERTICAL`` (every state at the molecule's one geometry; no state's geometry is optimised)."""
    return ATOMIC if len(molecule.atoms) == 1 else VERTICAL


def error_columns(functionals: Iterable[str], unit: str) -> dict[str, str]:
    """The columns of ``gap_table`` that hold each functional's error against the reference:
    {functional: "<functional> − reference (<unit>)"}, in the order of ``functionals``."""
    return {f: f"{f} − reference ({unit})" for f in functionals}


def gap_table(
    results: dict[str, Sequence[dict]],
    unit: str = "kcal/mol",
    preset: SpinPreset | None = None,
    computed: str = VERTICAL,
) -> list[dict]:
    """Gaps of several functionals side by side (``spin_states``'s states by functional, all for the
    same spins): one row per gap between successive spins, with "gap" ("E(triplet) − E(singlet)");
    "<functional> (<unit>)", E(higher 2S) − E(lower 2S) of each functional in ``unit`` (one of
    units.UNITS); "<functional> spin-projected (<unit>)" where ``gaps`` projects a broken-symmetry
    singlet; "reference (<unit>)", ``preset``'s reference gap (``reference_gap``); with a preset,
    "<functional> − reference (<unit>)" (``error_columns``), that functional's gap minus the
    reference (None without a reference for the row); "computed", what kind of gap the calculation
    gives (``computed``: ``VERTICAL`` or ``ATOMIC``, see ``computed_kind``); "reference" (the value
    as published, with its kind: adiabatic, term energy ...) and "source" ("" without one). None
    where an energy is missing."""
    all_gaps = {f: gaps(states) for f, states in results.items()}
    first = next(iter(all_gaps.values()), [])
    rows = []
    for index, gap in enumerate(first):
        row = {"gap": f"E({gap['to_label']}) − E({gap['from_label']})"}
        for f, fg in all_gaps.items():
            row[f"{f} ({unit})"] = units.from_hartree(fg[index]["gap"], unit)
        for f, fg in all_gaps.items():
            if fg[index].get("gap_projected") is not None:
                row[f"{f} spin-projected ({unit})"] = units.from_hartree(fg[index]["gap_projected"], unit)
        ref = reference_gap(preset, gap["from"], gap["to"])
        row[f"reference ({unit})"] = None if ref is None else units.from_hartree(ref.hartree(), unit)
        if preset is not None:
            for f, column in error_columns(all_gaps, unit).items():
                value = all_gaps[f][index]["gap"]
                error = None if value is None or ref is None else value - ref.hartree()
                row[column] = units.from_hartree(error, unit)
        row["computed"] = computed
        row["reference"] = "" if ref is None else f"{ref.value:+g} {ref.unit}, {ref.kind}"
        row["source"] = "" if ref is None else ref.source
        rows.append(row)
    return rows


def reference_levels(reference: GapReference, unit: str) -> dict:
    """The reference gap as a column of the level diagram (``spin_levels_figure``): {"name"
    ("reference (adiabatic)" ...: its kind's first word), "states": [{"label", "spin", "relative"}]},
    the lower state at 0 and the other at the gap's size, in ``unit``."""
    gap = units.from_hartree(reference.hartree(), unit)
    return {
        "name": f"reference ({reference.kind.split()[0]})",
        "states": [
            {
                "label": multiplicity_name(reference.from_spin),
                "spin": reference.from_spin,
                "relative": max(0.0, -gap),
            },
            {
                "label": multiplicity_name(reference.to_spin),
                "spin": reference.to_spin,
                "relative": max(0.0, gap),
            },
        ],
    }


def comparison_note(computed: str, reference: GapReference | None) -> str:
    """One paragraph (Markdown) that says what is compared with what: the kind of the computed gaps
    (``computed``, from ``computed_kind``) and of the reference, and, for a vertical gap against an
    adiabatic reference, which way the geometry moves the difference."""
    kind, detail = computed.split(": ", 1)
    what = f"**Computed gaps: {kind}** ({detail})."
    if reference is None:
        return what + " No reference gap for this system."
    text = (
        f"{what} **Reference: {reference.kind}**, {reference.value:+g} {reference.unit} ({reference.source})."
    )
    if computed == VERTICAL and reference.kind.startswith("adiabatic"):
        text += (
            " An adiabatic gap puts each state at its own geometry; at one geometry the upper state is "
            "not at its own minimum, so the vertical gap is larger than the adiabatic one and part of "
            "each error below is the geometry, not the functional."
        )
    return text
