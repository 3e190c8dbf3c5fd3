"""``fractional-charge`` and ``fractional-spin``: the energy at fractional occupations; ``scan``: a
potential-energy curve along a bond length."""

from __future__ import annotations

from explorer.chem.numbers import parse_numbers
from explorer.cli import common
from explorer.errors import InputError

UKS_ONLY = "must be UKS (the default): occupations are set per spin orbital"


def _curve_arguments(points: int, span: str):
    def add(p) -> None:
        common.add_molecule_flags(p)
        common.add_method_flags(p, kind_help=UKS_ONLY)
        p.add_argument("--points", type=int, default=points, help=f"points from {span} (default {points})")

    return add


def _curve(args, name: str) -> tuple[dict, list[dict]]:
    """(output header, points) of the curve ``name`` (fractional_charge or fractional_spin)."""
    from explorer.analyses import fractional
    from explorer.runs.store import ResultsStore

    molecule = common.molecule(args)
    method = common.method(args)
    molecule.to_pyscf()
    points = getattr(fractional, name)(
        molecule,
        method.functional,
        ResultsStore(),
        points=args.points,
        grid=method.grid,
        kind=method.kind,
        warm_start=method.warm_start,
        progress=common.progress,
    )
    header = {**common.molecule_header(molecule, method.functional), "n_electrons": molecule.n_electrons}
    return header, points


def run_charge(args) -> dict:
    from explorer.analyses import fractional

    header, points = _curve(args, "fractional_charge")
    lin = fractional.linearity(points)
    segment_keys = ("n_left", "n_right", "max_deviation", "curvature")
    return {
        **header,
        "points": points,
        "linearity": {k: lin[k] for k in ("max_abs_deviation", "max_deviation", "sign")}
        | {
            "segments": [{k: s[k] for k in segment_keys} for s in lin["segments"]],
            "deviations": lin["deviations"],
        },
        "ionization_and_affinity": fractional.ionization_and_affinity(points),
    }


def print_charge(out: dict) -> None:
    print(f"{common.header_line(out)}: E(N) at fixed occupations, N0={out['n_electrons']} (Hartree)")
    print(f"{'delta':>7} {'N':>7} {'energy':>16} {'deviation':>12} {'HOMO':>10}  converged")
    for p, dev in zip(out["points"], out["linearity"]["deviations"], strict=True):
        print(
            f"{p['delta']:7.3f} {p['n_electrons']:7.3f} {common.fmt(p['energy'], '16.8f')} "
            f"{common.fmt(dev, '12.6f')} {common.fmt(p['homo'], '10.5f')}  {common.yes_no(p['converged'])}"
        )
    lin = out["linearity"]
    if lin["max_deviation"] is not None:
        where = "below the line (convex)" if lin["sign"] < 0 else "above the line (concave)"
        print(f"largest deviation from linearity: {lin['max_deviation'] * 1000:.3f} mHa, {where}")
    ie = out["ionization_and_affinity"]
    for key, label in (("ip", "IP"), ("minus_homo", "-HOMO"), ("ea", "EA"), ("minus_lumo", "-LUMO")):
        print(f"  {label:<6} {common.fmt(ie[key], '.6f')} Ha")


def run_spin(args) -> dict:
    header, points = _curve(args, "fractional_spin")
    return {**header, "points": points}


def print_spin(out: dict) -> None:
    print(
        f"{out['functional']}/{out['basis']} {out['molecule']} 2S={out['spin']}: E(f), f of the highest "
        "alpha electron in beta (Hartree)"
    )
    print(f"{'f':>6} {'energy':>16} {'E - E(f=0)':>12}  converged")
    e0 = out["points"][0]["energy"]
    for p in out["points"]:
        diff = None if p["energy"] is None or e0 is None else p["energy"] - e0
        print(
            f"{p['fraction']:6.3f} {common.fmt(p['energy'], '16.8f')} {common.fmt(diff, '12.6f')}  "
            f"{common.yes_no(p['converged'])}"
        )


def _preset_names() -> list[str]:
    from explorer.analyses.fractional import DISSOCIATION_PRESETS

    return list(DISSOCIATION_PRESETS)


def _scan_arguments(p) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--atoms", help='template with {r} for the bond length (Angstrom): "H 0 0 0; H 0 0 {r}"'
    )
    source.add_argument("--preset", help="a preset curve: " + ", ".join(_preset_names()))
    p.add_argument("--values", help="comma-separated bond lengths in Angstrom (default: the preset's)")
    common.add_size_flags(p, "the preset's")
    common.add_method_flags(p, kind_help=common.KIND_HELP + " (or the preset's)")


def _preset(text: str | None) -> dict:
    """The dissociation preset named ``text`` (any case) with its "name"; {} for None."""
    from explorer.analyses.fractional import DISSOCIATION_PRESETS

    if text is None:
        return {}
    names = {k.lower(): k for k in DISSOCIATION_PRESETS}
    if text.strip().lower() not in names:
        raise InputError(f"unknown preset {text!r}: choose one of {', '.join(names.values())}")
    name = names[text.strip().lower()]
    return {"name": name, **DISSOCIATION_PRESETS[name]}


def _bond_lengths(text: str | None, preset: dict) -> list[float]:
    if text is not None:
        try:
            return parse_numbers(text, "bond lengths (Angstrom)", positive=True)
        except InputError as err:
            raise InputError(f"--values: {err}") from None
    if preset:
        return preset["values"]
    raise InputError("--values is required with --atoms (comma-separated bond lengths in Angstrom)")


def run_scan(args) -> dict:
    from explorer.analyses import fractional
    from explorer.runs.store import ResultsStore

    preset = _preset(args.preset)
    template = args.atoms if args.atoms is not None else preset["template"]
    values = _bond_lengths(args.values, preset)
    charge = args.charge if args.charge is not None else preset.get("charge", 0)
    spin = args.spin if args.spin is not None else preset.get("spin")
    method = common.method(args)
    kind = method.kind or preset.get("kind")
    first = fractional.scan_geometries(template, values[:1], charge=charge, spin=spin, basis=args.basis)[0]
    common.check_size(first, args)
    points = fractional.scan(
        template,
        values,
        method.functional,
        ResultsStore(),
        charge=charge,
        spin=spin,
        basis=args.basis,
        kind=kind,
        grid=method.grid,
        warm_start=method.warm_start,
        name=preset.get("name", ""),
        progress=common.progress,
    )
    out = {
        "template": template,
        "functional": method.functional.name,
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


def print_scan(out: dict) -> None:
    print(
        f"{out['functional']}/{out['basis']} scan of {out['template']!r} charge={out['charge']} "
        f"2S={out['spin']} {out['kind'] or ''}".rstrip()
    )
    print(f"{'R (A)':>8} {'energy (Ha)':>16} {'<S^2>':>7}  converged")
    for p in out["points"]:
        print(
            f"{p['value']:8.3f} {common.fmt(p['energy'], '16.8f')} {common.fmt(p['s2'], '7.3f')}  "
            f"{common.yes_no(p['converged'])}"
        )
    if out.get("exact_limit") is not None:
        print(f"exact large-R limit {out['exact_limit']:.6f} Ha ({out['limit_source']})")


FRACTIONAL_CHARGE = common.Command(
    "fractional-charge",
    "E(N) from N0-1 to N0+1 electrons at fixed occupations",
    _curve_arguments(9, "delta=-1 to +1"),
    run_charge,
    print_charge,
)
FRACTIONAL_SPIN = common.Command(
    "fractional-spin",
    "E as a fraction f of the highest alpha electron turns beta",
    _curve_arguments(5, "f=0 to 1"),
    run_spin,
    print_spin,
)
SCAN = common.Command(
    "scan", "potential-energy curve along a bond length", _scan_arguments, run_scan, print_scan
)
