"""The SCF driver: one call for DM21 and classical functionals on identical settings.

``run_scf`` builds the molecule and the grid, warm-starts DM21 from a classical functional (B3LYP
by default) on the same grid, converges with DIIS and, only if that fails, a ladder of stronger
measures, and returns a plain ``Result``. Energies in Hartree, dipoles in Debye, times in seconds.

Note: since PySCF 2.3, "B3LYP" is the VWN-RPA flavour (VWN3, as in Gaussian), not VWN5.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from pyscf import dft

from explorer import functionals, settings
from explorer.chem.molecules import Molecule
from explorer.engine import network
from explorer.engine.grids import GridSpec, build_grids
from explorer.engine.numint import WORKING_MEMORY_MB, DM21NumInt
from explorer.errors import ConvergenceError, InputError
from explorer.functionals import Functional

#: Settings tried in turn until the SCF converges: the first is plain DIIS, and costs nothing on
#: easy cases; each later step continues from where the previous one stopped.
CONVERGENCE_LADDER = (
    {"label": "DIIS", "level_shift": 0.0, "damp": 0.0, "max_cycle": 60},
    {"label": "DIIS + level shift 0.25", "level_shift": 0.25, "damp": 0.0, "max_cycle": 80},
    {"label": "level shift 0.5 + damping 0.5", "level_shift": 0.5, "damp": 0.5, "max_cycle": 150},
)


@dataclass
class Result:
    """Plain-data result of one SCF calculation (Hartree, Debye, seconds)."""

    functional: str
    basis: str
    charge: int
    spin: int
    kind: str
    grid: dict
    energy: float
    e1: float
    coulomb: float
    e_xc: float
    nuclear: float
    converged: bool
    cycles: int
    convergence_steps: list[str]
    mo_energy: list
    mo_occ: list
    homo: float | None
    lumo: float | None
    s2: float
    dipole: list[float]
    n_grid_points: int
    n_basis: int
    scf_seconds: float
    warm_start: str | None
    #: Seconds this call spent loading the DM21 network (0.0 if it was loaded already, and for
    #: classical functionals); not part of scf_seconds. Results stored before it existed read 0.0.
    load_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    dm: np.ndarray | None = field(default=None, repr=False)

    @property
    def gap(self) -> float | None:
        """LUMO - HOMO in Hartree, or None where either does not exist."""
        return None if self.homo is None or self.lumo is None else self.lumo - self.homo

    def to_dict(self) -> dict:
        """JSON-ready dictionary (the density matrix left out)."""
        d = asdict(self)
        d.pop("dm")
        d["gap"] = self.gap
        return d

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        """The Result of a to_dict() dictionary (with "dm" if it has one; derived keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


_KS_CLASSES = {"RKS": dft.RKS, "UKS": dft.UKS, "ROKS": dft.ROKS}


def make_ks(mol, functional: Functional | str, kind: str, grids, exact: bool = False):
    """The PySCF Kohn-Sham object (``kind``: RKS, UKS or ROKS) that runs ``functional`` (DM21
    family or classical) on the built grid ``grids``; ``exact`` selects DM21's reference evaluation
    (see DM21NumInt)."""
    functional = functionals.resolve(functional)
    if kind not in _KS_CLASSES:
        raise InputError(f"unknown SCF kind {kind!r}: use RKS, UKS or ROKS")
    mf = _KS_CLASSES[kind](mol)
    # PySCF keeps the two-electron integrals in memory only if they fit what it is told it has: the
    # engine's budget, the same for every functional (for DM21 the kept exchange integrals count
    # against it too, see solve_scf).
    mf.max_memory = settings.memory_budget_mb()
    if functional.is_dm21:
        mf._numint = DM21NumInt(functional.name, exact=exact)
    else:
        mf.xc = functional.name
    mf.grids = grids
    return mf


#: Reference-grid points per atom (level 3, pruned): water 10.0k, benzene 10.1k, aspirin 10.4k.
POINTS_PER_ATOM = 10_000
#: DM21 evaluations per SCF in the cost model: its cycles (4 to 8 in the bench) and the start's.
DM21_PASSES = 7
#: Cost model constants, fitted (least squares of the logarithms) to `python -m explorer bench water
#: aspirin --alkanes 4` and benzene on the quiet 2-core machine, session 19 (README "Performance"):
#: classical seconds = per_atom * atoms * (1 + (basis / basis_scale)^2); DM21 adds seconds per grid
#: point and evaluation (network, densities, potential) and per basis pair, grid point and omega
#: computed (exchange integrals). Model over measured, seven cases from water to C12H26: B3LYP 0.65-1.35,
#: DM21 0.61-1.39.
_CLASSICAL_PER_ATOM, _CLASSICAL_BASIS_SCALE = 0.0648, 48.9
_DM21_PER_POINT_PASS = 10.1e-6
_DM21_PER_PAIR_POINT = 8.05e-9


def estimated_seconds(n_atoms: int, n_basis: int, functional: Functional | str) -> float:
    """A rough wall-time estimate (seconds, 2 cores) of one SCF with ``functional`` on the reference
    grid. For DM21: the exchange integrals (grid points x basis pairs x 2 omegas) are computed once
    for the share that fits the memory budget and at every evaluation for the rest (numint), beside
    the network's cost per point and a B3LYP-like warm start."""
    classical = _CLASSICAL_PER_ATOM * n_atoms * (1 + (n_basis / _CLASSICAL_BASIS_SCALE) ** 2)
    if not functionals.is_dm21(functional):
        return classical
    points = POINTS_PER_ATOM * n_atoms
    integrals = points * n_basis * (n_basis + 1) / 2 * 2  # both omegas
    budget_mb = settings.memory_budget_mb() - WORKING_MEMORY_MB
    eri_mb = n_basis**4 / 1e6  # PySCF keeps these in memory when they fit (SCF._is_mem_enough)
    if eri_mb < 0.95 * settings.memory_budget_mb():
        budget_mb -= eri_mb
    kept = min(1.0, max(0.0, budget_mb) * 1e6 / (4 * integrals))  # float32, packed
    integral_passes = 1 + (1 - kept) * (DM21_PASSES - 1)
    return (
        classical
        + _DM21_PER_POINT_PASS * points * DM21_PASSES
        + _DM21_PER_PAIR_POINT * integrals * integral_passes
    )


def default_kind(spin: int) -> str:
    """RKS for closed shells, UKS otherwise."""
    return "RKS" if spin == 0 else "UKS"


def resolve_kind(molecule: Molecule, kind: str | None, occupations=None) -> str:
    """The SCF kind run_scf uses: as given, else implied by ``occupations`` (one list: RKS, a pair:
    UKS), else RKS for 2S = 0 and UKS otherwise. Raises InputError for impossible combinations."""
    if kind is None and occupations is not None:
        kind = "RKS" if np.ndim(occupations[0]) == 0 else "UKS"
    kind = (kind or default_kind(molecule.spin)).upper()
    if kind not in ("RKS", "UKS", "ROKS"):
        raise InputError(f"unknown SCF kind {kind!r}: use RKS, UKS or ROKS")
    if kind == "ROKS" and occupations is not None:
        raise InputError("fixed occupations need RKS or UKS, not ROKS")
    if kind == "RKS" and molecule.spin != 0 and occupations is None:
        raise InputError(f"restricted closed-shell (RKS) needs spin 2S=0, got {molecule.spin}")
    return kind


def run_scf(molecule: Molecule, functional: Functional | str = "DM21", **options) -> Result:
    """Runs a self-consistent calculation of ``molecule`` with ``functional`` and returns its Result;
    the options are those of solve_scf."""
    return solve_scf(molecule, functional, **options)[0]


def solve_scf(
    molecule: Molecule,
    functional: Functional | str = "DM21",
    *,
    kind: str | None = None,
    grid: GridSpec | None = None,
    grids=None,
    warm_start: str | None = "B3LYP",
    dm0: np.ndarray | None = None,
    conv_tol: float = 1e-9,
    occupations: tuple | None = None,
    callback: Callable[[dict], None] | None = None,
    exact: bool = False,
) -> tuple[Result, dft.rks.KohnShamDFT]:
    """Runs a self-consistent calculation of ``molecule`` with ``functional``; returns its Result and
    the converged PySCF object (orbitals, grid and molecule, for gradients).

    ``kind`` is RKS, UKS or ROKS (default: RKS for 2S = 0, else UKS). ``grid`` is the grid spec
    (default: the DM21 reference grid, level 3); ``grids`` a prebuilt PySCF grid to reuse (scans,
    comparisons). DM21 runs start from ``dm0`` if given, else from a converged ``warm_start``
    calculation on the same grid (None: from PySCF's minao guess). ``occupations`` fixes the
    occupation numbers, fractional ones allowed, of the orbitals in order of energy: a pair
    (alpha, beta) of sequences for UKS (the kind it implies), one sequence (0 to 2 each) for RKS;
    the electron count may then differ from the molecule's. ``callback`` receives a dict
    {"stage", "cycle", "energy", "delta_e", "gradient"} after every SCF iteration. ``exact`` runs
    DM21 the reference way (checkpoint graph, exchange integrals recomputed, PySCF's convergence
    test): slow, for measuring the fast path.
    """
    # PySCF's OpenMP loops and the engine's threads do the parallel work (single_threaded_blas).
    network.single_threaded_blas()
    functional = functionals.resolve(functional)
    kind = resolve_kind(molecule, kind, occupations)
    grid = grid or GridSpec()
    mol = molecule.to_pyscf()
    # Loading the network is a one-off per process, timed apart from the SCF.
    load_seconds = network.ensure_loaded(functional.name, exact=exact) if functional.is_dm21 else 0.0
    t_start = time.perf_counter()
    given_grids = grids
    if grids is None:
        grids = build_grids(mol, grid)
    history: list[dict] = []

    warm_label = None
    warm = None
    if functional.is_dm21 and dm0 is None and warm_start:
        warm_label = functionals.resolve(warm_start).name
        warm = make_ks(mol, warm_label, kind, grids)
        _fix_occupations(warm, kind, occupations)
        if not exact:
            # Only a starting density: converged far tighter than DM21 moves away from it (first
            # DM21 orbital gradient ~2e-3 on water), so it stops at gradient 3e-4, unconfirmed.
            warm.conv_check = False
        warm_tol = conv_tol if exact else max(conv_tol, WARM_START_CONV_TOL)
        _converge(warm, None, warm_tol, _recorder(history, f"warm start ({warm_label})", callback))
        dm0 = warm.make_rdm1()

    mf = make_ks(mol, functional, kind, grids, exact=exact)
    if warm is not None and getattr(warm, "_eri", None) is not None:
        # The same molecule: its in-core two-electron integrals need not be computed twice
        # (benzene/cc-pVDZ: 0.5 s). They are held beside DM21's kept exchange integrals, so those
        # get the budget's rest (aspirin/def2-SVP: 2.4 GB of them; 4.7 GB in all before this).
        mf._eri = warm._eri
        if functional.is_dm21:
            mf._numint.reserve(warm._eri.nbytes)
    _fix_occupations(mf, kind, occupations)
    record = _recorder(history, functional.name, callback)
    if kind == "RKS" and occupations is None and functional.is_dm21:
        # Plain DIIS first; if that fails or changes state, fixed occupations per irrep before the
        # slower level-shift steps (which rarely rescue these cases).
        steps = _converge(mf, dm0, conv_tol, record, CONVERGENCE_LADDER[:1])
        if _lost_state(mf, dm0):
            retry = _symmetry_adapted_rks(
                molecule, functional, grid, given_grids, warm_start, conv_tol, exact, record
            )
            if retry is not None and retry[0].converged:
                mf, steps = retry[0], steps + [retry[1]]
            elif not mf.converged:
                steps += _converge(mf, mf.make_rdm1(), conv_tol, record, CONVERGENCE_LADDER[1:])
    else:
        steps = _converge(mf, dm0, conv_tol, record)
    elapsed = time.perf_counter() - t_start
    result = _result(molecule, functional, kind, grid, mf, steps, history, elapsed, warm_label)
    result.load_seconds = load_seconds
    return result, mf


#: Overlap of a converged RKS density's occupied space with its start's (1: the same orbitals)
#: below which the SCF is taken to have jumped to another state.
SAME_STATE_OVERLAP = 0.5


def _lost_state(mf, dm0) -> bool:
    """True if the RKS SCF ``mf`` did not converge, or converged to a density whose occupied space
    overlaps its start ``dm0`` by less than SAME_STATE_OVERLAP: tr(D S D0 S) / (4 n_occ)."""
    if not mf.converged:
        return True
    if dm0 is None:
        return False
    s = mf.get_ovlp()
    n_occ = mf.mol.nelectron / 2
    return float(np.einsum("ij,ji->", mf.make_rdm1() @ s, dm0 @ s)) / (4 * n_occ) < SAME_STATE_OVERLAP


def _symmetry_adapted_rks(molecule, functional, grid, grids, warm_start, conv_tol, exact, record):
    """DM21 RKS with the orbital occupations per irreducible representation fixed to those of the
    warm-start functional's ground state (the cure of the official repository's issue #316: stretched
    H2 otherwise swings between sigma_g^2 and sigma_u^2). Returns (mf, step label), or None when the
    molecule has no symmetry or PySCF's symmetry frame is not a pure translation of the input (a
    rotated frame would rotate the grid's angular points and the density matrix). Runs on ``grids``
    if given (PySCF keeps the input coordinates; a gradient's moved grid stays the one used), else
    on the reference grid of ``grid``."""
    mol = molecule.to_pyscf()
    mol.symmetry = True
    mol.build()
    if mol.groupname == "C1" or not np.allclose(mol._symm_axes, np.eye(3)):
        return None
    if grids is None:
        grids = build_grids(mol, grid)
    warm = make_ks(mol, warm_start or "B3LYP", "RKS", grids)
    warm.conv_tol = conv_tol
    warm.kernel()
    if not warm.converged:
        return None
    irreps = {k: int(v) for k, v in warm.get_irrep_nelec().items() if v}
    mf = make_ks(mol, functional, "RKS", grids, exact=exact)
    mf.irrep_nelec = irreps
    label = "symmetry-adapted occupations " + ", ".join(f"{k}:{v}" for k, v in irreps.items())
    _converge(mf, warm.make_rdm1(), conv_tol, record)
    return mf, label


def _fix_occupations(mf, kind: str, occupations) -> None:
    """Makes ``mf`` fill its orbitals, in order of energy, with the given occupation numbers: one
    sequence (0 to 2 each) for RKS, an (alpha, beta) pair (0 to 1 each) for UKS."""
    if occupations is None:
        return
    nmo = mf.mol.nao_nr()
    spins = [occupations] if kind == "RKS" else list(occupations)
    if kind == "UKS" and (len(spins) != 2 or np.ndim(spins[0]) == 0):
        raise InputError("UKS occupations must be a pair (alpha occupations, beta occupations)")
    fixed = []
    limit = 2.0 if kind == "RKS" else 1.0
    for occ in spins:
        occ = np.asarray(occ, dtype=float)
        if occ.ndim != 1 or occ.size > nmo or (occ < 0).any() or (occ > limit).any():
            raise InputError(f"occupations must list at most {nmo} numbers between 0 and {limit:g} per spin")
        fixed.append(np.concatenate([occ, np.zeros(nmo - occ.size)]))

    def get_occ(mo_energy=None, mo_coeff=None):
        if len(fixed) == 1:
            out = np.zeros(nmo)
            out[np.argsort(mo_energy)] = fixed[0]
            return out
        out = np.zeros((2, nmo))
        for s in (0, 1):
            out[s, np.argsort(mo_energy[s])] = fixed[s]
        return out

    mf.get_occ = get_occ


def _recorder(history: list, stage: str, callback):
    def record(envs):
        energy = float(envs["e_tot"])
        last = envs.get("last_hf_e")
        entry = {
            "stage": stage,
            "cycle": len([h for h in history if h["stage"] == stage]) + 1,
            "energy": energy,
            "delta_e": None if last is None else energy - float(last),
            "gradient": None if envs.get("norm_gorb") is None else float(envs["norm_gorb"]),
        }
        history.append(entry)
        if callback is not None:
            callback(entry)

    return record


#: Energy tolerance of the warm start (its gradient tolerance is the square root).
WARM_START_CONV_TOL = 1e-7
#: DM21 energies carry float32 rounding noise of about this much per electron (Hartree): measured
#: iterate-to-iterate jitter at a converged density (water/cc-pVDZ: 2e-8 to 7e-8 Ha).
FLOAT32_ENERGY_NOISE_PER_ELECTRON = 1e-8


def _converge(mf, dm0, conv_tol: float, callback, ladder=None) -> list[str]:
    """Runs the convergence ``ladder`` (default CONVERGENCE_LADDER) on ``mf``; returns the labels of
    the steps used.

    Converged means an energy change below ``conv_tol`` and an orbital gradient below
    sqrt(``conv_tol``) (PySCF's rule). For DM21 the energy test cannot go below the network's float32
    noise, so its threshold is raised to that floor while the gradient test stays as requested (the
    energy error is second order in the gradient: ~1e-9 Ha at 3e-5); the extra confirming
    iteration PySCF runs after convergence is skipped for the same reason.
    """
    mf.conv_tol = conv_tol
    mf.conv_tol_grad = np.sqrt(conv_tol)
    if isinstance(mf._numint, DM21NumInt) and not mf._numint.exact:
        mf.conv_tol = max(conv_tol, FLOAT32_ENERGY_NOISE_PER_ELECTRON * sum(mf.mol.nelec))
        mf.conv_check = False
    mf.callback = callback
    steps = []
    for step in CONVERGENCE_LADDER if ladder is None else ladder:
        mf.level_shift = step["level_shift"]
        mf.damp = step["damp"]
        mf.max_cycle = step["max_cycle"]
        steps.append(step["label"])
        mf.kernel(dm0=dm0)
        if not np.isfinite(mf.e_tot):
            raise ConvergenceError(f"the SCF ({step['label']}) produced a non-finite energy")
        if mf.converged:
            break
        dm0 = mf.make_rdm1()
    if mf.converged and mf.level_shift:
        # A level shift changes the orbital energies it reports: one plain step undoes that.
        mf.level_shift, mf.damp, mf.max_cycle = 0.0, 0.0, 10
        mf.kernel(dm0=mf.make_rdm1())
    return steps


def _frontier(mo_energy, mo_occ):
    occupied = np.concatenate([np.ravel(e)[np.ravel(o) > 0] for e, o in zip(mo_energy, mo_occ, strict=True)])
    virtual = np.concatenate([np.ravel(e)[np.ravel(o) == 0] for e, o in zip(mo_energy, mo_occ, strict=True)])
    homo = float(occupied.max()) if occupied.size else None
    lumo = float(virtual.min()) if virtual.size else None
    return homo, lumo


def _result(molecule, functional, kind, grid, mf, steps, history, elapsed, warm_label) -> Result:
    mo_energy = np.asarray(mf.mo_energy)
    mo_occ = np.asarray(mf.mo_occ)
    if kind == "UKS":
        per_spin_e, per_spin_o = list(mo_energy), list(mo_occ)
        s2 = float(mf.spin_square()[0])
    else:
        per_spin_e, per_spin_o = [mo_energy], [mo_occ]
        s = molecule.spin / 2
        s2 = s * (s + 1)
    homo, lumo = _frontier(per_spin_e, per_spin_o)
    summary = mf.scf_summary
    dipole = mf.dip_moment(unit="Debye", verbose=0)
    return Result(
        functional=functional.name,
        basis=molecule.basis,
        charge=molecule.charge,
        spin=molecule.spin,
        kind=kind,
        grid=grid.as_dict(),
        energy=float(mf.e_tot),
        e1=float(summary["e1"]),
        coulomb=float(summary["coul"]),
        e_xc=float(summary["exc"]),
        nuclear=float(summary["nuc"]),
        converged=bool(mf.converged),
        cycles=int(sum(1 for h in history if h["stage"] == functional.name)),
        convergence_steps=steps,
        mo_energy=mo_energy.tolist(),
        mo_occ=mo_occ.tolist(),
        homo=homo,
        lumo=lumo,
        s2=s2,
        dipole=[float(x) for x in dipole],
        n_grid_points=int(mf.grids.weights.size),
        n_basis=int(mf.mol.nao_nr()),
        scf_seconds=elapsed,
        warm_start=warm_label,
        history=history,
        dm=np.asarray(mf.make_rdm1()),
    )


def evaluate_xc(
    molecule: Molecule, functional: Functional | str, dm: np.ndarray, grids
) -> tuple[float, np.ndarray]:
    """E_xc (Hartree) and its potential matrix dE_xc/dD for a given density matrix, no SCF.

    ``dm`` is the total (nao, nao) density matrix (restricted) or (2, nao, nao) spin density
    matrices (unrestricted); the potential has the same shape. For hybrids the exact-exchange part
    is included in both, as in PySCF's ``scf_summary['exc']``.
    """
    functional = functionals.resolve(functional)
    mol = molecule.to_pyscf()
    dm = np.asarray(dm, dtype=float)
    nao = mol.nao_nr()
    if dm.shape not in ((nao, nao), (2, nao, nao)):
        raise InputError(
            f"density matrix has shape {dm.shape}; this molecule and basis need ({nao}, {nao}) "
            f"or (2, {nao}, {nao})"
        )
    kind = "RKS" if dm.ndim == 2 else "UKS"
    mf = make_ks(mol, functional, kind, grids)
    veff = mf.get_veff(mol, dm)
    vj = mf.get_j(mol, dm)
    if kind == "UKS":
        vj = vj[0] + vj[1]
    return float(veff.exc), np.asarray(veff) - vj
