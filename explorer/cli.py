"""Command line: ``python -m explorer scf|compare|evaluate|weights|fractional-charge|fractional-spin|scan|``
``spin-states|density|xc-map``.

Every problem with the input ends the program with status 2 and one line on stderr naming it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from explorer.errors import ExplorerError, InputError
from explorer.functionals import HELP as FUNCTIONALS_HELP

CLUSTER_HELP = (
    "run on Dask workers (DM21_EXPLORER_SCHEDULER, else a local cluster) with the per-job time limit "
    "DM21_EXPLORER_JOB_SECONDS"
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2."""

    def error(self, message):
        raise InputError(message)


def _add_molecule_flags(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--atoms", help='atoms in Angstrom, e.g. "O 0 0 0; H 0 0.76 0.59"')
    source.add_argument("--xyz", help="XYZ file (Angstrom)")
    source.add_argument("--smiles", help="SMILES string (3D structure by RDKit)")
    source.add_argument("--name", help="a molecule of the built-in library, e.g. water, O2, H2+")
    p.add_argument("--basis", default="cc-pvdz", help="basis set (default cc-pvdz)")
    p.add_argument("--charge", type=int, default=None, help="total charge (default: 0, or from SMILES)")
    p.add_argument(
        "--spin", type=int, default=None, help="2S, the number of unpaired electrons (default: lowest)"
    )
    p.add_argument(
        "--allow-large",
        action="store_true",
        help="run beyond the interactive size limits (DM21_EXPLORER_MAX_ATOMS, DM21_EXPLORER_MAX_BASIS)",
    )


def _add_grid_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid-level", type=int, default=3, help="PySCF grid level 0-9 (default 3)")
    p.add_argument(
        "--grid-spec",
        default="dm21",
        choices=("dm21", "pyscf"),
        help="dm21: the grid DM21's published numbers use (default); pyscf: PySCF 2.14's default",
    )


def _add_method_flags(p: argparse.ArgumentParser, kind_help: str) -> None:
    p.add_argument("--functional", default="DM21", help=FUNCTIONALS_HELP)
    p.add_argument("--kind", choices=("RKS", "UKS", "ROKS"), help=kind_help)
    p.add_argument("--warm-start", default="B3LYP", help="functional that starts DM21 runs ('none': minao)")
    _add_grid_flags(p)


def _preset_names() -> list[str]:
    from explorer.analyses.fractional import DISSOCIATION_PRESETS

    return list(DISSOCIATION_PRESETS)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m explorer", description="DM21 Explorer command line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("scf", help="self-consistent energy of a molecule")
    _add_molecule_flags(p)
    p.add_argument("--functional", default="DM21", help=FUNCTIONALS_HELP)
    p.add_argument("--kind", choices=("RKS", "UKS", "ROKS"), help="default: RKS if 2S=0, else UKS")
    p.add_argument("--warm-start", default="B3LYP", help="functional that starts DM21 runs ('none': minao)")
    _add_grid_flags(p)
    p.add_argument("--no-cache", action="store_true", help="compute even if the results store has it")
    p.add_argument("--cluster", action="store_true", help=CLUSTER_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("compare", help="several functionals side by side on one molecule")
    _add_molecule_flags(p)
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
    p.add_argument("--cluster", action="store_true", help=CLUSTER_HELP)
    _add_grid_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("evaluate", help="E_xc and potential matrix on a given density and grid")
    _add_molecule_flags(p)
    p.add_argument("--functional", default="DM21", help=FUNCTIONALS_HELP)
    p.add_argument("--dm", required=True, help=".npy density matrix: (nao, nao) total or (2, nao, nao)")
    p.add_argument("--grid", required=True, help=".npz with 'coords' (N, 3) bohr and 'weights' (N,)")
    p.add_argument("--vxc-out", help="write dE_xc/dD (same shape as the density matrix) to this .npy")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("fractional-charge", help="E(N) from N0-1 to N0+1 electrons at fixed occupations")
    _add_molecule_flags(p)
    _add_method_flags(p, kind_help="must be UKS (the default): occupations are set per spin orbital")
    p.add_argument("--points", type=int, default=9, help="points from delta=-1 to +1 (default 9)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("fractional-spin", help="E as a fraction f of the highest alpha electron turns beta")
    _add_molecule_flags(p)
    _add_method_flags(p, kind_help="must be UKS (the default): occupations are set per spin orbital")
    p.add_argument("--points", type=int, default=5, help="points from f=0 to 1 (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("scan", help="potential-energy curve along a bond length")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--atoms", help='template with {r} for the bond length (Angstrom): "H 0 0 0; H 0 0 {r}"'
    )
    source.add_argument("--preset", help="a preset curve: " + ", ".join(_preset_names()))
    p.add_argument("--values", help="comma-separated bond lengths in Angstrom (default: the preset's)")
    p.add_argument("--basis", default="cc-pvdz", help="basis set (default cc-pvdz)")
    p.add_argument("--charge", type=int, default=None, help="total charge (default: 0, or the preset's)")
    p.add_argument("--spin", type=int, default=None, help="2S (default: lowest, or the preset's)")
    p.add_argument("--allow-large", action="store_true", help="run beyond the interactive size limits")
    _add_method_flags(p, kind_help="default: RKS if 2S=0, else UKS (or the preset's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("spin-states", help="lowest state of several multiplicities and the gaps between them")
    _add_molecule_flags(p)
    p.add_argument("--functional", default="DM21", help=FUNCTIONALS_HELP)
    p.add_argument(
        "--spins", help="comma-separated 2S values, e.g. 0,2 (default: 0,2 or 1,3 by the electron count)"
    )
    p.add_argument(
        "--broken-symmetry",
        action="store_true",
        help="2S=0 as broken-symmetry UKS instead of closed-shell RKS",
    )
    p.add_argument("--warm-start", default="B3LYP", help="functional that starts DM21 runs ('none': minao)")
    _add_grid_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("density", help="electron density on a cube grid (Gaussian cube file)")
    _add_molecule_flags(p)
    _add_method_flags(p, kind_help="default: RKS if 2S=0, else UKS")
    p.add_argument("--cube", help="write the total density (electrons/bohr^3) to this cube file")
    p.add_argument("--cube-points", type=int, default=40, help="cube points per axis (default 40)")
    p.add_argument("--margin", type=float, default=4.0, help="cube margin around the atoms, bohr (default 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("xc-map", help="XC energy density: grid integral, a plane map, a cube file")
    _add_molecule_flags(p)
    _add_method_flags(p, kind_help="default: RKS if 2S=0, else UKS")
    p.add_argument("--compare", help="a second functional evaluated on the first one's density")
    p.add_argument("--plane", default="molecular", help="'molecular' (default) or three atom numbers: 1,2,3")
    p.add_argument("--plane-points", type=int, default=80, help="plane points per axis (default 80)")
    p.add_argument("--cube", help="write the XC energy density (Hartree/bohr^3) to this cube file")
    p.add_argument("--cube-points", type=int, default=40, help="cube points per axis (default 40)")
    p.add_argument("--margin", type=float, default=4.0, help="cube margin around the atoms, bohr (default 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("bench", help="time DM21 against B3LYP on the same molecule, basis and grid")
    p.add_argument("cases", nargs="*", default=["water"], help="water, benzene, estradiol (default: water)")
    p.add_argument("--functional", default="DM21", help="DM21, DM21m, DM21mc or DM21mu")
    p.add_argument("--exact", action="store_true", help="also run the exact (reference) path and compare")
    p.add_argument("--scaling", action="store_true", help="also time water in growing bases")
    p.add_argument("--repeat", type=int, default=1, help="runs of each SCF; the median time is reported")
    p.add_argument("--plot", metavar="FILE", help="write the time-against-basis-size plot (HTML)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("weights", help="find, verify or download the DM21 checkpoints")
    wsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    d = wsub.add_parser("download", help="fetch the checkpoints into the cache, verifying checksums")
    d.add_argument("--dest", help="target folder (default: the user cache)")
    d.add_argument("--url", help="base URL (default: the official repository at the pinned commit)")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    st = wsub.add_parser("status", help="where each checkpoint is and whether it verifies")
    st.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _molecule(args):
    """The molecule the flags describe; InputError if it is invalid or, without --allow-large,
    beyond the interactive size limits (explorer.settings)."""
    from explorer import settings

    molecule = _parsed_molecule(args)
    if not getattr(args, "allow_large", True):
        settings.check_size(molecule)
    return molecule


def _parsed_molecule(args):
    from explorer.chem import molecules

    if args.name:
        mol = molecules.from_library(args.name, basis=args.basis)
        if args.charge is not None or args.spin is not None:
            charge = mol.charge if args.charge is None else args.charge
            mol = molecules.parse_atoms(mol.atom_string(), charge, args.spin, args.basis, mol.name)
        return mol
    if args.smiles:
        return molecules.from_smiles(args.smiles, args.charge, args.spin, basis=args.basis)
    charge = args.charge or 0
    if args.xyz:
        try:
            with open(args.xyz, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as err:
            raise InputError(f"cannot read XYZ file {args.xyz!r}: {err.strerror}") from None
        return molecules.parse_xyz(text, charge, args.spin, args.basis, os.path.basename(args.xyz))
    return molecules.parse_atoms(args.atoms, charge, args.spin, args.basis)


def _grid_spec(args):
    from explorer.engine.grids import GridSpec

    return GridSpec(level=args.grid_level, spec=args.grid_spec)


def _cmd_scf(args) -> dict:
    from explorer.engine.scf import run_scf
    from explorer.functionals import resolve as check_functional
    from explorer.runs.cached import run_scf_stored
    from explorer.runs.store import ResultsStore

    molecule = _molecule(args)
    functional = check_functional(args.functional).name
    molecule.to_pyscf()  # reports a bad basis before any network is loaded
    warm = None if args.warm_start.lower() == "none" else args.warm_start
    options = {"kind": args.kind, "grid": _grid_spec(args), "warm_start": warm}
    if args.no_cache:
        result, cached = run_scf(molecule, functional, **options), False
    elif args.cluster:
        from explorer.runs import tasks

        [(result, cached)] = tasks.run_scf_tasks(
            [{"molecule": molecule, "functional": functional, **options}]
        )
    else:
        result, cached = run_scf_stored(molecule, functional, ResultsStore(), **options)
    out = result.to_dict()
    out["cached"] = cached
    out["molecule"] = molecule.name or molecule.formula()
    return out


def _cmd_compare(args) -> dict:
    from explorer.analyses.compare import atomization_reference, compare_functionals, comparison_table
    from explorer.chem import units
    from explorer.runs.store import ResultsStore

    molecule = _molecule(args)
    units.from_hartree(0.0, args.unit)  # reports an unknown unit before any calculation
    molecule.to_pyscf()
    functionals = [f.strip() for f in args.functionals.split(",") if f.strip()]
    rows = compare_functionals(
        molecule,
        functionals,
        ResultsStore(),
        grid=_grid_spec(args),
        with_dispersion=args.d3,
        with_atomization=args.atomization,
        runner=_cluster_runner() if args.cluster else None,
        progress=lambda e: (
            print(f"  {e['task']}: {e['stage']}", file=sys.stderr) if "cycle" not in e else None
        ),
    )
    return {
        "molecule": molecule.name or molecule.formula(),
        "basis": molecule.basis,
        "unit": args.unit,
        "table": comparison_table(rows, args.baseline, args.unit),
        "atomization_reference": atomization_reference(rows, molecule, args.unit)
        if args.atomization
        else None,
    }


def _cluster_runner():
    from explorer.runs import tasks

    return tasks.run_scf_tasks


def _load_array(path: str, what: str):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {what} file {path!r}: {err}") from None


def _cmd_evaluate(args) -> dict:
    from explorer.engine.grids import grid_from_arrays
    from explorer.engine.scf import evaluate_xc
    from explorer.functionals import resolve as check_functional

    molecule = _molecule(args)
    functional = check_functional(args.functional).name
    mol = molecule.to_pyscf()
    dm = _load_array(args.dm, "density matrix")
    grid = _load_array(args.grid, "grid")
    if not hasattr(grid, "files") or not {"coords", "weights"} <= set(grid.files):
        raise InputError(f"grid file {args.grid!r} must be an .npz with arrays 'coords' and 'weights'")
    grids = grid_from_arrays(mol, grid["coords"], grid["weights"])
    t0 = time.perf_counter()
    e_xc, vxc = evaluate_xc(molecule, functional, dm, grids)
    seconds = time.perf_counter() - t0
    if args.vxc_out:
        np.save(args.vxc_out, vxc)
    return {
        "functional": functional,
        "basis": molecule.basis,
        "charge": molecule.charge,
        "spin": molecule.spin,
        "e_xc": e_xc,
        "n_grid_points": int(grids.weights.size),
        "vxc_shape": list(vxc.shape),
        "vxc_out": args.vxc_out,
        "seconds": seconds,
    }


def _molecule_header(molecule, functional: str) -> dict:
    """The fields that name a calculation in every command's output."""
    return {
        "molecule": molecule.name or molecule.formula(),
        "functional": functional,
        "basis": molecule.basis,
        "charge": molecule.charge,
        "spin": molecule.spin,
    }


def _scf_for_maps(args, molecule, method):
    """The stored SCF result of the chosen functional (computed once) for density and xc-map."""
    from explorer.runs.cached import run_scf_stored
    from explorer.runs.store import ResultsStore

    options = {"kind": args.kind, "grid": method["grid"], "warm_start": method["warm_start"]}
    return run_scf_stored(molecule, method["functional"], ResultsStore(), **options)


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise InputError(f"cannot write {path!r}: {err.strerror}") from None


def _cmd_density(args) -> dict:
    from explorer.analyses import maps

    molecule = _molecule(args)
    method = _method(args)
    mol = molecule.to_pyscf()
    maps.make_cube(mol, args.cube_points, args.margin)  # checks the size before any SCF
    result, cached = _scf_for_maps(args, molecule, method)
    cube, rho_a, rho_b = maps.density_cube(mol, result.dm, args.cube_points, args.margin)
    if args.cube:
        comment = f"{method['functional']} total electron density (electrons/bohr^3)"
        _write_text(args.cube, maps.cube_text(cube, rho_a + rho_b, comment))
    return {
        **_molecule_header(molecule, method["functional"]),
        "kind": result.kind,
        "n_electrons": molecule.n_electrons,
        "energy": result.energy,
        "converged": result.converged,
        "cached": cached,
        "cube_points": [cube.nx, cube.ny, cube.nz],
        "cube_spacing_bohr": [
            float(x) for x in np.diag(cube.box) / (np.array([cube.nx, cube.ny, cube.nz]) - 1)
        ],
        "cube_integral": maps.cube_integral(cube, rho_a + rho_b),
        "cube_spin_integral": maps.cube_integral(cube, rho_a - rho_b),
        "cube": args.cube,
    }


def _cmd_xc_map(args) -> dict:
    from explorer.analyses import maps
    from explorer.engine.grids import build_grids
    from explorer.engine.scf import evaluate_xc
    from explorer.functionals import resolve as check_functional

    molecule = _molecule(args)
    method = _method(args)
    compare = check_functional(args.compare).name if args.compare else None
    mol = molecule.to_pyscf()
    atoms = maps.parse_plane(args.plane, mol.natm)
    if atoms is None:
        plane = maps.molecular_plane(mol, args.plane_points)
    else:
        plane = maps.plane_through_atoms(mol, atoms, args.plane_points)
    if args.cube:
        maps.make_cube(mol, args.cube_points, args.margin)
    result, cached = _scf_for_maps(args, molecule, method)
    functional = method["functional"]
    grids = build_grids(mol, method["grid"])
    e_grid = maps.energy_density_on_grid(mol, functional, result.dm, grids)
    out = {
        **_molecule_header(molecule, functional),
        "kind": result.kind,
        "converged": result.converged,
        "cached": cached,
        "n_grid_points": int(grids.weights.size),
        "e_xc_integral": maps.integrate_on_grid(e_grid, grids),
        "e_xc_reported": result.e_xc,
        "compare": None,
    }
    if compare:
        e2 = maps.energy_density_on_grid(mol, compare, result.dm, grids)
        out["compare"] = {
            "functional": compare,
            "e_xc_integral": maps.integrate_on_grid(e2, grids),
            # PySCF's own E_xc of the second functional on the same density and grid (analytic exact
            # exchange for hybrids), to compare the map's integral with.
            "e_xc_pyscf": evaluate_xc(molecule, compare, result.dm, grids)[0],
        }
    names = [functional] + ([compare] if compare else [])
    values = maps.point_values(mol, result.dm, plane.points(), names)
    out["plane"] = {
        "label": plane.label,
        "origin_angstrom": (plane.origin * maps.BOHR_ANGSTROM).tolist(),
        "u": plane.u.tolist(),
        "v": plane.v.tolist(),
        "points": [len(plane.s), len(plane.t)],
        "s_range_angstrom": [float(plane.s_angstrom[0]), float(plane.s_angstrom[-1])],
        "t_range_angstrom": [float(plane.t_angstrom[0]), float(plane.t_angstrom[-1])],
        "e_xc_min": {f: float(values.exc[f].min()) for f in names},
        "e_xc_max": {f: float(values.exc[f].max()) for f in names},
    }
    out["cube"] = None
    if args.cube:
        cube = maps.make_cube(mol, args.cube_points, args.margin)
        e_cube = maps.point_values(mol, result.dm, cube.get_coords(), [functional]).exc[functional]
        _write_text(
            args.cube, maps.cube_text(cube, e_cube, f"{functional} XC energy density (Hartree/bohr^3)")
        )
        out["cube"] = args.cube
        out["cube_integral"] = maps.cube_integral(cube, e_cube)
    return out


def _cmd_weights(args) -> dict:
    from pathlib import Path

    from explorer.engine import weights

    if args.action == "download":
        root = weights.download(
            Path(args.dest) if args.dest else None, args.url, progress=lambda m: print(m, file=sys.stderr)
        )
        return {"downloaded_to": str(root), "status": weights.status()}
    return {"status": weights.status()}


def _progress(event: dict) -> None:
    if "cycle" not in event:
        print(f"  {event['task']}: {event['stage']}", file=sys.stderr)


def _method(args) -> dict:
    from explorer.functionals import resolve as check_functional

    functional = check_functional(args.functional).name
    warm = None if args.warm_start.lower() == "none" else check_functional(args.warm_start).name
    return {"functional": functional, "grid": _grid_spec(args), "warm_start": warm}


def _cmd_fractional(args) -> dict:
    from explorer.analyses import fractional
    from explorer.runs.store import ResultsStore

    molecule = _molecule(args)
    method = _method(args)
    molecule.to_pyscf()
    curve = fractional.fractional_spin if args.command == "fractional-spin" else fractional.fractional_charge
    points = curve(
        molecule,
        method["functional"],
        ResultsStore(),
        points=args.points,
        grid=method["grid"],
        kind=args.kind,
        warm_start=method["warm_start"],
        progress=_progress,
    )
    extra = {}
    if args.command == "fractional-charge":
        lin = fractional.linearity(points)
        extra = {
            "linearity": {k: lin[k] for k in ("max_abs_deviation", "max_deviation", "sign")}
            | {
                "segments": [
                    {k: s[k] for k in ("n_left", "n_right", "max_deviation", "curvature")}
                    for s in lin["segments"]
                ],
                "deviations": lin["deviations"],
            },
            "ionization_and_affinity": fractional.ionization_and_affinity(points),
        }
    return {
        **_molecule_header(molecule, method["functional"]),
        "n_electrons": molecule.n_electrons,
        "points": points,
        **extra,
    }


def _cmd_scan(args) -> dict:
    from explorer.analyses import fractional
    from explorer.runs.store import ResultsStore

    preset = {}
    if args.preset:
        names = {k.lower(): k for k in fractional.DISSOCIATION_PRESETS}
        if args.preset.strip().lower() not in names:
            raise InputError(f"unknown preset {args.preset!r}: choose one of {', '.join(names.values())}")
        name = names[args.preset.strip().lower()]
        preset = {"name": name, **fractional.DISSOCIATION_PRESETS[name]}
    template = args.atoms if args.atoms is not None else preset["template"]
    if args.values is not None:
        try:
            values = [float(v) for v in args.values.split(",") if v.strip()]
        except ValueError:
            raise InputError(
                f"--values must be comma-separated numbers (Angstrom), got {args.values!r}"
            ) from None
    elif preset:
        values = preset["values"]
    else:
        raise InputError("--values is required with --atoms (comma-separated bond lengths in Angstrom)")
    charge = args.charge if args.charge is not None else preset.get("charge", 0)
    spin = args.spin if args.spin is not None else preset.get("spin")
    kind = args.kind or preset.get("kind")
    method = _method(args)
    first = fractional.scan_geometries(template, values[:1], charge=charge, spin=spin, basis=args.basis)[0]
    if not args.allow_large:
        from explorer import settings

        settings.check_size(first)
    points = fractional.scan(
        template,
        values,
        method["functional"],
        ResultsStore(),
        charge=charge,
        spin=spin,
        basis=args.basis,
        kind=kind,
        grid=method["grid"],
        warm_start=method["warm_start"],
        name=preset.get("name", ""),
        progress=_progress,
    )
    out = {
        "template": template,
        "functional": method["functional"],
        "basis": args.basis,
        "charge": charge,
        "spin": first.spin,
        "kind": kind,
        "points": points,
    }
    if preset:
        out.update(
            preset=preset["name"],
            exact_limit=preset["exact_limit"],
            limit_source=preset["limit_source"],
            exact_note=fractional.EXACT_LIMIT_NOTE,
        )
    return out


def _cmd_spin_states(args) -> dict:
    from explorer.analyses import spin_states as ss
    from explorer.runs.store import ResultsStore

    method = _method(args)
    molecule = _molecule(args)
    spins = ss.parse_spins(args.spins if args.spins is not None else ("0,2", "1,3")[molecule.n_electrons % 2])
    states = ss.spin_states(
        molecule,
        method["functional"],
        spins,
        ResultsStore(),
        broken_symmetry=args.broken_symmetry,
        grid=method["grid"],
        warm_start=method["warm_start"],
        progress=_progress,
    )
    return {
        "molecule": molecule.name or molecule.formula(),
        "functional": method["functional"],
        "basis": molecule.basis,
        "charge": molecule.charge,
        "broken_symmetry": args.broken_symmetry,
        "contamination_threshold": ss.CONTAMINATION_THRESHOLD,
        "states": states,
        "gaps": ss.gaps(states),
        "warnings": ss.contamination_warnings(states),
    }


def _fmt(x, spec: str) -> str:
    """``x`` formatted by ``spec`` ("12.6f"), or a dash of the same width for None."""
    return "-".rjust(int(spec.split(".")[0] or 0)) if x is None else format(x, spec)


def _print_human(command: str, out: dict) -> None:
    if command == "bench":
        return _print_bench(out)
    if command == "scf":
        print(f"{out['functional']}/{out['basis']} {out['molecule']} charge={out['charge']} 2S={out['spin']}")
        print(
            f"  energy      {out['energy']:.8f} Ha  ({'converged' if out['converged'] else 'NOT converged'}, "
            f"{out['cycles']} cycles, {out['scf_seconds']:.1f} s)"
        )
        print(f"  E_xc        {out['e_xc']:.8f} Ha")
        for key in ("homo", "lumo", "gap"):
            if out[key] is not None:
                print(f"  {key.upper():<11} {out[key]:.6f} Ha")
        print(f"  <S^2>       {out['s2']:.4f}")
        print("  dipole      " + " ".join(f"{x:.4f}" for x in out["dipole"]) + " D")
        if out["functional"] == "B3LYP":
            print("  (B3LYP is PySCF's VWN-RPA flavour, as in Gaussian)")
    elif command == "compare":
        from explorer.present.exports import table_csv

        print(f"{out['molecule']}/{out['basis']} (energies in Ha, differences in {out['unit']})")
        print(table_csv(out["table"]), end="")
        reference = out["atomization_reference"]
        if reference:
            value = f"{reference['value']:.2f} {out['unit']}"
            print(f"experimental atomization energy {value} ({reference['source']})")
        if any(row["functional"] == "B3LYP" for row in out["table"]):
            print("(B3LYP is PySCF's VWN-RPA flavour, as in Gaussian)")
    elif command == "fractional-charge":
        print(
            f"{out['functional']}/{out['basis']} {out['molecule']} charge={out['charge']} 2S={out['spin']}: "
            f"E(N) at fixed occupations, N0={out['n_electrons']} (Hartree)"
        )
        print(f"{'delta':>7} {'N':>7} {'energy':>16} {'deviation':>12} {'HOMO':>10}  converged")
        for p, dev in zip(out["points"], out["linearity"]["deviations"], strict=True):
            print(
                f"{p['delta']:7.3f} {p['n_electrons']:7.3f} {_fmt(p['energy'], '16.8f')} "
                f"{_fmt(dev, '12.6f')} {_fmt(p['homo'], '10.5f')}  {'yes' if p['converged'] else 'NO'}"
            )
        lin = out["linearity"]
        if lin["max_deviation"] is not None:
            where = "below the line (convex)" if lin["sign"] < 0 else "above the line (concave)"
            print(f"largest deviation from linearity: {lin['max_deviation'] * 1000:.3f} mHa, {where}")
        ie = out["ionization_and_affinity"]
        for key, label in (("ip", "IP"), ("minus_homo", "-HOMO"), ("ea", "EA"), ("minus_lumo", "-LUMO")):
            print(f"  {label:<6} {_fmt(ie[key], '.6f')} Ha")
    elif command == "fractional-spin":
        print(
            f"{out['functional']}/{out['basis']} {out['molecule']} 2S={out['spin']}: E(f), f of the highest "
            "alpha electron in beta (Hartree)"
        )
        print(f"{'f':>6} {'energy':>16} {'E - E(f=0)':>12}  converged")
        e0 = out["points"][0]["energy"]
        for p in out["points"]:
            diff = None if p["energy"] is None or e0 is None else p["energy"] - e0
            print(f"{p['fraction']:6.3f} {_fmt(p['energy'], '16.8f')} {_fmt(diff, '12.6f')}  "
                  f"{'yes' if p['converged'] else 'NO'}")  # fmt: skip
    elif command == "scan":
        print(f"{out['functional']}/{out['basis']} scan of {out['template']!r} charge={out['charge']} "
              f"2S={out['spin']} {out['kind'] or ''}".rstrip())  # fmt: skip
        print(f"{'R (A)':>8} {'energy (Ha)':>16} {'<S^2>':>7}  converged")
        for p in out["points"]:
            print(f"{p['value']:8.3f} {_fmt(p['energy'], '16.8f')} {_fmt(p['s2'], '7.3f')}  "
                  f"{'yes' if p['converged'] else 'NO'}")  # fmt: skip
        if out.get("exact_limit") is not None:
            print(f"exact large-R limit {out['exact_limit']:.6f} Ha ({out['limit_source']})")
    elif command == "spin-states":
        from explorer.chem import units

        print(f"{out['functional']}/{out['basis']} {out['molecule']} charge={out['charge']}: lowest state "
              "per multiplicity (Hartree)")  # fmt: skip
        print(f"{'2S':>3} {'state':<9} {'kind':<20} {'energy':>16} {'<S^2>':>7} {'S(S+1)':>7}  converged")
        for st in out["states"]:
            converged = "yes" if st["converged"] else "NO"
            print(f"{st['spin']:3d} {st['label']:<9} {st['kind']:<20} {_fmt(st['energy'], '16.8f')} "
                  f"{_fmt(st['s2'], '7.3f')} {st['s2_expected']:7.3f}  {converged}")  # fmt: skip
        for g in out["gaps"]:
            kcal = units.from_hartree(g["gap"], "kcal/mol")
            text = "-" if g["gap"] is None else f"{g['gap']:.6f} Ha ({kcal:.2f} kcal/mol)"
            print(f"E({g['to_label']}) - E({g['from_label']}) = {text}")
            if g.get("gap_projected") is not None:
                kcal = units.from_hartree(g["gap_projected"], "kcal/mol")
                print(f"  with the singlet spin-projected: {g['gap_projected']:.6f} Ha ({kcal:.2f} kcal/mol)")
        for warning in out["warnings"]:
            print(f"warning: {warning}")
        if out["functional"] == "B3LYP":
            print("(B3LYP is PySCF's VWN-RPA flavour, as in Gaussian)")
    elif command == "density":
        print(f"{out['functional']}/{out['basis']} {out['molecule']} charge={out['charge']} 2S={out['spin']}")
        shape = "x".join(str(n) for n in out["cube_points"])
        print(f"  density cube {shape}: integral {out['cube_integral']:.4f} electrons "
              f"(of {out['n_electrons']}; Riemann sum, grid-limited)")  # fmt: skip
        if out["cube"]:
            print(f"  cube file written to {out['cube']}")
    elif command == "xc-map":
        print(f"{out['functional']}/{out['basis']} {out['molecule']} charge={out['charge']} 2S={out['spin']}")
        print(f"  E_xc integral of the energy density  {out['e_xc_integral']:.10f} Ha "
              f"({out['n_grid_points']} grid points)")  # fmt: skip
        print(f"  E_xc reported by the SCF             {out['e_xc_reported']:.10f} Ha")
        if out["compare"]:
            c = out["compare"]
            print(f"  {c['functional']} on the same density: integral {c['e_xc_integral']:.10f} Ha, "
                  f"PySCF {c['e_xc_pyscf']:.10f} Ha")  # fmt: skip
            if c["functional"] == "B3LYP":
                print("  (B3LYP is PySCF's VWN-RPA flavour, as in Gaussian)")
        plane = out["plane"]
        for f in plane["e_xc_min"]:
            low, high = plane["e_xc_min"][f], plane["e_xc_max"][f]
            print(f"  {plane['label']}: {f} e_xc from {low:.4g} to {high:.4g} Ha/bohr^3")
        if out["cube"]:
            print(f"  XC energy density cube written to {out['cube']}")
    elif command == "evaluate":
        print(f"E_xc = {out['e_xc']:.10f} Ha on {out['n_grid_points']} points")
        if out["vxc_out"]:
            print(f"potential matrix written to {out['vxc_out']}")
    else:
        for row in out["status"]:
            state = "ok" if row["ok"] else f"PROBLEM: {row['error']}"
            print(f"{row['name']:<7} {row['path'] or '-'}  {state}")


def _cmd_bench(args) -> dict:
    from explorer.analyses import bench
    from explorer.functionals import resolve as check_functional

    functional = check_functional(args.functional).name
    if not functional.startswith("DM21"):
        raise InputError(f"bench times a DM21 functional, not {args.functional}")
    out = bench.run(
        args.cases, functional, args.exact, args.scaling or bool(args.plot), _progress_line, args.repeat
    )
    if args.plot:
        bench.scaling_figure(out["scaling"] + out["cases"]).write_html(args.plot, include_plotlyjs=True)
    return out


def _progress_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_bench(out: dict) -> None:
    header = f"{'case':<18}{'nbas':>5}{'B3LYP s':>9}{'DM21 s':>9}{'ratio':>7}{'cycles':>8}{'peak MB':>9}"
    print(header + "  fast-exact Ha")
    for row in out["cases"] + out["scaling"]:
        diff = row.get("fast_minus_exact")
        print(
            f"{row['case']:<18}{row['n_basis']:>5}{row['b3lyp']['scf_seconds']:>9.2f}"
            f"{row['dm21']['scf_seconds']:>9.2f}{row['ratio']:>7.1f}"
            f"{row['b3lyp']['cycles']:>4}/{row['dm21']['cycles']:<3}{row['dm21']['peak_rss_mb']:>9.0f}"
            f"  {'' if diff is None else f'{diff:.1e}'}"
        )
    print("B3LYP is PySCF's VWN-RPA flavour; times are SCF only (grid, warm start, iterations).")
    for lib in out["blas"]:
        forced = lib["OPENBLAS_CORETYPE"]
        note = f" (OPENBLAS_CORETYPE={forced} in the environment)" if forced else ""
        version = f" {lib['version']}" if lib["version"] else ""
        print(f"BLAS: {lib['file']} ({lib['library']}{version}), {lib['kernels']} kernels{note}")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0 ok, 2 bad input, 1 failure)."""
    commands = {
        "scf": _cmd_scf,
        "bench": _cmd_bench,
        "compare": _cmd_compare,
        "evaluate": _cmd_evaluate,
        "weights": _cmd_weights,
        "fractional-charge": _cmd_fractional,
        "fractional-spin": _cmd_fractional,
        "scan": _cmd_scan,
        "density": _cmd_density,
        "xc-map": _cmd_xc_map,
        "spin-states": _cmd_spin_states,
    }
    try:
        args = build_parser().parse_args(argv)
        out = commands[args.command](args)
    except ExplorerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if getattr(args, "json", False):
        print(json.dumps(out))
    else:
        _print_human(args.command, out)
    if args.command == "scf" and not out["converged"]:
        print(
            f"error: the {out['functional']} SCF did NOT converge in {out['cycles']} cycles: its energy is "
            "not a valid result",
            file=sys.stderr,
        )
        return 1
    if args.command == "weights":
        return 0 if all(row["ok"] for row in out["status"]) else 1
    return 0
