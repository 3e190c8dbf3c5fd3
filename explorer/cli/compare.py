"""``compare``: several functionals side by side on one molecule."""

from __future__ import annotations

from explorer.cli import common
from explorer.functionals import HELP as FUNCTIONALS_HELP
from explorer.functionals import resolve_list


def _arguments(p) -> None:
    common.add_molecule_flags(p)
    p.add_argument(
        "--functionals",
        default="DM21,B3LYP",
        help="comma-separated list (default DM21,B3LYP); " + FUNCTIONALS_HELP,
    )
    p.add_argument("--baseline", help="functional the differences refer to (default: the first)")
    p.add_argument("--unit", default="kcal/mol", help="unit of differences: Ha, kcal/mol, kJ/mol, eV")
    p.add_argument("--d3", action="store_true", help="add D3(BJ) dispersion (DM21: B3LYP's parameters)")
    p.add_argument(
        "--atomization", action="store_true", help="atomization energies (free atoms computed once)"
    )
    p.add_argument("--cluster", action="store_true", help=common.CLUSTER_HELP)
    common.add_grid_flags(p)


def run(args) -> dict:
    from explorer.analyses.compare import atomization_reference, compare_functionals, comparison_table
    from explorer.chem import units
    from explorer.runs.store import ResultsStore

    molecule = common.molecule(args)
    units.from_hartree(0.0, args.unit)  # reports an unknown unit before any calculation
    functionals = resolve_list(args.functionals)
    molecule.to_pyscf()
    if args.cluster:
        from explorer.runs.tasks import run_scf_tasks as runner
    else:
        runner = None
    rows = compare_functionals(
        molecule,
        functionals,
        ResultsStore(),
        grid=common.grid_spec(args),
        with_dispersion=args.d3,
        with_atomization=args.atomization,
        runner=runner,
        progress=common.progress,
    )
    return {
        "molecule": common.molecule_label(molecule),
        "basis": molecule.basis,
        "unit": args.unit,
        "table": comparison_table(rows, args.baseline, args.unit),
        "atomization_reference": atomization_reference(rows, molecule, args.unit)
        if args.atomization
        else None,
    }


def print_human(out: dict) -> None:
    from explorer.present.exports import table_csv

    print(f"{out['molecule']}/{out['basis']} (energies in Ha, differences in {out['unit']})")
    print(table_csv(out["table"]), end="")
    reference = out["atomization_reference"]
    if reference:
        value = f"{reference['value']:.2f} {out['unit']}"
        print(f"experimental atomization energy {value} ({reference['source']})")
    common.print_notes(row["functional"] for row in out["table"])


COMPARE = common.Command(
    "compare", "several functionals side by side on one molecule", _arguments, run, print_human
)
