"""``optimize``: a molecule's equilibrium geometry; ``frequencies``: its harmonic frequencies, IR
intensities and zero-point energy; ``bench-geometry``: optimised bond lengths and angles of the
library's small molecules against experiment (explorer.analyses.geometry)."""

from __future__ import annotations

import sys
import time

from explorer.cli import common
from explorer.errors import ConvergenceError, InputError


def _method_arguments(p) -> None:
    common.add_molecule_flags(p)
    common.add_functional_flag(p)
    common.add_grid_flags(p)
    p.add_argument("--no-cache", action="store_true", help="compute even if the results store has it")
    p.add_argument("--cluster", action="store_true", help=common.CLUSTER_HELP)


def _max_steps_flag(p) -> None:
    p.add_argument("--max-steps", type=int, default=50, help="most energy+gradient evaluations (default 50)")


def _optimize_arguments(p) -> None:
    _method_arguments(p)
    _max_steps_flag(p)
    p.add_argument("--xyz-out", help="write the final geometry to this XYZ file")


def _frequencies_arguments(p) -> None:
    _method_arguments(p)
    p.add_argument(
        "--step",
        type=float,
        default=0.005,
        help="finite-difference step in bohr (default 0.005, 1e-4 to 0.05)",
    )
    p.add_argument("--optimize", action="store_true", help="optimise the geometry first (same method)")
    _max_steps_flag(p)


def _inputs(args):
    """(molecule, functional, grid) of the flags; a bad molecule, basis or functional is one line."""
    from explorer.functionals import resolve

    molecule = common.molecule(args)
    functional = resolve(args.functional)
    grid = common.grid_spec(args)
    molecule.to_pyscf()  # reports a bad basis before anything is computed
    if len(molecule.atoms) < 2:
        raise InputError(f"{args.command} needs a molecule of at least two atoms")
    if args.max_steps is not None and not 1 <= args.max_steps <= 200:
        raise InputError(f"--max-steps must be 1 to 200, got {args.max_steps}")
    return molecule, functional, grid


def _tell(event: dict) -> None:
    """Prints an optimisation step or a job's stage on stderr (SCF iterations are not printed)."""
    if event.get("stage") == "step":
        common.progress_line(
            f"  {event['task']} step {event['step']}: E = {event['energy']:.8f} Ha, "
            f"max gradient {event['max_gradient']:.2e} Ha/bohr"
        )
    elif "cycle" not in event and event.get("stage") != "displacement":
        common.progress(event)


def _wait(jobs: list) -> None:
    from explorer.runs import tasks

    try:
        while not all(j.done() for j in jobs):
            for job in jobs:
                for event in tasks.drain(job):
                    _tell(event)
            time.sleep(0.2)
        for job in jobs:
            for event in tasks.drain(job):
                _tell(event)
    except BaseException:
        tasks.cancel(jobs)
        raise


def _optimization(args, molecule, functional, grid):
    """(Optimization, cached) of the flags: here, through the store, or as a task (--cluster)."""
    from explorer.analyses import geometry

    if args.no_cache:
        return geometry.optimize(
            molecule, functional, grid=grid, max_steps=args.max_steps, callback=_labelled(functional.name)
        ), False
    if args.cluster:
        job = geometry.submit_optimization(molecule, functional.name, grid=grid, max_steps=args.max_steps)
        _wait([job])
        return geometry.optimization_result(job)
    from explorer.runs.store import ResultsStore

    return geometry.optimize_stored(
        store=ResultsStore(),
        progress=_tell,
        molecule=molecule,
        functional=functional.name,
        grid=grid,
        max_steps=args.max_steps,
    )


def _labelled(task: str):
    return lambda event: _tell({**event, "task": task})


def run_optimize(args) -> dict:
    molecule, functional, grid = _inputs(args)
    opt, cached = _optimization(args, molecule, functional, grid)
    if args.xyz_out and opt.converged:
        common.write_text(args.xyz_out, opt.molecule().xyz())
    return {
        **common.molecule_header(molecule, functional),
        "converged": opt.converged,
        "energy": opt.energy,
        "atoms": opt.atoms,
        "steps": opt.steps,
        "max_gradient": opt.max_gradient,
        "grid": opt.grid,
        "seconds": opt.seconds,
        "cached": cached,
        "geometry": _table(opt),
        "trajectory": [s.to_dict() for s in opt.trajectory],
    }


def _table(structure) -> list[dict]:
    from explorer.analyses.geometry import geometry_table

    table = geometry_table(structure)
    return [{"parameter": b["label"], "unit": "Angstrom", "value": b["value"]} for b in table["bonds"]] + [
        {"parameter": a["label"], "unit": "degree", "value": a["value"]} for a in table["angles"]
    ]


def print_optimize(out: dict) -> None:
    state = "converged" if out["converged"] else "NOT converged"
    print(common.header_line(out))
    print(
        f"  energy        {out['energy']:.8f} Ha  ({state}, {out['steps']} steps, {out['seconds']:.1f} s"
        + (", from the store)" if out["cached"] else ")")
    )
    print(f"  max gradient  {out['max_gradient']:.2e} Ha/bohr")
    if out["converged"]:
        print("  geometry (Angstrom)")
        for symbol, x, y, z in out["atoms"]:
            x, y, z = (round(c, 8) + 0.0 for c in (x, y, z))  # no "-0.00000000"
            print(f"    {symbol:<2} {x:14.8f} {y:14.8f} {z:14.8f}")
        for row in out["geometry"]:
            unit = "A" if row["unit"] == "Angstrom" else "deg"
            print(f"  {row['parameter']:<14} {row['value']:10.4f} {unit}")
    common.print_notes([out["functional"]], indent="  ")


def optimize_status(out: dict) -> int:
    """1 (and why, on stderr) when the optimisation did not converge: its geometry is not a result."""
    if out["converged"]:
        return 0
    print(
        f"error: the {out['functional']} optimisation did NOT converge in {out['steps']} steps (max gradient "
        f"{out['max_gradient']:.1e} Ha/bohr): its geometry is not a valid result",
        file=sys.stderr,
    )
    return 1


def run_frequencies(args) -> dict:
    from explorer.analyses import geometry

    molecule, functional, grid = _inputs(args)
    if not 1e-4 <= args.step <= 0.05:
        raise InputError(f"--step must be 1e-4 to 0.05 bohr, got {args.step:g}")
    optimized = None
    if args.optimize:
        optimized, _ = _optimization(args, molecule, functional, grid)
        if not optimized.converged:
            steps = optimized.steps
            raise ConvergenceError(
                f"the {functional.name} optimisation did not converge in {steps} steps: no frequencies"
            )
        molecule = optimized.molecule()
    if args.no_cache:
        vib, cached = geometry.frequencies(molecule, functional, grid=grid, step=args.step), False
    elif args.cluster:
        job = geometry.submit_frequencies(molecule, functional.name, grid=grid, step=args.step)
        _wait(job.jobs)
        vib, cached = geometry.frequencies_result(job)
    else:
        from explorer.runs.store import ResultsStore

        vib, cached = geometry.frequencies_stored(
            store=ResultsStore(),
            progress=_tell,
            molecule=molecule,
            functional=functional.name,
            grid=grid,
            step=args.step,
        )
    return {
        **common.molecule_header(molecule, functional),
        "frequencies_cm1": vib.frequencies_cm1,
        "ir_intensities": vib.ir_intensities,
        "zpe": vib.zpe,
        "zpe_kcal": vib.zpe_kcal,
        "imaginary": vib.imaginary,
        "all_frequencies_cm1": vib.all_frequencies_cm1,
        "reduced_masses": vib.reduced_masses,
        "atoms": vib.atoms,
        "optimized": optimized is not None,
        "step": vib.step,
        "grid": vib.grid,
        "seconds": vib.seconds,
        "cached": cached,
    }


def print_frequencies(out: dict) -> None:
    print(common.header_line(out) + ("" if out["optimized"] else "  (at the geometry given)"))
    print(f"  {'mode':>4} {'cm-1':>10} {'IR km/mol':>10}")
    for i, (f, ir) in enumerate(zip(out["frequencies_cm1"], out["ir_intensities"], strict=True)):
        mark = "  imaginary" if f < 0 else ""
        print(f"  {i + 1:>4} {f:>10.1f} {ir:>10.2f}{mark}")
    print(f"  zero-point energy {out['zpe']:.6f} Ha ({out['zpe_kcal']:.2f} kcal/mol)")
    if out["imaginary"]:
        print(f"  {len(out['imaginary'])} imaginary mode(s): not a minimum (negative numbers are imaginary)")
    if not out["optimized"]:
        print("  note: harmonic frequencies mean something at an optimised geometry (--optimize)")
    common.print_notes([out["functional"]], indent="  ")


def _bench_arguments(p) -> None:
    from explorer.analyses.geometry import BENCH_MOLECULES

    p.add_argument(
        "molecules",
        nargs="*",
        default=list(BENCH_MOLECULES),
        help=f"library names (default: {' '.join(BENCH_MOLECULES)})",
    )
    p.add_argument("--functionals", default="DM21,B3LYP", help="comma-separated (default DM21,B3LYP)")
    p.add_argument("--basis", default="cc-pvtz", help="basis set (default cc-pvtz)")
    common.add_grid_flags(p)
    p.add_argument("--no-cache", action="store_true", help="compute even if the results store has it")
    p.add_argument(
        "--frequencies", action="store_true", help="also water's harmonic frequencies against experiment"
    )


def run_bench(args) -> dict:
    from explorer.analyses import geometry
    from explorer.chem.molecules import from_library
    from explorer.functionals import resolve

    names = [from_library(n, basis=args.basis).name for n in args.molecules]  # unknown names: one line
    methods = tuple(resolve(f).name for f in args.functionals.split(",") if f.strip())
    if not methods:
        raise InputError("--functionals names no functional")
    store = None
    if not args.no_cache:
        from explorer.runs.store import ResultsStore

        store = ResultsStore()
    return geometry.geometry_benchmark(
        methods,
        tuple(names),
        basis=args.basis,
        grid=common.grid_spec(args),
        store=store,
        progress=common.progress_line,
        with_frequencies=args.frequencies,
    )


def print_bench(out: dict) -> None:
    labels = list(out["mad"])
    print(f"Optimised geometries against experiment ({out['basis']}, grid {out['grid']})")
    print(f"  {'molecule':<13}{'parameter':<16}{'exp.':>10}" + "".join(f"{f:>10}{'dev':>9}" for f in labels))
    for m in out["molecules"]:
        for row in m["rows"]:
            line = f"  {m['name']:<13}{row['parameter']:<16}{row['experiment']:>10.4f}"
            for f in labels:
                value, dev = row["values"].get(f), row["deviations"].get(f)
                line += f"{common.fmt(value, '10.4f')}{common.fmt(dev, '+9.4f')}"
            print(line)
    print(
        "  mean absolute deviation: "
        + "; ".join(
            f"{f} bonds {common.fmt(v['bond'], '.4f')} A, angles {common.fmt(v['angle'], '.2f')} deg"
            for f, v in out["mad"].items()
        )
    )
    frequencies = out.get("frequencies")
    if frequencies:
        names = list(frequencies["mad"])
        print("Water's harmonic frequencies (cm-1) against experiment")
        print(f"  {'mode':>4}{'exp.':>10}" + "".join(f"{f:>10}{'dev':>8}" for f in names))
        for row in frequencies["rows"]:
            line = f"  {row['mode']:>4}{row['experiment']:>10.1f}"
            for f in names:
                line += f"{row['values'][f]:>10.1f}{row['deviations'][f]:>+8.1f}"
            print(line)
        print(
            "  mean absolute deviation: "
            + "; ".join(f"{f} {v:.1f} cm-1" for f, v in frequencies["mad"].items())
        )
        print(f"  experiment: {frequencies['source']}")
    for line in out["failed"]:
        print(f"  failed: {line}")
    print("  experimental structures: the library's sources (NIST CCCBDB; Huber & Herzberg for diatomics)")
    common.print_notes(labels, indent="  ")


def bench_status(out: dict) -> int:
    if not out["failed"]:
        return 0
    print(f"error: {len(out['failed'])} optimisation(s) failed: {out['failed'][0]}", file=sys.stderr)
    return 1


OPTIMIZE = common.Command(
    "optimize",
    "optimise a molecule's geometry",
    _optimize_arguments,
    run_optimize,
    print_optimize,
    optimize_status,
)
FREQUENCIES = common.Command(
    "frequencies",
    "harmonic frequencies, IR intensities and zero-point energy",
    _frequencies_arguments,
    run_frequencies,
    print_frequencies,
)
BENCH_GEOMETRY = common.Command(
    "bench-geometry",
    "optimised bond lengths and angles of small molecules against experiment",
    _bench_arguments,
    run_bench,
    print_bench,
    bench_status,
)


def _gradient_check_arguments(p) -> None:
    p.add_argument("--networks", default="DM21,DM21m,DM21mc,DM21mu", help="comma-separated DM21 networks")
    p.add_argument("--basis", default="6-31g", help="basis set (default 6-31g)")


def run_gradient_check(args) -> dict:
    from explorer.analyses import bench
    from explorer.functionals import resolve

    networks = [resolve(n).name for n in args.networks.split(",") if n.strip()]
    if not networks or not all(resolve(n).is_dm21 for n in networks):
        raise InputError("--networks takes DM21, DM21m, DM21mc and DM21mu")
    return bench.gradient_check(networks, args.basis, common.progress_line)


def print_gradient_check(out: dict) -> None:
    print(f"Analytic gradient - central difference (h = {out['step_bohr']} bohr), {out['basis']}, Ha/bohr")
    header = f"  {'network':<8}{'molecule':<15}{'kind':<5}{'largest':>10}{'sum F':>10}{'sum torque':>12}"
    print(header + f"{'s':>6}")
    for r in out["rows"]:
        print(
            f"  {r['network']:<8}{r['molecule']:<15}{r['kind']:<5}{r['largest']:>10.1e}"
            f"{r['force_sum']:>10.1e}{r['torque_sum']:>12.1e}{r['seconds']:>6.0f}"
        )


BENCH_GRADIENTS = common.Command(
    "bench-gradients",
    "DM21 analytic gradients against finite differences, all four networks",
    _gradient_check_arguments,
    run_gradient_check,
    print_gradient_check,
)
