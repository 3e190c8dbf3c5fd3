"""``bench``: time DM21 against B3LYP on the same molecule, basis and grid."""

from __future__ import annotations

from explorer.cli import common
from explorer.errors import InputError
from explorer.functionals import resolve


def _arguments(p) -> None:
    p.add_argument(
        "cases",
        nargs="*",
        default=["water"],
        help="water, benzene, caffeine, aspirin, estradiol (default: water)",
    )
    common.add_functional_flag(p, help="DM21, DM21m, DM21mc or DM21mu")
    p.add_argument("--exact", action="store_true", help="also run the exact (reference) path and compare")
    p.add_argument("--scaling", action="store_true", help="also time water in growing bases")
    p.add_argument(
        "--alkanes",
        type=int,
        default=0,
        metavar="N",
        help="also time the first N linear alkanes (C2, C4, C8, C12, C16 in 6-31G*) and fit the exponents",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of each SCF; the median time is reported")
    p.add_argument("--plot", metavar="FILE", help="write the time-against-basis-size plot (HTML)")


def run(args) -> dict:
    from explorer.analyses import bench

    functional = resolve(args.functional)
    if not functional.is_dm21:
        raise InputError(f"bench times a DM21 functional, not {args.functional}")
    scaling = args.scaling or bool(args.plot)
    if not 0 <= args.alkanes <= len(bench.ALKANES):
        raise InputError(f"--alkanes must be from 0 to {len(bench.ALKANES)}, got {args.alkanes}")
    out = bench.run(
        args.cases, functional.name, args.exact, scaling, common.progress_line, args.repeat, args.alkanes
    )
    if args.plot:
        from explorer.present.plots import scaling_figure

        rows = out["scaling"] + out["cases"] + out["alkanes"]
        scaling_figure(sorted(rows, key=lambda r: r["n_basis"])).write_html(args.plot, include_plotlyjs=True)
    return out


def print_human(out: dict) -> None:
    header = f"{'case':<18}{'nbas':>5}{'B3LYP s':>9}{'DM21 s':>9}{'ratio':>7}{'cycles':>8}{'peak MB':>9}"
    print(header + "  fast-exact Ha")
    for row in out["cases"] + out["scaling"] + out["alkanes"]:
        diff = row.get("fast_minus_exact")
        print(
            f"{row['case']:<18}{row['n_basis']:>5}{row['b3lyp']['scf_seconds']:>9.2f}"
            f"{row['dm21']['scf_seconds']:>9.2f}{row['ratio']:>7.1f}"
            f"{row['b3lyp']['cycles']:>4}/{row['dm21']['cycles']:<3}{row['dm21']['peak_rss_mb']:>9.0f}"
            f"  {'' if diff is None else f'{diff:.1e}'}"
        )
    print("Times are SCF only (grid, warm start, iterations).")
    fit = out.get("alkane_exponents")
    if fit:
        print(f"Alkanes: time ~ (basis functions)^p, p = {fit['dm21']:.2f} DM21, {fit['b3lyp']:.2f} B3LYP.")
    common.print_notes(["B3LYP"])
    for lib in out["blas"]:
        forced = lib["OPENBLAS_CORETYPE"]
        note = f" (OPENBLAS_CORETYPE={forced} in the environment)" if forced else ""
        version = f" {lib['version']}" if lib["version"] else ""
        print(f"BLAS: {lib['file']} ({lib['library']}{version}), {lib['kernels']} kernels{note}")


BENCH = common.Command(
    "bench",
    "time DM21 against B3LYP on the same molecule, basis and grid",
    _arguments,
    run,
    print_human,
    json_help="print JSON",
)
