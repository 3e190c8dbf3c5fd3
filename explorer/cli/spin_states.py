"""``spin-states``: the lowest state of several multiplicities and the gaps between them."""

from __future__ import annotations

from explorer.cli import common


def _arguments(p) -> None:
    common.add_molecule_flags(p)
    common.add_method_flags(p, kind_help=None)  # RKS or UKS per state, see --broken-symmetry
    p.add_argument(
        "--spins", help="comma-separated 2S values, e.g. 0,2 (default: 0,2 or 1,3 by the electron count)"
    )
    p.add_argument(
        "--broken-symmetry",
        action="store_true",
        help="2S=0 as broken-symmetry UKS instead of closed-shell RKS",
    )


def run(args) -> dict:
    from explorer.analyses import spin_states as ss
    from explorer.runs.store import ResultsStore

    molecule = common.molecule(args)
    method = common.method(args)
    spins = ss.parse_spins(args.spins if args.spins is not None else ("0,2", "1,3")[molecule.n_electrons % 2])
    states = ss.spin_states(
        molecule,
        method.functional,
        spins,
        ResultsStore(),
        broken_symmetry=args.broken_symmetry,
        grid=method.grid,
        warm_start=method.warm_start,
        progress=common.progress,
    )
    return {
        "molecule": common.molecule_label(molecule),
        "functional": method.functional.name,
        "basis": molecule.basis,
        "charge": molecule.charge,
        "broken_symmetry": args.broken_symmetry,
        "contamination_threshold": ss.CONTAMINATION_THRESHOLD,
        "states": states,
        "gaps": ss.gaps(states),
        "warnings": ss.contamination_warnings(states),
    }


def _hartree_and_kcal(energy: float) -> str:
    from explorer.chem import units

    return f"{energy:.6f} Ha ({units.from_hartree(energy, 'kcal/mol'):.2f} kcal/mol)"


def print_human(out: dict) -> None:
    print(
        f"{out['functional']}/{out['basis']} {out['molecule']} charge={out['charge']}: lowest state "
        "per multiplicity (Hartree)"
    )
    print(f"{'2S':>3} {'state':<9} {'kind':<20} {'energy':>16} {'<S^2>':>7} {'S(S+1)':>7}  converged")
    for st in out["states"]:
        print(
            f"{st['spin']:3d} {st['label']:<9} {st['kind']:<20} {common.fmt(st['energy'], '16.8f')} "
            f"{common.fmt(st['s2'], '7.3f')} {st['s2_expected']:7.3f}  {common.yes_no(st['converged'])}"
        )
    for g in out["gaps"]:
        text = "-" if g["gap"] is None else _hartree_and_kcal(g["gap"])
        print(f"E({g['to_label']}) - E({g['from_label']}) = {text}")
        if g.get("gap_projected") is not None:
            print(f"  with the singlet spin-projected: {_hartree_and_kcal(g['gap_projected'])}")
    for warning in out["warnings"]:
        print(f"warning: {warning}")
    common.print_notes([out["functional"]])


SPIN_STATES = common.Command(
    "spin-states",
    "lowest state of several multiplicities and the gaps between them",
    _arguments,
    run,
    print_human,
)
