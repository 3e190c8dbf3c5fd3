"""Densities and exchange-correlation energy densities in space: on cube grids, planes and lines.

Everything here works on a PySCF Mole and a density matrix (from a ``Result``): the total density D
(nao, nao) of a restricted calculation or the spin densities (2, nao, nao) of an unrestricted one.
Coordinates are in bohr for evaluation; planes and lines also carry Angstrom axes for display.

Units and signs:

- densities in electrons/bohr^3; spin density rho_alpha - rho_beta;
- XC energy densities e_xc(r) in Hartree/bohr^3, negative where exchange-correlation binds, with
  E_xc = integral e_xc(r) dr. For DM21 e_xc is the network's per-point output (its
  ``grid_contribution``); for a classical functional it is exc_per_particle(r) * rho(r) from libxc
  plus, for a hybrid, the hybrid coefficient times the local Hartree-Fock exchange energy density
  (so that the map integrates to the functional's full E_xc, exact exchange included);
- local HF exchange e_x^HF(r; omega) = sum over spins of -1/2 sum_ab E_b F_b (explorer.engine.features),
  the inputs DM21 reads at omega = 0 (1/r) and 0.4/bohr (erf(0.4 r)/r); negative;
- the enhancement factor F(r) = e_xc(r) / e_x^LDA(r), e_x^LDA = -(3/4)(6/pi)^(1/3)
  (rho_a^(4/3) + rho_b^(4/3)) (Slater exchange), dimensionless; NaN where rho < ENHANCEMENT_RHO_FLOOR.

The energy density of a functional is not unique (any term integrating to zero can be added), so
maps of two functionals differ also by such gauge terms; the integrals are what the energies compare.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
from pyscf import lib
from pyscf.dft import numint
from pyscf.tools import cubegen

from explorer.chem.numbers import parse_numbers
from explorer.engine import features, network
from explorer.errors import InputError
from explorer.functionals import is_dm21, resolve

#: Angstrom per bohr.
BOHR_ANGSTROM = lib.param.BOHR
#: Below this total density (electrons/bohr^3) the enhancement factor is not drawn (NaN).
ENHANCEMENT_RHO_FLOOR = 1e-4
#: Default points per axis of a cube grid and of a plane map.
CUBE_POINTS = 40
#: Points per axis of the density command's cube, chosen so its Riemann sum comes within 1% of the
#: electron count (water/cc-pVDZ: 9.62 of 10 at 40 points, 9.89 at 60, 9.950 at 80, 9.975 at 100; the
#: sum falls short where the grid under-samples the density's cusps at the nuclei).
DENSITY_CUBE_POINTS = 80
PLANE_POINTS = 80
#: Default space around the atoms: cube margin (bohr) and plane margin (Angstrom).
CUBE_MARGIN_BOHR = 4.0
PLANE_MARGIN_ANGSTROM = 2.0
#: Memory for one block's exchange integrals (nao^2 float64 per point and omega), bytes.
BLOCK_BYTES = 128e6


def spin_density_matrices(dm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D_alpha, D_beta) from a total (nao, nao) density matrix (halved) or a (2, nao, nao) pair."""
    dm = np.asarray(dm, dtype=float)
    if dm.ndim == 2:
        return dm / 2, dm / 2
    if dm.ndim == 3 and dm.shape[0] == 2:
        return dm[0], dm[1]
    raise InputError(f"density matrix of shape {dm.shape}: expected (nao, nao) or (2, nao, nao)")


def _blocks(mol, n_points: int, n_omegas: int):
    """Point ranges small enough for the exchange integrals of ``n_omegas`` kernels in BLOCK_BYTES."""
    nao = mol.nao_nr()
    size = max(64, int(BLOCK_BYTES / (8 * nao * nao * max(1, n_omegas))))
    return lib.prange(0, n_points, size)


def density_on_points(mol, dm: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spin densities (rho_alpha, rho_beta), electrons/bohr^3, at ``coords`` (N, 3) in bohr."""
    dm_a, dm_b = spin_density_matrices(dm)
    restricted = np.asarray(dm).ndim == 2
    coords = np.asarray(coords, dtype=float).reshape(-1, 3)
    rho_a, rho_b = np.empty(len(coords)), np.empty(len(coords))
    for start, stop in _blocks(mol, len(coords), 1):
        ao = numint.eval_ao(mol, coords[start:stop], deriv=0)
        rho_a[start:stop] = numint.eval_rho(mol, ao, dm_a, hermi=1)
        rho_b[start:stop] = rho_a[start:stop] if restricted else numint.eval_rho(mol, ao, dm_b, hermi=1)
    return rho_a, rho_b


# ---------------------------------------------------------------------------------------------
# XC energy densities


def classical_coefficients(functional: str) -> tuple[float, float, float]:
    """(omega, alpha, hyb) of a PySCF/libxc functional: its exact exchange is
    hyb * K(1/r) + (alpha - hyb) * K(erf(omega r)/r) (PySCF's convention; omega in 1/bohr)."""
    ni = numint.NumInt()
    try:
        omega, alpha, hyb = ni.rsh_and_hybrid_coeff(functional)
    except (KeyError, ValueError, TypeError, AssertionError, NotImplementedError):
        raise InputError(f"unknown functional {functional!r}") from None
    return abs(float(omega)), float(alpha), float(hyb)


@dataclass
class PointValues:
    """Per-point quantities at N points for one density: densities (electrons/bohr^3), local HF
    exchange summed over spins (N, 2) for omega = 0 and 0.4 (Hartree/bohr^3), and the XC energy
    density of each requested functional (Hartree/bohr^3)."""

    rho_a: np.ndarray
    rho_b: np.ndarray
    hfx: np.ndarray
    exc: dict[str, np.ndarray]

    @property
    def rho(self) -> np.ndarray:
        return self.rho_a + self.rho_b

    def enhancement(self, functional: str) -> np.ndarray:
        """e_xc / e_x^LDA of ``functional`` (dimensionless); NaN where rho < ENHANCEMENT_RHO_FLOOR."""
        return enhancement_factor(self.exc[functional], self.rho_a, self.rho_b)


def lda_exchange(rho_a: np.ndarray, rho_b: np.ndarray) -> np.ndarray:
    """Slater (LDA) exchange energy density, Hartree/bohr^3: -(3/4)(6/pi)^(1/3)(rho_a^(4/3) + rho_b^(4/3))."""
    ra, rb = np.clip(rho_a, 0, None), np.clip(rho_b, 0, None)
    return -0.75 * (6 / np.pi) ** (1 / 3) * (ra ** (4 / 3) + rb ** (4 / 3))


def enhancement_factor(exc: np.ndarray, rho_a: np.ndarray, rho_b: np.ndarray) -> np.ndarray:
    """exc / lda_exchange(rho_a, rho_b), NaN where rho_a + rho_b < ENHANCEMENT_RHO_FLOOR."""
    ex = lda_exchange(rho_a, rho_b)
    out = np.full(np.shape(exc), np.nan)
    ok = (rho_a + rho_b) >= ENHANCEMENT_RHO_FLOOR
    out[ok] = exc[ok] / ex[ok]
    return out


def point_values(mol, dm: np.ndarray, coords: np.ndarray, functionals=()) -> PointValues:
    """Densities, local HF exchange (omega 0 and 0.4) and the XC energy density of each of
    ``functionals`` (DM21 family or PySCF/libxc names) at ``coords`` (N, 3) bohr, all for the one
    density ``dm``. DM21 is evaluated from features at these points exactly as in an SCF;
    classical functionals as libxc's energy per particle times rho plus their exact exchange."""
    dm_a, dm_b = spin_density_matrices(dm)
    restricted = np.asarray(dm).ndim == 2
    coords = np.ascontiguousarray(np.asarray(coords, dtype=float).reshape(-1, 3))
    n = len(coords)
    omegas = list(network.HFX_OMEGAS)
    plans = {}
    for f in functionals:
        if is_dm21(f):
            plans[f] = ("dm21", network.load_network(f))
        else:
            omega, alpha, hyb = classical_coefficients(f)
            if omega and omega not in omegas:
                omegas.append(omega)
            plans[f] = ("classical", (omega, alpha, hyb))
    rho_a, rho_b = np.empty(n), np.empty(n)
    hfx = np.empty((n, len(omegas)))
    exc = {f: np.empty(n) for f in functionals}
    ni = numint.NumInt()
    for start, stop in _blocks(mol, n, len(omegas)):
        pts = coords[start:stop]
        ao = numint.eval_ao(mol, pts, deriv=1)
        ra = features.spin_densities(ao, dm_a)
        rb = ra if restricted else features.spin_densities(ao, dm_b)
        ex_a, ex_b = [], []
        for omega in omegas:
            nu = features.exchange_integrals(mol, pts, omega)
            ex_a.append(features.local_exchange(nu, ao[0], dm_a)[0])
            ex_b.append(ex_a[-1] if restricted else features.local_exchange(nu, ao[0], dm_b)[0])
            del nu
        ex_a, ex_b = np.stack(ex_a, axis=1), np.stack(ex_b, axis=1)
        rho_a[start:stop], rho_b[start:stop] = ra[0], rb[0]
        hfx[start:stop] = ex_a + ex_b
        for f, (how, what) in plans.items():
            if how == "dm21":
                inputs = features.network_features(ra, rb, ex_a[:, :2], ex_b[:, :2])
                exc[f][start:stop] = what.evaluate(inputs).exc
            else:
                omega, alpha, hyb = what
                e = _semilocal_energy_density(ni, mol, f, ao, dm_a, dm_b, ra, rb)
                if hyb or alpha:
                    total = ex_a + ex_b
                    e = e + hyb * total[:, 0]
                    if omega:
                        e = e + (alpha - hyb) * total[:, omegas.index(omega)]
                exc[f][start:stop] = e
    for e in exc.values():
        # Far from the molecule the network may see densities it was never trained on; nothing
        # there carries weight in E_xc, but a non-finite value must not reach a map or a cube.
        e[~np.isfinite(e)] = 0.0
    return PointValues(rho_a=rho_a, rho_b=rho_b, hfx=hfx[:, :2], exc=exc)


def _semilocal_energy_density(ni, mol, functional, ao, dm_a, dm_b, ra, rb) -> np.ndarray:
    """libxc's semi-local part of ``functional``: energy per particle times rho, Hartree/bohr^3."""
    xctype = ni._xc_type(functional)
    if xctype == "HF":
        return np.zeros(ra.shape[1])
    if xctype == "LDA":
        rho = np.array([ra[0], rb[0]])
    elif xctype == "GGA":
        rho = np.array([ra[:4], rb[:4]])
    elif xctype == "MGGA":
        rho = np.array([ra, rb])
    else:
        raise InputError(f"functional {functional!r} ({xctype}) cannot be mapped here")
    eps = ni.eval_xc_eff(functional, rho, deriv=0, xctype=xctype, spin=1)[0]
    return np.asarray(eps).ravel() * (ra[0] + rb[0])


def energy_density_on_grid(mol, functional: str, dm: np.ndarray, grids) -> np.ndarray:
    """XC energy density (Hartree/bohr^3) of ``functional`` at each point of the molecular grid
    ``grids`` for density ``dm``: sum(grids.weights * e) is E_xc on that grid. For DM21 it is what
    DM21NumInt.integrate reports (the SCF's own numbers); for classical functionals point_values."""
    if is_dm21(functional):
        from explorer.engine.numint import DM21NumInt

        dm_a, dm_b = spin_density_matrices(dm)
        out = np.zeros(grids.weights.size)
        DM21NumInt(functional).integrate(
            mol, grids, dm_a, dm_b, restricted=np.asarray(dm).ndim == 2, energy_density_out=out
        )
        return out
    e = point_values(mol, dm, grids.coords, [functional]).exc[functional]
    return np.where(grids.weights != 0, e, 0.0)


def integrate_on_grid(values: np.ndarray, grids) -> float:
    """sum(weights * values): the integral over the molecular grid."""
    return float(np.dot(grids.weights, values))


# ---------------------------------------------------------------------------------------------
# Cubes


def make_cube(mol, points: int = CUBE_POINTS, margin: float = CUBE_MARGIN_BOHR) -> cubegen.Cube:
    """A cube grid of ``points`` per axis around the atoms with ``margin`` bohr on each side."""
    if not 2 <= int(points) <= 200:
        raise InputError(f"cube points per axis must be from 2 to 200, got {points}")
    return cubegen.Cube(mol, int(points), int(points), int(points), margin=float(margin))


def cube_voxel_volume(cube: cubegen.Cube) -> float:
    """Volume of one cube cell, bohr^3."""
    steps = np.diag(cube.box) * np.array([cube.xs[1], cube.ys[1], cube.zs[1]])
    return float(np.prod(steps))


def cube_integral(cube: cubegen.Cube, values: np.ndarray) -> float:
    """Sum of ``values`` on the cube's points times the cell volume (a Riemann sum; its error is
    set by the spacing, large near nuclei, and by density outside the box)."""
    return float(np.sum(values) * cube_voxel_volume(cube))


def cube_text(cube: cubegen.Cube, values: np.ndarray, comment: str) -> str:
    """The Gaussian cube file (bohr) of ``values`` on ``cube``'s points, written by PySCF."""
    field = np.asarray(values, dtype=float).reshape(cube.nx, cube.ny, cube.nz)
    fd, path = tempfile.mkstemp(suffix=".cube")
    os.close(fd)
    try:
        cube.write(field, path, comment=comment)
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    finally:
        os.remove(path)


#: Default isovalue of a signed field (density difference, spin density): its surfaces at +c and -c
#: enclose this fraction of the integral of |field|. The largest |field| sits at the nuclei, so a
#: smaller fraction draws small surfaces hidden in the atom spheres: for water's DM21 - B3LYP density
#: (STO-3G to cc-pVDZ) half of the integral lies inside 1e-4 to 2e-4 electrons/bohr^3, mostly next to
#: O; three quarters at 5e-5, where most of each surface lies outside the spheres.
ENCLOSED_FRACTION = 0.75


def enclosed_fraction(values: np.ndarray, isovalue: float) -> float:
    """The fraction (0 to 1) of the sum of |values| at the points where |values| >= ``isovalue``: on a
    uniform grid such as a cube, the share of the integral of |field| inside its surfaces at
    +-``isovalue``. NaN values are left out; 0 for a field that is zero everywhere."""
    magnitude = np.abs(np.asarray(values, dtype=float))
    magnitude = magnitude[np.isfinite(magnitude)]
    total = magnitude.sum()
    return float(magnitude[magnitude >= isovalue].sum() / total) if total > 0 else 0.0


def enclosing_isovalue(values: np.ndarray, fraction: float = ENCLOSED_FRACTION) -> float:
    """The largest isovalue c (in the unit of ``values``) whose surfaces at +-c enclose at least
    ``fraction`` (0 < fraction <= 1) of the sum of |values| (see enclosed_fraction): an isovalue
    chosen from the data, where a fixed one may draw nothing or everything. InputError for a field
    that is zero everywhere (it has no surface)."""
    if not 0 < fraction <= 1:
        raise InputError(f"the enclosed fraction must be in (0, 1], got {fraction}")
    magnitude = np.abs(np.asarray(values, dtype=float))
    magnitude = np.sort(magnitude[np.isfinite(magnitude)])[::-1]
    if magnitude.size == 0 or magnitude[0] == 0:
        raise InputError("the field is zero everywhere: it has no isosurface")
    cumulative = np.cumsum(magnitude)
    k = int(np.searchsorted(cumulative, fraction * cumulative[-1]))
    return float(magnitude[min(k, magnitude.size - 1)])


def density_cube(mol, dm: np.ndarray, points: int = CUBE_POINTS, margin: float = CUBE_MARGIN_BOHR):
    """(cube, rho_alpha, rho_beta) on a cube grid, electrons/bohr^3."""
    cube = make_cube(mol, points, margin)
    rho_a, rho_b = density_on_points(mol, dm, cube.get_coords())
    return cube, rho_a, rho_b


def read_cube(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin (3,) bohr, axes (3, 3) bohr step vectors, values (nx, ny, nz)) of a cube file's text."""
    lines = text.splitlines()
    natm, *origin = lines[2].split()[:4]
    natm = abs(int(natm))
    shape, axes = [], []
    for line in lines[3:6]:
        n, *step = line.split()[:4]
        shape.append(abs(int(n)))
        axes.append([float(x) for x in step])
    values = np.array(" ".join(lines[6 + natm :]).split(), dtype=float)
    return np.array(origin, dtype=float), np.array(axes), values.reshape(shape)


# ---------------------------------------------------------------------------------------------
# Planes and lines


@dataclass(frozen=True)
class Plane:
    """A rectangle of points on a plane. ``origin`` (3,) bohr is the point at in-plane coordinates
    (0, 0); ``u``, ``v`` the orthonormal in-plane axes, ``normal`` = u x v; ``s`` (nu,) and ``t``
    (nv,) the in-plane coordinates along u and v, in bohr. Points are ordered t-major: the map of
    a function is values.reshape(len(t), len(s)), rows along v (Plotly's heatmap order)."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    normal: np.ndarray
    s: np.ndarray
    t: np.ndarray
    label: str

    def points(self) -> np.ndarray:
        """(nv * nu, 3) points in bohr."""
        ss, tt = np.meshgrid(self.s, self.t)
        return self.origin + ss.reshape(-1, 1) * self.u + tt.reshape(-1, 1) * self.v

    @property
    def s_angstrom(self) -> np.ndarray:
        return self.s * BOHR_ANGSTROM

    @property
    def t_angstrom(self) -> np.ndarray:
        return self.t * BOHR_ANGSTROM

    def grid(self, values: np.ndarray) -> np.ndarray:
        """Per-point values as the (nv, nu) map."""
        return np.asarray(values).reshape(len(self.t), len(self.s))

    def project(self, xyz_bohr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """In-plane coordinates (s, t) and distance from the plane (all bohr) of points (M, 3)."""
        d = np.asarray(xyz_bohr, dtype=float).reshape(-1, 3) - self.origin
        return d @ self.u, d @ self.v, d @ self.normal


def _window(plane_axes, xyz: np.ndarray, points: int, margin_bohr: float, label: str) -> Plane:
    """The Plane with axes (origin, u, v, normal) spanning the atoms' projections plus a margin."""
    origin, u, v, normal = plane_axes
    d = xyz - origin
    su, tv = d @ u, d @ v
    s = np.linspace(su.min() - margin_bohr, su.max() + margin_bohr, points)
    t = np.linspace(tv.min() - margin_bohr, tv.max() + margin_bohr, points)
    return Plane(origin, u, v, normal, s, t, label)


def _check_plane_size(points: int) -> int:
    if not 4 <= int(points) <= 400:
        raise InputError(f"plane points per axis must be from 4 to 400, got {points}")
    return int(points)


def plane_through_atoms(
    mol, atoms: tuple[int, int, int], points: int = PLANE_POINTS, margin: float = PLANE_MARGIN_ANGSTROM
) -> Plane:
    """The plane through three atoms (0-based indices): u from the first atom to the second, v
    in-plane perpendicular to u towards the third; ``margin`` Angstrom around all atoms' projections.
    Raises InputError for an index out of range, a repeated atom or three collinear atoms."""
    points = _check_plane_size(points)
    xyz = mol.atom_coords()
    idx = [int(i) for i in atoms]
    if len(idx) != 3 or any(i < 0 or i >= len(xyz) for i in idx):
        raise InputError(f"plane atoms must be three atom numbers from 1 to {len(xyz)}")
    if len(set(idx)) != 3:
        raise InputError("plane atoms must be three different atoms")
    a, b, c = xyz[idx]
    u = b - a
    normal = np.cross(u, c - a)
    if np.linalg.norm(normal) < 1e-3 * np.linalg.norm(u) * np.linalg.norm(c - a):
        raise InputError("the three plane atoms are collinear: they do not define a plane")
    u = u / np.linalg.norm(u)
    normal = normal / np.linalg.norm(normal)
    v = np.cross(normal, u)
    label = "plane through atoms " + ", ".join(f"{mol.atom_symbol(i)}{i + 1}" for i in idx)
    return _window((a, u, v, normal), xyz, points, margin / BOHR_ANGSTROM, label)


def molecular_plane(mol, points: int = PLANE_POINTS, margin: float = PLANE_MARGIN_ANGSTROM) -> Plane:
    """The molecule's principal plane: through the atoms' centroid, spanned by the two directions of
    largest spread of the (unweighted) atom positions, u the largest; each axis points towards the
    atom farthest along it. The plane of a planar molecule; for a linear molecule one plane
    containing the axis; for an atom the xy plane."""
    points = _check_plane_size(points)
    xyz = mol.atom_coords()
    centre = xyz.mean(axis=0)
    centred = xyz - centre
    if len(xyz) < 2 or not np.any(np.abs(centred) > 1e-8):
        axes = np.eye(3)
    else:
        _, _, vt = np.linalg.svd(centred, full_matrices=True)
        axes = vt.copy()
        for k in range(2):
            proj = centred @ axes[k]
            if abs(proj).max() > 1e-8 and proj[np.argmax(np.abs(proj))] < 0:
                axes[k] = -axes[k]
        axes[2] = np.cross(axes[0], axes[1])
    return _window(
        (centre, axes[0], axes[1], axes[2]), xyz, points, margin / BOHR_ANGSTROM, "molecular plane"
    )


def parse_plane(text: str, n_atoms: int) -> tuple[int, int, int] | None:
    """``--plane`` syntax: "molecular" (None) or three 1-based atom numbers "1,2,3" (returned
    0-based). Raises InputError naming the problem."""
    text = (text or "molecular").strip().lower()
    if text in ("molecular", "molecule", "principal"):
        return None
    numbers = parse_numbers(text, "--plane atom numbers (or 'molecular')", whole=True)
    if len(numbers) != 3:
        raise InputError(f"--plane needs three atom numbers (1 to {n_atoms}), got {len(numbers)}")
    if any(i < 1 or i > n_atoms for i in numbers):
        raise InputError(f"--plane atom numbers must be from 1 to {n_atoms}, got {text}")
    return tuple(i - 1 for i in numbers)


def plane_of(mol, atoms: tuple[int, int, int] | None = None, points: int = PLANE_POINTS) -> Plane:
    """The molecular plane (``atoms`` None) or the plane through three atoms (0-based indices)."""
    return molecular_plane(mol, points) if atoms is None else plane_through_atoms(mol, atoms, points)


def bond_line(mol, i: int, j: int, points: int = 201, extend: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Points (bohr) on the line through atoms i and j (0-based), from ``extend`` Angstrom before i
    to ``extend`` beyond j, and their position along the line in Angstrom from atom i."""
    xyz = mol.atom_coords()
    if i == j or not (0 <= i < len(xyz) and 0 <= j < len(xyz)):
        raise InputError(f"a line needs two different atoms numbered 1 to {len(xyz)}")
    a, b = xyz[i], xyz[j]
    length = np.linalg.norm(b - a)
    direction = (b - a) / length
    ext = extend / BOHR_ANGSTROM
    x = np.linspace(-ext, length + ext, points)
    return a + x[:, None] * direction, x * BOHR_ANGSTROM


#: A line profile's vertical scale is fitted to the points farther than this (Angstrom) from every
#: nucleus: nearer, the core electrons' XC energy density reaches -1e3 Hartree/bohr^3 (water's O) and
#: would flatten the bonding region, where the functionals differ by 1e-2.
CORE_RADIUS_ANGSTROM = 0.3


def nearest_atom_distance(mol, points: np.ndarray) -> np.ndarray:
    """Distance (Angstrom) from each of ``points`` (N, 3), bohr, to the nearest nucleus of ``mol``."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    gaps = np.linalg.norm(points[:, None, :] - mol.atom_coords()[None, :, :], axis=-1)
    return gaps.min(axis=1) * BOHR_ANGSTROM


def valence_range(
    values, distances, core: float = CORE_RADIUS_ANGSTROM, pad: float = 0.05
) -> tuple[float, float]:
    """(low, high) of the finite ``values`` at points more than ``core`` Angstrom from every nucleus
    (``distances``, as nearest_atom_distance gives them), widened by ``pad`` of the span on each side;
    in the unit of ``values``. All finite values count when no point is that far."""
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    far = ok & (np.asarray(distances, dtype=float) > core)
    chosen = values[far if far.any() else ok]
    if chosen.size == 0:
        return 0.0, 1.0
    low, high = float(chosen.min()), float(chosen.max())
    margin = pad * (high - low) or abs(low) * pad or 1.0
    return low - margin, high + margin


#: The position column of ``line_profile``: Angstrom along the line from its first atom.
PROFILE_POSITION = "x (Angstrom)"


def line_profile(x, values: dict, difference: tuple[str, str] | None = None) -> list[dict]:
    """A profile along a line (``bond_line``) as a table: one row per point, with PROFILE_POSITION
    (``x``, Angstrom from the line's first atom), each series of ``values`` ({name: one value per
    point}) under its name, and for ``difference`` = (a, b) the column "a − b" (a's value minus b's).
    Values keep their unit: electrons/bohr^3 for densities (``density_on_points``), Hartree/bohr^3
    for XC energy densities (``line_energy_densities``)."""
    columns = {name: np.asarray(series, dtype=float) for name, series in values.items()}
    if difference is not None:
        a, b = difference
        columns[f"{a} − {b}"] = columns[a] - columns[b]
    return [
        {PROFILE_POSITION: float(position), **{name: float(series[k]) for name, series in columns.items()}}
        for k, position in enumerate(np.asarray(x, dtype=float))
    ]


# ---------------------------------------------------------------------------------------------
# Summaries of one SCF result: the numbers the command line's density and xc-map report.


def density_summary(
    mol, dm, functional, points: int = CUBE_POINTS, margin: float = CUBE_MARGIN_BOHR, with_text: bool = True
) -> tuple[dict, str | None]:
    """(summary, cube file text) of density ``dm`` (of ``functional``, named in the file) on a cube
    grid of ``points`` per axis and ``margin`` bohr: "cube_points" [nx, ny, nz], "cube_spacing_bohr"
    (per axis), "cube_integral" and "cube_spin_integral" (Riemann sums of the total and alpha - beta
    densities, electrons); the text (None without ``with_text``) is the total density's Gaussian cube
    file (electrons/bohr^3)."""
    cube, rho_a, rho_b = density_cube(mol, dm, points, margin)
    shape = np.array([cube.nx, cube.ny, cube.nz])
    summary = {
        "cube_points": shape.tolist(),
        "cube_spacing_bohr": [float(x) for x in np.diag(cube.box) / (shape - 1)],
        "cube_integral": cube_integral(cube, rho_a + rho_b),
        "cube_spin_integral": cube_integral(cube, rho_a - rho_b),
    }
    if not with_text:
        return summary, None
    comment = f"{resolve(functional).name} total electron density (electrons/bohr^3)"
    return summary, cube_text(cube, rho_a + rho_b, comment)


def xc_map_summary(
    molecule,
    result,
    functional,
    compare=None,
    plane: Plane | None = None,
    grid=None,
    cube_points: int | None = None,
    margin: float = CUBE_MARGIN_BOHR,
) -> tuple[dict, dict | None]:
    """(summary, cube) of the XC energy density of ``functional`` on the density of ``result`` (its
    SCF on ``molecule``), and of the functional ``compare`` (None: none) on the same density.

    summary: "n_grid_points" of the molecular grid of ``grid`` (a GridSpec; None: the DM21 grid),
    "e_xc_integral" (the energy density summed with its weights) beside "e_xc_reported" (the SCF's
    E_xc); "compare", None or {"functional", "e_xc_integral", "e_xc_pyscf" (PySCF's own E_xc on the
    same density and grid, analytic exact exchange for hybrids)}; "plane" on ``plane`` (None: the
    molecular plane): its "label", "origin_angstrom", axes "u" and "v", "points" per axis, in-plane
    "s_range_angstrom" and "t_range_angstrom", and per functional "e_xc_min" and "e_xc_max". All in
    Hartree or Hartree/bohr^3. cube: None, or with ``cube_points`` the energy density of
    ``functional`` on a cube grid of ``margin`` bohr: {"text" (its Gaussian cube file), "integral"}."""
    from explorer.engine.grids import GridSpec, build_grids
    from explorer.engine.scf import evaluate_xc

    functional = resolve(functional).name
    compare = resolve(compare).name if compare else None
    names = [functional] + ([compare] if compare else [])
    mol = molecule.to_pyscf()
    plane = plane or molecular_plane(mol)
    grids = build_grids(mol, grid or GridSpec())
    integrals = {f: integrate_on_grid(energy_density_on_grid(mol, f, result.dm, grids), grids) for f in names}
    summary = {
        "n_grid_points": int(grids.weights.size),
        "e_xc_integral": integrals[functional],
        "e_xc_reported": result.e_xc,
        "compare": None,
    }
    if compare:
        summary["compare"] = {
            "functional": compare,
            "e_xc_integral": integrals[compare],
            "e_xc_pyscf": evaluate_xc(molecule, compare, result.dm, grids)[0],
        }
    values = point_values(mol, result.dm, plane.points(), names)
    summary["plane"] = {
        "label": plane.label,
        "origin_angstrom": (plane.origin * BOHR_ANGSTROM).tolist(),
        "u": plane.u.tolist(),
        "v": plane.v.tolist(),
        "points": [len(plane.s), len(plane.t)],
        "s_range_angstrom": [float(plane.s_angstrom[0]), float(plane.s_angstrom[-1])],
        "t_range_angstrom": [float(plane.t_angstrom[0]), float(plane.t_angstrom[-1])],
        "e_xc_min": {f: float(values.exc[f].min()) for f in names},
        "e_xc_max": {f: float(values.exc[f].max()) for f in names},
    }
    if cube_points is None:
        return summary, None
    cube = make_cube(mol, cube_points, margin)
    e_cube = point_values(mol, result.dm, cube.get_coords(), [functional]).exc[functional]
    comment = f"{functional} XC energy density (Hartree/bohr^3)"
    return summary, {"text": cube_text(cube, e_cube, comment), "integral": cube_integral(cube, e_cube)}


# ---------------------------------------------------------------------------------------------
# The app's views as tasks: functions of plain arguments (an explorer.chem.molecules.Molecule, density
# matrices, names) that explorer.runs.tasks.fan_out can run on a worker. ``store`` and ``progress`` are
# the keywords it passes: nothing here goes into the results store, and ``progress`` hears the stage.

#: Atoms within this distance (Angstrom) of a plane are marked on its maps.
NEAR_PLANE_ANGSTROM = 0.6


def _tell(progress, stage: str) -> None:
    if progress is not None:
        progress({"stage": stage})


def density_cubes(
    molecule, dm, dm_other, name: str, other: str, points: int = CUBE_POINTS, *, store=None, progress=None
) -> dict:
    """Gaussian cube files (text, bohr) on one cube grid of ``points`` per axis: "total" and "spin"
    (alpha - beta) density of ``dm``, and "difference", its total density minus that of
    ``dm_other`` (electrons/bohr^3; ``name`` and ``other`` label the files). Also "integral", the
    Riemann sum of the total density (electrons); "max_spin" and "max_difference", the largest
    |value| on the cube, and "iso_spin" and "iso_difference", the enclosing_isovalue of the field
    (None for a field that is zero everywhere), all electrons/bohr^3; "points"; and "spacing", the
    largest cell edge (bohr)."""
    _tell(progress, "densities on a cube grid")
    mol = molecule.to_pyscf()
    cube, rho_a, rho_b = density_cube(mol, dm, points)
    other_a, other_b = density_on_points(mol, dm_other, cube.get_coords())
    total, spin = rho_a + rho_b, rho_a - rho_b
    difference = total - (other_a + other_b)
    return {
        "total": cube_text(cube, total, f"{name} electron density (electrons/bohr^3)"),
        "spin": cube_text(cube, spin, f"{name} spin density alpha-beta (electrons/bohr^3)"),
        "difference": cube_text(cube, difference, f"{name} minus {other} density (electrons/bohr^3)"),
        "integral": cube_integral(cube, total),
        "max_spin": float(np.abs(spin).max()),
        "max_difference": float(np.abs(difference).max()),
        "iso_spin": enclosing_isovalue(spin) if np.any(spin) else None,
        "iso_difference": enclosing_isovalue(difference) if np.any(difference) else None,
        "points": int(points),
        "spacing": float(np.max(np.diag(cube.box)) / (int(points) - 1)),
    }


def plane_maps(
    molecule, dm, functionals, atoms=None, points: int = PLANE_POINTS, *, store=None, progress=None
) -> dict:
    """Maps on the molecular plane (``atoms`` None) or the plane through three atoms (0-based), all
    on the one density ``dm``: "exc" and "enhancement" ({functional: map}, Hartree/bohr^3 and
    dimensionless) of ``functionals``, and "hfx", the local HF exchange for omega = 0 and 0.4
    (Hartree/bohr^3); each map a (len(t), len(s)) array. Also "label"; "s" and "t", the in-plane
    axes (Angstrom); and "atoms", those within NEAR_PLANE_ANGSTROM of the plane as {"index"
    (0-based), "x", "y" (in-plane, Angstrom)}. InputError for bad plane atoms."""
    mol = molecule.to_pyscf()
    plane = plane_of(mol, atoms, points)
    _tell(progress, f"XC energy densities on the {plane.label}")
    values = point_values(mol, dm, plane.points(), functionals)
    s, t, height = (x * BOHR_ANGSTROM for x in plane.project(mol.atom_coords()))
    return {
        "label": plane.label,
        "s": plane.s_angstrom,
        "t": plane.t_angstrom,
        "atoms": [
            {"index": i, "x": float(s[i]), "y": float(t[i])}
            for i in range(len(s))
            if abs(height[i]) < NEAR_PLANE_ANGSTROM
        ],
        "exc": {f: plane.grid(values.exc[f]) for f in functionals},
        "enhancement": {f: plane.grid(values.enhancement(f)) for f in functionals},
        "hfx": [plane.grid(values.hfx[:, k]) for k in range(2)],
    }


def line_energy_densities(molecule, dm, functionals, i: int, j: int, *, store=None, progress=None) -> dict:
    """XC energy densities (Hartree/bohr^3) of ``functionals`` on density ``dm`` along the line
    through atoms i and j (0-based; ``bond_line``): {"x": positions (Angstrom from atom i),
    "exc": {functional: values}, "nearest": each point's distance to the nearest nucleus (Angstrom)}."""
    _tell(progress, "XC energy densities along a line")
    mol = molecule.to_pyscf()
    pts, x = bond_line(mol, i, j)
    exc = point_values(mol, dm, pts, functionals).exc
    return {"x": x, "exc": exc, "nearest": nearest_atom_distance(mol, pts)}


def grid_integrals(molecule, dm, functionals, grid=None, *, store=None, progress=None) -> dict:
    """For each of ``functionals``, on density ``dm`` and the molecular grid of ``grid`` (a
    GridSpec; None: the DM21 reference grid): {"integral": its XC energy density summed with the
    grid weights, "pyscf": PySCF's own E_xc of a classical functional on the same density and grid
    (analytic exact exchange), None for DM21}, all in Hartree."""
    from explorer.engine.grids import GridSpec, build_grids
    from explorer.engine.scf import evaluate_xc

    _tell(progress, "integrating the XC energy densities over the molecular grid")
    mol = molecule.to_pyscf()
    grids = build_grids(mol, grid or GridSpec())
    return {
        f: {
            "integral": integrate_on_grid(energy_density_on_grid(mol, f, dm, grids), grids),
            "pyscf": None if is_dm21(f) else float(evaluate_xc(molecule, f, dm, grids)[0]),
        }
        for f in functionals
    }


def xc_cubes(
    molecule, dm, functionals, density: str, points: int = CUBE_POINTS, *, store=None, progress=None
) -> dict:
    """Cube files (text, bohr) of the XC energy density (Hartree/bohr^3) of each of ``functionals``
    on density ``dm`` (``density`` names it in the files): {functional: text}."""
    _tell(progress, "XC energy densities on a cube grid")
    mol = molecule.to_pyscf()
    cube = make_cube(mol, points)
    values = point_values(mol, dm, cube.get_coords(), functionals)
    comment = "{} XC energy density on {}'s density (Hartree/bohr^3)"
    return {f: cube_text(cube, values.exc[f], comment.format(f, density)) for f in functionals}
