"""``scf``: the self-consistent energy of a molecule; ``evaluate``: E_xc and its potential matrix on a
given density and grid."""

from __future__ import annotations

import sys
import time

from explorer.cli import common
from explorer.errors import InputError
from explorer.functionals import resolve


def _scf_arguments(p) -> None:
    common.add_molecule_flags(p)
    common.add_method_flags(p)
    p.add_argument("--no-cache", action="store_true", help="compute even if the results store has it")
    p.add_argument("--cluster", action="store_true", help=common.CLUSTER_HELP)


def run_scf(args) -> dict:
    molecule = common.molecule(args)
    method = common.method(args)
    molecule.to_pyscf()  # reports a bad basis before any network is loaded
    if args.no_cache:
        from explorer.engine.scf import run_scf as run_unstored

        result, cached = run_unstored(molecule, method.functional, **method.scf_options()), False
    elif args.cluster:
        from explorer.runs import tasks

        request = {"molecule": molecule, "functional": method.functional, **method.scf_options()}
        [(result, cached)] = tasks.run_scf_tasks([request])
    else:
        result, cached = common.stored_scf(molecule, method)
    out = result.to_dict()
    out["cached"] = cached
    out["molecule"] = common.molecule_label(molecule)
    return out


def print_scf(out: dict) -> None:
    state, seconds = "converged" if out["converged"] else "NOT converged", out["scf_seconds"]
    print(common.header_line(out))
    print(f"  energy      {out['energy']:.8f} Ha  ({state}, {out['cycles']} cycles, {seconds:.1f} s)")
    print(f"  E_xc        {out['e_xc']:.8f} Ha")
    for key in ("homo", "lumo", "gap"):
        if out[key] is not None:
            print(f"  {key.upper():<11} {out[key]:.6f} Ha")
    print(f"  <S^2>       {out['s2']:.4f}")
    print("  dipole      " + " ".join(f"{x:.4f}" for x in out["dipole"]) + " D")
    common.print_notes([out["functional"]], indent="  ")


def scf_status(out: dict) -> int:
    """1 (and why, on stderr) when the SCF did not converge: its energy is not a result."""
    if out["converged"]:
        return 0
    print(
        f"error: the {out['functional']} SCF did NOT converge in {out['cycles']} cycles: its energy is "
        "not a valid result",
        file=sys.stderr,
    )
    return 1


def _evaluate_arguments(p) -> None:
    common.add_molecule_flags(p)
    common.add_functional_flag(p)
    p.add_argument("--dm", required=True, help=".npy density matrix: (nao, nao) total or (2, nao, nao)")
    p.add_argument("--grid", required=True, help=".npz with 'coords' (N, 3) bohr and 'weights' (N,)")
    p.add_argument("--vxc-out", help="write dE_xc/dD (same shape as the density matrix) to this .npy")


def _load_array(path: str, what: str):
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {what} file {path!r}: {err}") from None


def run_evaluate(args) -> dict:
    import numpy as np

    from explorer.engine.grids import grid_from_arrays
    from explorer.engine.scf import evaluate_xc

    molecule = common.molecule(args)
    functional = resolve(args.functional)
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
        "functional": functional.name,
        "basis": molecule.basis,
        "charge": molecule.charge,
        "spin": molecule.spin,
        "e_xc": e_xc,
        "n_grid_points": int(grids.weights.size),
        "vxc_shape": list(vxc.shape),
        "vxc_out": args.vxc_out,
        "seconds": seconds,
    }


def print_evaluate(out: dict) -> None:
    print(f"E_xc = {out['e_xc']:.10f} Ha on {out['n_grid_points']} points")
    if out["vxc_out"]:
        print(f"potential matrix written to {out['vxc_out']}")


SCF = common.Command(
    "scf", "self-consistent energy of a molecule", _scf_arguments, run_scf, print_scf, scf_status
)
EVALUATE = common.Command(
    "evaluate",
    "E_xc and potential matrix on a given density and grid",
    _evaluate_arguments,
    run_evaluate,
    print_evaluate,
)
