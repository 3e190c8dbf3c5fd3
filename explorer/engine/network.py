"""The DM21 neural networks: loading a checkpoint and evaluating it with its input derivatives.

Each network maps 11 local features at a grid point to the exchange-correlation energy at that
point (Hartree per unit volume, not yet multiplied by the quadrature weight). The network runs in
float32, as it was trained; inputs arrive as float64 arrays and outputs leave as float64.

Networks are loaded once per process and shared: TensorFlow functions are safe to call from several
threads at once, and loading is guarded by a lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from explorer import functionals
from explorer.engine import fast_network, weights

#: The network's per-point inputs, in the order used throughout the engine. The two ``hfx``
#: inputs have two columns: local HF exchange with omega = 0 and omega = 0.4.
FEATURE_NAMES = (
    "rho_a",
    "rho_b",
    "tau_a",
    "tau_b",
    "norm_grad_rho_a",
    "norm_grad_rho_b",
    "norm_grad_rho",
    "hfxa",
    "hfxb",
)
#: Range-separation parameters of the local Hartree-Fock features, in 1/bohr, in column order.
HFX_OMEGAS = (0.0, 0.4)
#: Most points per batch: small enough that the (N, 256) activations stay in cache (fast path, 2
#: cores, 30,000 points in two calls: 0.25 s at 384 to 1024, 0.27 s at 256, 0.32 s at 2048).
POINTS_PER_BATCH = 512

_networks: dict[str, Network] = {}
_lock = threading.Lock()

_blas_lock = threading.Lock()
_blas_single = False


@dataclass(frozen=True)
class NetworkOutput:
    """The network's value and first derivatives on a set of points, all float64.

    ``exc`` (N,) is the XC energy density at each point (Hartree/bohr^3); ``grads`` maps each name
    of FEATURE_NAMES to d exc_i / d feature_i, shape (N,) or (N, 2) for ``hfxa``/``hfxb``.
    """

    exc: np.ndarray
    grads: dict[str, np.ndarray]


@contextlib.contextmanager
def _stderr_silenced():
    """Sends file descriptor 2 to /dev/null: TensorFlow's C++ start-up notes (oneDNN, absl) ignore
    TF_CPP_MIN_LOG_LEVEL and would break the one-line error messages of the CLI."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def single_threaded_blas() -> None:
    """Puts BLAS (every BLAS library loaded) on one thread for the rest of the process; thread-safe,
    done once.

    The engine runs its own work side by side (the network's batches, PySCF's OpenMP loops, numba's
    loops), where BLAS threads only compete for the cores (water/cc-pVDZ: B3LYP 0.62 -> 0.27 s, DM21
    3.7 -> 2.7 s) and make float32 products round differently from run to run. The setting is not
    undone after each call: limits set and restored per call raced between threads, and OpenBLAS
    (numpy's 0.3.31, scipy's 0.3.30) ignores thread counts set from any thread but the main one once
    the main thread has set one, so a per-call limit did not hold in threads (measured).
    """
    global _blas_single
    with _blas_lock:
        if not _blas_single:
            ThreadpoolController().limit(limits=1, user_api="blas")
            _blas_single = True


def evaluation_threads() -> int:
    """Threads that evaluate batches side by side: $OMP_NUM_THREADS if set (1 in cluster workers), else
    the number of cores."""
    text = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, int(text)) if text.isdigit() else max(1, os.cpu_count() or 1)


def _quiet_tensorflow():
    """Imports TensorFlow with its start-up chatter silenced, each operation on one thread: batches run
    side by side instead (evaluation_threads), which measured 0.35 s against 0.42 s for 30,000 points on
    2 cores (the graph's many small element-wise operations then need no hand-over between threads)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(evaluation_threads()))
    with _stderr_silenced():
        import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    # Loading the TF1 checkpoint warns that '$' in input names is sanitised: expected, harmless.
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


class Network:
    """One loaded DM21 checkpoint, evaluated with its input derivatives in two ways.

    The fast path (default, explorer.engine.fast_network) runs the network's layers, read from the
    checkpoint, with a hand-derived backward pass on BLAS and compiled row kernels: TensorFlow's
    automatic gradient of the checkpoint's graph also differentiates every weight matrix and costs
    three forward passes; the hand-derived one costs about one. The exact path is the checkpoint's own
    graph under automatic differentiation. On loading, both run on a probe set and must agree to
    float32 precision, else the exact path is used throughout.
    """

    def __init__(self, name: str):
        tf = _quiet_tensorflow()
        self.name = name
        self.path = weights.find_checkpoint(name)
        with _stderr_silenced():
            self._model = tf.saved_model.load(str(self.path), tags=[])
        self._exact = _autodiff_function(tf, self._model.signatures["default"])
        self._fast = fast_network.Layers(_layer_parameters(self._model), RESIDUAL_BLOCK_NAMES)
        # Batches run side by side on Python threads, so each BLAS call must stay on one thread
        # (single_threaded_blas). The threads are kept: new ones per call cost ~10 ms each time (BLAS's
        # per-thread set-up).
        self._pool = ThreadPoolExecutor(evaluation_threads(), thread_name_prefix=f"{name}-batches")
        self.fast_path = _paths_agree(self._fast, self._exact)

    def evaluate(self, features: dict[str, np.ndarray], exact: bool = False) -> NetworkOutput:
        """Evaluates the XC energy density and its derivatives at every point.

        ``features`` maps each FEATURE_NAMES entry to an array of shape (N,) (densities in
        electrons/bohr^3, tau in Hartree/bohr^3, squared gradients in electrons^2/bohr^8) or (N, 2)
        (local HF exchange energy densities, Hartree/bohr^3). ``exact`` forces the checkpoint's own
        graph with automatic differentiation (for benchmarks and tests of the fast path).
        """
        function = self._exact if exact or not self.fast_path else self._fast
        single_threaded_blas()
        return _evaluate_in_batches(function, features, self._pool)


def _evaluate_in_batches(function, features: dict[str, np.ndarray], pool=None) -> NetworkOutput:
    """``function`` on batches of the points of ``features``, side by side on the threads of ``pool``
    (default: new ones)."""
    n = len(features["rho_a"])
    exc = np.empty(n)
    grads = {k: np.empty((n, 2) if k.startswith("hfx") else n) for k in FEATURE_NAMES}

    # Batches of equal size, as many per thread, so the threads finish together.
    threads = evaluation_threads()
    count = -(-n // POINTS_PER_BATCH)
    count = max(1, -(-count // threads) * threads)
    size = max(1, -(-n // count))

    def run(start: int) -> None:
        stop = min(start + size, n)
        batch = [
            np.asarray(features[k][start:stop], dtype=np.float32).reshape(stop - start, -1)
            for k in FEATURE_NAMES
        ]
        value, gradients = function(*batch)
        exc[start:stop] = np.asarray(value)
        for k, g in zip(FEATURE_NAMES, gradients, strict=True):
            g = np.asarray(g)
            grads[k][start:stop] = g if k.startswith("hfx") else g[:, 0]

    starts = range(0, n, size)
    if threads <= 1 or len(starts) <= 1:
        for start in starts:
            run(start)
    elif pool is not None:
        list(pool.map(run, starts))
    else:
        with ThreadPoolExecutor(threads) as own:
            list(own.map(run, starts))
    return NetworkOutput(exc=exc, grads=grads)


def _feature_specs(tf):
    return [tf.TensorSpec([None, 1], tf.float32)] * 7 + [tf.TensorSpec([None, 2], tf.float32)] * 2


def _autodiff_function(tf, signature):
    """The checkpoint's graph and its input gradients by automatic differentiation."""

    @tf.function(input_signature=_feature_specs(tf))
    def value_and_gradients(*features):
        with tf.GradientTape() as tape:
            for x in features:
                tape.watch(x)
            inputs = {f"tensor_dict${k}": v for k, v in zip(FEATURE_NAMES, features, strict=True)}
            n = tf.shape(features[0])[0]
            # Coordinates and weights are inputs of the signature but do not enter the output.
            inputs["tensor_dict$grid_coords"] = tf.zeros([n, 3], tf.float32)
            inputs["tensor_dict$grid_weights"] = tf.ones([n, 1], tf.float32)
            exc = signature(**inputs)["grid_contribution"]
            # Each output depends only on its own point's inputs, so the gradient of the sum
            # is the per-point derivative.
            total = tf.reduce_sum(exc)
        grads = tape.gradient(total, list(features), unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return exc, grads

    return value_and_gradients


#: The residual blocks' names in the checkpoints, in order (all four networks share one architecture).
RESIDUAL_BLOCK_NAMES = ["ResidualBlock"] + [f"ResidualBlock_{i}" for i in range(1, 6)]
_SCOPE = "local_functional_v2/"


def _layer_parameters(model) -> dict[str, np.ndarray]:
    """The checkpoint's weights by layer name ("SquashUnprocessedData/linear/w", ...), float32."""
    params = {}
    for v in model.variables:
        name = v.name.split(_SCOPE, 1)[-1].rsplit(":", 1)[0]
        params[name] = v.numpy()
    return params


def probe_features(n: int = 512, seed: int = 0) -> dict[str, np.ndarray]:
    """Plausible network inputs for ``n`` points spanning densities from 1e-8 to 1e2 electrons/bohr^3,
    with gradients, tau and local exchange of matching magnitudes (for checks and benchmarks)."""
    rng = np.random.default_rng(seed)
    rho_a, rho_b = (10 ** rng.uniform(-8, 2, n) for _ in range(2))
    rho = rho_a + rho_b
    grad2_a, grad2_b = (r ** (8 / 3) * rng.uniform(0, 4, n) for r in (rho_a, rho_b))
    grad2 = (np.sqrt(grad2_a) + np.sqrt(grad2_b)) ** 2 * rng.uniform(0.5, 1, n)
    tau_a, tau_b = (
        g / (8 * r) + r ** (5 / 3) * rng.uniform(0, 3, n) for g, r in ((grad2_a, rho_a), (grad2_b, rho_b))
    )
    hfx = [-(r ** (4 / 3))[:, None] * rng.uniform([0.7, 0.3], [1.0, 0.6], (n, 2)) for r in (rho_a, rho_b)]
    return dict(
        rho_a=rho_a,
        rho_b=rho_b,
        tau_a=tau_a,
        tau_b=tau_b,
        norm_grad_rho_a=grad2_a,
        norm_grad_rho_b=grad2_b,
        norm_grad_rho=grad2 + 0 * rho,
        hfxa=hfx[0],
        hfxb=hfx[1],
    )


#: Largest difference allowed between the fast and exact paths on the probe set, relative to the
#: largest magnitude of each output: twice the float32 rounding of either. Against a float64
#: evaluation both paths are off by up to 1.4e-5 at extreme points (spin densities 1e-8 and 1e2 at
#: one point), with different roundings (BLAS, vectorised exp), so they differ by up to 1.8e-5.
PATH_TOLERANCE = 4e-5


def _paths_agree(fast, exact) -> bool:
    """True if the fast and exact evaluations agree on probe_features() within PATH_TOLERANCE."""
    for function in (fast, exact):
        # Traced on one thread first (one point): batches run side by side afterwards, and a first
        # call from two threads at once once failed inside TensorFlow's tracing.
        _evaluate_in_batches(function, probe_features(1))
    probe = probe_features()
    a, b = _evaluate_in_batches(fast, probe), _evaluate_in_batches(exact, probe)
    pairs = [(a.exc, b.exc)] + [(a.grads[k], b.grads[k]) for k in FEATURE_NAMES]
    for x, y in pairs:
        scale = max(np.abs(y).max(), 1e-30)
        if not (np.abs(x - y) <= PATH_TOLERANCE * scale).all():
            warnings.warn(
                "DM21 fast evaluation disagrees with the checkpoint's graph; using the graph", stacklevel=2
            )
            return False
    return True


def load_network(name: str) -> Network:
    """Returns the process-wide network for ``name`` (DM21, DM21m, DM21mc or DM21mu), loading it once.

    Raises InputError for another name, WeightsError if the checkpoint is missing or fails its checksums.
    """
    name = functionals.dm21(name).checkpoint
    with _lock:
        if name not in _networks:
            _networks[name] = Network(name)
        return _networks[name]
