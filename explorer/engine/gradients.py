"""Analytic nuclear gradients dE/dR (Hartree/bohr) for DM21 and the classical functionals.

The grid. DM21's reference grid is pruned by the density of the initial guess, so the set of points
jumps when atoms move and the energy on it is only piecewise smooth. A gradient is taken of the
smooth continuation of the energy at the geometry it is asked for: the points kept there stay,
each moves rigidly with the atom it belongs to, and the Becke partition weights follow the atoms
(``GridFrame``). At the geometry itself that grid is the reference grid (the same points and
weights), so energies stay those of every other calculation; finite differences are taken on the
moved frame (``GridFrame.grid_at``) and are then the derivative of the same smooth function.

Classical functionals use PySCF's own gradients (with the grid response) on the same grid spec.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses

import numpy as np
from pyscf import dft
from pyscf.dft import gen_grid
from pyscf.grad import rks as rks_grad
from pyscf.grad import uks as uks_grad
from pyscf.lib import param
from scipy.spatial import cKDTree

from explorer import functionals
from explorer.chem.molecules import Molecule
from explorer.engine import features, interrupt, network
from explorer.engine.grids import GridSpec, _element_independent_treutler_radii, build_grids, grid_from_arrays
from explorer.engine.scf import Result, solve_scf
from explorer.errors import ConvergenceError, InputError
from explorer.functionals import Functional

#: SCF convergence for a gradient: energy change 1e-10 Ha and orbital gradient 1e-5 (PySCF's rule,
#: square root). An orbital gradient g leaves an error of order g in the nuclear gradient.
GRADIENT_CONV_TOL = 1e-10


def scf_gradient(
    molecule: Molecule,
    functional: Functional | str = "DM21",
    *,
    kind: str | None = None,
    grid: GridSpec | None = None,
    grid_reference: Molecule | None = None,
    dm0: np.ndarray | None = None,
    conv_tol: float = GRADIENT_CONV_TOL,
    callback=None,
) -> tuple[Result, np.ndarray]:
    """SCF at ``molecule``'s geometry and its nuclear gradient, (n_atoms, 3) in Hartree/bohr, atoms
    in the molecule's order.

    ``grid_reference``: a molecule with the same atoms at another geometry (the centre of a
    finite-difference stencil) whose reference grid, moved with the atoms, is used instead of
    the reference grid at this geometry (default: this geometry's own).
    """
    functional = functionals.resolve(functional)
    grid = grid or GridSpec()
    if (kind or "").upper() == "ROKS":
        raise InputError("gradients need RKS or UKS, not ROKS")
    frame = GridFrame.build(grid_reference or molecule, grid)
    grids = frame.grid_at(molecule.to_pyscf())
    result, mf = solve_scf(
        molecule, functional, kind=kind, grid=grid, grids=grids, dm0=dm0, conv_tol=conv_tol, callback=callback
    )
    if not result.converged:
        raise ConvergenceError(f"the {functional.name} SCF did not converge: no gradient")
    if functional.is_dm21:
        gradient = _dm21_gradient(mf, frame)
    else:
        gradient = _classical_gradient(mf, grid)
    return result, gradient


def _classical_gradient(mf, grid: GridSpec) -> np.ndarray:
    """PySCF's analytic gradient of a converged classical-functional SCF, grid response included
    (the atom grids of ``grid``'s spec, unpruned: pruning moves classical energies by ~1e-9 Ha)."""
    grad = mf.nuc_grad_method()
    grad.verbose = 0
    grad.grid_response = True
    with _grid_spec_context(grid):
        return np.asarray(grad.kernel())


def _grid_spec_context(grid: GridSpec):
    """The PySCF settings under which ``grid``'s atom grids are generated."""
    return _element_independent_treutler_radii() if grid.spec == "dm21" else contextlib.nullcontext()


class GridFrame:
    """A grid's points tied to the atoms: point g belongs to atom ``owner[g]`` and is the
    ``local[g]``-th point of that atom's quadrature (PySCF's atom grid for its element, offsets in
    bohr), so it can be carried to another geometry of the same atoms (grid_at) and its Becke
    partition weights differentiated (weight_derivatives)."""

    def __init__(self, mol, grids, spec: GridSpec):
        self.spec = spec
        self._template = _AtomGridTemplate(mol, spec)
        atom_coords = mol.atom_coords()
        self._orientation = _Orientation(atom_coords)
        owner = np.asarray(grids.atm_idx)
        used = (owner >= 0) & (np.asarray(grids.weights) != 0)  # PySCF's padding points are dropped
        self.owner = owner[used]
        coords = np.asarray(grids.coords)[used]
        self.local = np.empty(self.owner.size, dtype=int)
        for atom in range(mol.natm):
            here = self.owner == atom
            offsets = coords[here] - atom_coords[atom]
            table = self._template.offsets(mol, atom)
            distance, index = cKDTree(table).query(offsets)
            if here.any() and distance.max() > 1e-8:
                raise RuntimeError("a grid point does not belong to its atom's quadrature")
            self.local[here] = index

    @classmethod
    def build(cls, molecule: Molecule, grid: GridSpec | None = None) -> GridFrame:
        """The frame of ``grid``'s reference grid at ``molecule``'s geometry."""
        grid = grid or GridSpec()
        mol = molecule.to_pyscf()
        return cls(mol, build_grids(mol, grid), grid)

    def grid_at(self, mol):
        """The frame's points carried to ``mol``'s geometry (same atoms): a PySCF grid whose points
        sit at the same offsets from their atoms, with the Becke weights of that geometry."""
        coords, weights = self._points(mol)
        return grid_from_arrays(mol, coords, weights)

    def _points(self, mol, rotation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates (N, 3, bohr) and weights (N,, bohr^3) of the frame's points at ``mol``, each
        atom's quadrature turned by ``rotation`` (default: the frame's orientation at ``mol``)."""
        if rotation is None:
            rotation = self.orientation(mol)
        all_coords, all_weights = self._template.partition(mol, rotation)
        index = self._template.starts[self.owner] + self.local
        return all_coords[index], all_weights[index]

    def orientation(self, mol) -> np.ndarray:
        """Q (3, 3): the rotation that carries the reference geometry's orientation to ``mol``'s; each
        atom's quadrature is turned by it, so the energy does not change when the molecule turns."""
        return self._orientation.rotation(mol.atom_coords())

    def orientation_jacobian(self, mol) -> np.ndarray:
        """d theta_k / d R_B (3, n_atoms, 3), theta the small-angle vector of a change of Q (1/bohr)."""
        return self._orientation.jacobian(mol.atom_coords())

    def weight_derivatives(self, mol) -> np.ndarray:
        """d w_g / d R_B for every point g and atom B, (n_atoms, 3, N) in bohr^2, with each point
        moving with its atom at a fixed orientation (PySCF's analytic Becke-weight response,
        computed in the frame turned back by Q and turned forward again)."""
        rotation = self.orientation(mol)
        turned = mol.set_geom_(mol.atom_coords() @ rotation, unit="Bohr", inplace=False)
        out = np.empty((mol.natm, 3, self.owner.size))
        for atom, w1 in enumerate(self._template.weight_response(turned)):
            here = np.flatnonzero(self.owner == atom)
            out[:, :, here] = w1[:, :, self.local[here]]
        return np.einsum("kx,axg->akg", rotation, out)

    def weight_torques(self, mol, angle: float = 1e-4) -> np.ndarray:
        """d w_g / d theta_k (3, N): each point's Becke weight when every atom's quadrature turns
        about its atom by a small angle about axis k (central differences in ``angle``, radians;
        the weights are smooth polynomials of distances, so the error is ~angle^2)."""
        rotation = self.orientation(mol)
        out = np.empty((3, self.owner.size))
        for k in range(3):
            turned = [_axis_rotation(k, sign * angle) @ rotation for sign in (1, -1)]
            plus, minus = (self._points(mol, q)[1] for q in turned)
            out[k] = (plus - minus) / (2 * angle)
        return out


class _AtomGridTemplate:
    """PySCF's atom grids of a spec: per-element offsets and quadrature weights, the Becke partition
    at any geometry, and its derivatives."""

    def __init__(self, mol, spec: GridSpec):
        self.grids = dft.Grids(mol)
        self.grids.level = spec.level
        self.spec = spec
        with _grid_spec_context(spec):
            self.table = self.grids.gen_atomic_grids(mol, level=spec.level)
        sizes = [self.table[mol.atom_symbol(a)][1].size for a in range(mol.natm)]
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)

    def offsets(self, mol, atom: int) -> np.ndarray:
        return self.table[mol.atom_symbol(atom)][0]

    def partition(self, mol, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All atom-grid points at ``mol``'s geometry, each atom's quadrature turned by ``rotation``,
        with their Becke weights, atom by atom."""
        table = {symbol: (offsets @ rotation.T, weights) for symbol, (offsets, weights) in self.table.items()}
        return gen_grid.get_partition(
            mol, table, self.grids.radii_adjust, self.grids.atomic_radii, self.grids.becke_scheme
        )

    def weight_response(self, mol):
        """Per atom, d w / d R (n_atoms, 3, n_atom_points) of its atom grid at ``mol``'s geometry."""
        grids = copy.copy(self.grids)
        grids.mol = mol
        with _grid_spec_context(self.spec):
            for _, _, w1 in rks_grad.grids_response_cc(grids):
                yield w1


def _axis_rotation(axis: int, angle: float) -> np.ndarray:
    """The rotation by ``angle`` (radians) about coordinate axis ``axis``."""
    return _rodrigues(np.eye(3)[axis] * angle)


def _rodrigues(theta: np.ndarray) -> np.ndarray:
    """The rotation matrix of the rotation vector ``theta`` (axis times angle in radians)."""
    angle = np.linalg.norm(theta)
    if angle < 1e-300:
        return np.eye(3)
    k = _skew(theta / angle)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _skew(v: np.ndarray) -> np.ndarray:
    """[v]x, the matrix of the cross product v x ."""
    return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])


class _Orientation:
    """The orientation of a geometry relative to a reference one, exact for rigid motions.

    Non-linear molecules: the orthonormal frame of two bond vectors from one atom (the farthest atom
    and the one most out of line with it, chosen at the reference), Q = G(R) G(R0)^T. Linear ones:
    the smallest rotation that turns the reference axis into the current one (a turn about the axis
    itself moves no atom). One atom: no rotation.
    """

    def __init__(self, reference: np.ndarray):
        self.reference = np.array(reference, dtype=float)
        self.atoms = None
        self.linear = True
        if len(self.reference) < 2:
            return
        d = self.reference - self.reference[0]
        j = int(np.argmax(np.linalg.norm(d, axis=1)))
        out_of_line = np.linalg.norm(np.cross(d[j], d), axis=1)
        k = int(np.argmax(out_of_line))
        self.linear = out_of_line[k] < 1e-3 * np.dot(d[j], d[j])
        self.atoms = (0, j, k)
        self._frame0 = self._frame(self.reference)

    def _frame(self, coords: np.ndarray) -> np.ndarray:
        i, j, k = self.atoms
        u = coords[j] - coords[i]
        u = u / np.linalg.norm(u)
        if self.linear:
            return u
        b = coords[k] - coords[i]
        b = b - np.dot(b, u) * u
        v = b / np.linalg.norm(b)
        return np.column_stack([u, v, np.cross(u, v)])

    def rotation(self, coords: np.ndarray) -> np.ndarray:
        if self.atoms is None:
            return np.eye(3)
        frame = self._frame(coords)
        if not self.linear:
            return frame @ self._frame0.T
        axis = np.cross(self._frame0, frame)
        return _rodrigues(
            axis / max(np.linalg.norm(axis), 1e-300) * np.arctan2(np.linalg.norm(axis), self._frame0 @ frame)
        )

    def jacobian(self, coords: np.ndarray, step: float = 1e-6) -> np.ndarray:
        """d theta / d R (3, n_atoms, 3) by central differences of Q (a cheap, smooth function of
        the coordinates: errors ~step^2): d theta is the axial vector of dQ Q^T."""
        out = np.zeros((3, *coords.shape))
        if self.atoms is None:
            return out
        q = self.rotation(coords)
        for atom in set(self.atoms):
            for x in range(3):
                moved = [coords.copy(), coords.copy()]
                moved[0][atom, x] += step
                moved[1][atom, x] -= step
                dq = (self.rotation(moved[0]) - self.rotation(moved[1])) / (2 * step)
                omega = dq @ q.T
                out[:, atom, x] = omega[2, 1], omega[0, 2], omega[1, 0]
        return out


def _dm21_gradient(mf, frame: GridFrame) -> np.ndarray:
    """Nuclear gradient (n_atoms, 3, Hartree/bohr) of a converged DM21 SCF ``mf``: PySCF's terms for
    the core Hamiltonian, Coulomb and orbital overlap (energy-weighted density matrix), and the XC
    term of xc_gradient on the frame of ``mf``'s grid, grid response included."""
    restricted = mf.make_rdm1().ndim == 2
    dm = mf.make_rdm1()
    dm_a, dm_b = (dm / 2, dm / 2) if restricted else dm
    xc = xc_gradient(mf._numint, mf.mol, frame, dm_a, dm_b, restricted)
    grad = (_RestrictedGradients if restricted else _UnrestrictedGradients)(mf)
    grad.xc_force = xc
    grad.verbose = 0
    return np.asarray(grad.kernel())


class _RestrictedGradients(rks_grad.Gradients):
    """PySCF's RKS gradient with Coulomb only in the potential derivative and DM21's XC force
    (``xc_force``, (n_atoms, 3)) added per atom."""

    xc_force = None

    def get_veff(self, mol=None, dm=None):
        return self.get_j(mol or self.mol, self.base.make_rdm1() if dm is None else dm)

    def extra_force(self, atom_id, envs):
        return self.xc_force[atom_id]


class _UnrestrictedGradients(uks_grad.Gradients):
    """The UKS counterpart of _RestrictedGradients."""

    xc_force = None

    def get_veff(self, mol=None, dm=None):
        vj = self.get_j(mol or self.mol, self.base.make_rdm1() if dm is None else dm)
        total = vj[0] + vj[1]
        return np.array([total, total])

    def extra_force(self, atom_id, envs):
        return self.xc_force[atom_id]


#: Bytes of derivative integrals (3 x points x nao^2, float64) computed at a time.
DERIVATIVE_INTEGRAL_BYTES = 200e6


def xc_gradient(ni, mol, frame: GridFrame, dm_a, dm_b, restricted: bool, grid_response: bool = True):
    """dE_xc/dR (n_atoms, 3, Hartree/bohr) of DM21 at fixed spin density matrices on ``frame``'s
    points at ``mol``'s geometry.

    E_xc = sum_g w_g e(r_g) with e the network's energy density of the features at r_g. Moving atom
    A moves its basis functions (in the densities, in E = D chi and in the integrals nu_bd(r) of
    the local exchange), its grid points, and changes the partition weights of all points. With
    q_A(g) = d e(r_g)/d R_A at fixed points (basis functions only), translation invariance gives
    grad_r e(r_g) = -sum_A q_A(g), so

        dE/dR_B = sum_g w_g q_B(g) - sum_{g of B} w_g sum_A q_A(g) + sum_g (dw_g/dR_B) e(r_g)
                  + T . d theta / d R_B,

    the last three terms being the grid response (``grid_response``): the points move with their
    atoms, and every atom's quadrature turns with the molecule's orientation theta (GridFrame), which
    costs T = dE/dtheta = sum_g w_g (r_g - R_atom) x grad_r e(r_g) + sum_g (dw_g/dtheta) e(r_g).
    With it the energy does not change when the molecule turns or moves, so forces and torques sum
    to zero and a Hessian has six (linear: five) zero modes.
    """
    coords, weights = frame._points(mol)
    nao = mol.nao_nr()
    atom_of_ao = np.repeat(np.arange(mol.natm), [e - s for _, _, s, e in mol.aoslice_by_atom()])
    force = np.zeros((mol.natm, 3))
    torque = np.zeros(3)  # dE/dtheta: every atom's quadrature turned about its atom
    exc_all = np.empty(weights.size)
    chunk = max(64, int(DERIVATIVE_INTEGRAL_BYTES // (8 * 3 * nao * nao)))
    for start in range(0, weights.size, chunk):
        interrupt.check_now()
        points = slice(start, start + chunk)
        exc, q = _point_derivatives(ni, mol, coords[points], dm_a, dm_b, restricted)
        exc_all[points] = exc
        wq = q * weights[points]  # (3, nao, N): w_g dq/d(centre of AO a)
        per_atom = np.zeros((mol.natm, 3, wq.shape[2]))
        np.add.at(per_atom, atom_of_ao, wq.transpose(1, 0, 2))
        force += per_atom.sum(axis=2)
        if grid_response:
            grad_e = -per_atom.sum(axis=0)  # w_g grad_r e(r_g), (3, N)
            np.add.at(force, frame.owner[points], grad_e.T)
            offsets = coords[points] - mol.atom_coords()[frame.owner[points]]
            torque += np.cross(offsets, grad_e.T).sum(axis=0)
    if grid_response:
        force += np.einsum("axg,g->ax", frame.weight_derivatives(mol), exc_all)
        torque += frame.weight_torques(mol) @ exc_all
        force += np.einsum("k,kax->ax", torque, frame.orientation_jacobian(mol))
    return force


def _point_derivatives(ni, mol, coords, dm_a, dm_b, restricted: bool):
    """At each point of ``coords`` (N, 3, bohr): the network's energy density e (N,) and
    q (3, nao, N), d e / d(centre of basis function a) at the fixed point, Hartree/bohr^4."""
    ao = dft.numint.eval_ao(mol, coords, deriv=2).transpose(0, 2, 1)  # (10, nao, N)
    chi, grad_chi, hess = ao[0], ao[1:4], ao[4:10]
    # hess rows: xx, xy, xz, yy, yz, zz; second[x][j] = d2 chi / dx dj
    second = hess[[[0, 1, 2], [1, 3, 4], [2, 4, 5]]]  # (3, 3, nao, N)
    spins = [dm_a] if restricted else [dm_a, dm_b]
    nus = [features.exchange_integrals(mol, coords, omega) for omega in network.HFX_OMEGAS]
    terms = []
    for dm in spins:
        e = dm @ chi  # E = D chi (nao, N)
        e_grad = np.matmul(dm, grad_chi)  # D grad chi (3, nao, N)
        rho = np.empty((5, chi.shape[1]))
        rho[0] = np.einsum("ag,ag->g", chi, e)
        rho[1:4] = 2 * np.einsum("xag,ag->xg", grad_chi, e)
        rho[4] = 0.5 * np.einsum("xag,xag->g", grad_chi, e_grad)
        f = np.stack([np.einsum("gbd,dg->bg", nu, e) for nu in nus])  # F_b (n_omega, nao, N)
        exx = -0.5 * np.einsum("bg,obg->go", e, f)
        terms.append((e, e_grad, rho, f, exx))
    both = terms * 2 if restricted else terms
    feats = features.network_features(both[0][2], both[1][2], both[0][4], both[1][4])
    out = ni.network.evaluate(feats, exact=ni.exact)
    exc = out.exc
    grads = out.grads
    grad_total = both[0][2][1:4] + both[1][2][1:4]

    derivs = []
    for s, tag in enumerate("ab"):
        g = 2 * grads[f"norm_grad_rho_{tag}"] * both[s][2][1:4] + 2 * grads["norm_grad_rho"] * grad_total
        derivs.append((grads[f"rho_{tag}"], g, grads[f"tau_{tag}"], grads[f"hfx{tag}"]))
    if restricted:
        # Both spins have the same density: d e / dR = sum over spins of the same feature change.
        derivs = [tuple(x + y for x, y in zip(*derivs, strict=True))]

    q = np.zeros((3,) + chi.shape)
    ip = [_derivative_integrals(mol, coords, omega) for omega in network.HFX_OMEGAS]
    for dm, (e, e_grad, _, f, _), (v_rho, g, v_tau, v_hfx) in zip(spins, terms, derivs, strict=True):
        # Semi-local: moving chi_a by R changes chi_a by -grad chi_a.
        q -= 2 * v_rho * grad_chi * e
        q -= 2 * np.einsum("jg,xjag->xag", g, second) * e
        q -= 2 * grad_chi * np.einsum("jg,jag->ag", g, e_grad)
        q -= v_tau * np.einsum("xjag,jag->xag", second, e_grad)
        # Local exchange: through chi in E (gives grad chi_a (D F)_a) and through nu_bd.
        for k, nu_ip in enumerate(ip):
            df = dm @ f[k]
            nu_e = np.einsum("xgbd,dg->xbg", nu_ip, e)
            q += v_hfx[:, k] * (grad_chi * df + e * nu_e)
    return exc, q


def _derivative_integrals(mol, coords, omega: float) -> np.ndarray:
    """(3, N, nao, nao): integral of d chi_b / dx_k (r') v(r, r') chi_d(r') dr' at each point r of
    ``coords`` (bohr), v the kernel of ``omega`` as in features.exchange_integrals, 1/bohr^2."""
    with mol.with_range_coulomb(omega):
        return mol.intor("int1e_grids_ip", grids=coords)


#: Central-difference step for checking gradients (bohr): DM21's float32 energy noise (~1e-8 Ha per
#: electron) over 2h stays near 1e-5 Ha/bohr for 10 electrons, and the h^2/6 E''' truncation
#: error below ~1e-5 Ha/bohr for bond stretches.
CHECK_STEP = 0.005


def finite_difference_gradient(
    molecule: Molecule,
    functional: Functional | str,
    coordinates: list[tuple[int, int]],
    *,
    grid: GridSpec | None = None,
    step: float = CHECK_STEP,
    conv_tol: float = 1e-11,
) -> list[float]:
    """Central differences (E(+h) - E(-h)) / 2h of the SCF energy, Hartree/bohr, for each
    (atom, axis) of ``coordinates``, on the reference grid of ``molecule`` moved with the atoms
    (GridFrame): the derivative scf_gradient computes."""
    grid = grid or GridSpec()
    frame = GridFrame.build(molecule, grid)
    out = []
    for atom, axis in coordinates:
        energies = []
        for sign in (1, -1):
            moved = displaced(molecule, atom, axis, sign * step)
            grids = frame.grid_at(moved.to_pyscf())
            result, _ = solve_scf(moved, functional, grid=grid, grids=grids, conv_tol=conv_tol)
            if not result.converged:
                raise ConvergenceError(
                    f"the displaced SCF ({atom}, {axis}, {sign * step:+g}) did not converge"
                )
            energies.append(result.energy)
        out.append((energies[0] - energies[1]) / (2 * step))
    return out


def displaced(molecule: Molecule, atom: int, axis: int, bohr: float) -> Molecule:
    """``molecule`` with atom ``atom`` moved by ``bohr`` along axis ``axis`` (0, 1, 2 = x, y, z)."""
    atoms = [[symbol, list(xyz)] for symbol, xyz in molecule.atoms]
    atoms[atom][1][axis] += bohr * param.BOHR
    return dataclasses.replace(molecule, atoms=tuple((s, tuple(xyz)) for s, xyz in atoms))
