"""``density``: the electron density on a cube grid; ``xc-map``: the XC energy density, its grid
integral, its extremes on a plane and a cube file. The numbers come from explorer.analyses.maps."""

from __future__ import annotations

from explorer.cli import common
from explorer.functionals import resolve

CUBE_HELP = {
    "density": "write the total density (electrons/bohr^3) to this cube file",
    "xc-map": "write the XC energy density (Hartree/bohr^3) to this cube file",
}


def _arguments(command: str):
    def add(p) -> None:
        common.add_molecule_flags(p)
        common.add_method_flags(p)
        if command == "xc-map":
            p.add_argument("--compare", help="a second functional evaluated on the first one's density")
            p.add_argument(
                "--plane", default="molecular", help="'molecular' (default) or three atom numbers: 1,2,3"
            )
            p.add_argument("--plane-points", type=int, default=80, help="plane points per axis (default 80)")
        p.add_argument("--cube", help=CUBE_HELP[command])
        p.add_argument(
            "--cube-points", type=int, help="cube points per axis (default: 80 for density, 40 for xc-map)"
        )
        p.add_argument(
            "--margin", type=float, default=4.0, help="cube margin around the atoms, bohr (default 4)"
        )

    return add


def run_density(args) -> dict:
    from explorer.analyses import maps

    molecule = common.molecule(args)
    method = common.method(args)
    mol = molecule.to_pyscf()
    points = args.cube_points or maps.DENSITY_CUBE_POINTS
    maps.make_cube(mol, points, args.margin)  # checks the size before any SCF
    result, cached = common.stored_scf(molecule, method)
    summary, text = maps.density_summary(
        mol, result.dm, method.functional, points, args.margin, with_text=bool(args.cube)
    )
    if text is not None:
        common.write_text(args.cube, text)
    return {
        **common.molecule_header(molecule, method.functional),
        "kind": result.kind,
        "n_electrons": molecule.n_electrons,
        "energy": result.energy,
        "converged": result.converged,
        "cached": cached,
        **summary,
        "cube": args.cube,
    }


def print_density(out: dict) -> None:
    print(common.header_line(out))
    shape = "x".join(str(n) for n in out["cube_points"])
    print(
        f"  density cube {shape}: Riemann sum of the cube {out['cube_integral']:.4f} (a check of the "
        f"cube, not the electron count, which is {out['n_electrons']})"
    )
    if out["cube"]:
        print(f"  cube file written to {out['cube']}")


def run_xc_map(args) -> dict:
    from explorer.analyses import maps

    molecule = common.molecule(args)
    method = common.method(args)
    compare = resolve(args.compare) if args.compare else None
    mol = molecule.to_pyscf()
    # The plane and the cube size are checked before any SCF.
    plane = maps.plane_of(mol, maps.parse_plane(args.plane, mol.natm), args.plane_points)
    points = args.cube_points or maps.CUBE_POINTS
    if args.cube:
        maps.make_cube(mol, points, args.margin)
    result, cached = common.stored_scf(molecule, method)
    summary, cube = maps.xc_map_summary(
        molecule,
        result,
        method.functional,
        compare,
        plane,
        method.grid,
        points if args.cube else None,
        args.margin,
    )
    out = {
        **common.molecule_header(molecule, method.functional),
        "kind": result.kind,
        "converged": result.converged,
        "cached": cached,
        **summary,
        "cube": None,
    }
    if cube is not None:
        common.write_text(args.cube, cube["text"])
        out["cube"] = args.cube
        out["cube_integral"] = cube["integral"]
    return out


def print_xc_map(out: dict) -> None:
    print(common.header_line(out))
    print(
        f"  E_xc integral of the energy density  {out['e_xc_integral']:.10f} Ha "
        f"({out['n_grid_points']} grid points)"
    )
    print(f"  E_xc reported by the SCF             {out['e_xc_reported']:.10f} Ha")
    if out["compare"]:
        c = out["compare"]
        print(
            f"  {c['functional']} on the same density: integral {c['e_xc_integral']:.10f} Ha, "
            f"PySCF {c['e_xc_pyscf']:.10f} Ha"
        )
        common.print_notes([c["functional"]], indent="  ")
    plane = out["plane"]
    for f in plane["e_xc_min"]:
        low, high = plane["e_xc_min"][f], plane["e_xc_max"][f]
        print(f"  {plane['label']}: {f} e_xc from {low:.4g} to {high:.4g} Ha/bohr^3")
    if out["cube"]:
        print(f"  XC energy density cube written to {out['cube']}")


DENSITY = common.Command(
    "density",
    "electron density on a cube grid (Gaussian cube file)",
    _arguments("density"),
    run_density,
    print_density,
)
XC_MAP = common.Command(
    "xc-map",
    "XC energy density: grid integral, a plane map, a cube file",
    _arguments("xc-map"),
    run_xc_map,
    print_xc_map,
)
