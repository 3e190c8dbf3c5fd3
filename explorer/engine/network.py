"""The DM21 neural networks: loading a checkpoint and evaluating it with its input derivatives.

Each network maps 11 local features at a grid point to the exchange-correlation energy at that
point (Hartree per unit volume, not yet multiplied by the quadrature weight). The network runs in
float32, as it was trained; inputs arrive as float64 arrays and outputs leave as float64.

Networks are loaded once per process and shared: TensorFlow functions are safe to call from several
threads at once, and loading is guarded by a lock.

Start-up without TensorFlow: once a process has loaded a checkpoint with TensorFlow and the fast path
agreed with the checkpoint's graph, the layer parameters and the graph's outputs on the probe set are
written to a parameter cache (``networks/`` in the user cache folder of explorer.engine.weights). Later
processes build the fast path from that file and check it against the stored graph outputs instead
(importing TensorFlow and loading the checkpoint take ~4.5 s on 2 cores); the graph itself is loaded on
first use of the exact path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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
    graph under automatic differentiation. On loading, the fast path runs on a probe set and must agree
    to float32 precision with the graph's outputs there, else the exact path is used throughout. The
    graph's outputs come from the parameter cache when it holds this checkpoint (then TensorFlow is
    imported only when the exact path is first used), else from TensorFlow, which then refills it.

    ``source`` says where the parameters came from: "cache" or "checkpoint" (TensorFlow).
    """

    def __init__(self, name: str):
        self.name = name
        self.path = weights.find_checkpoint(name)
        # Batches run side by side on Python threads, so each BLAS call must stay on one thread
        # (single_threaded_blas). The threads are kept: new ones per call cost ~10 ms each time (BLAS's
        # per-thread set-up).
        self._pool = ThreadPoolExecutor(evaluation_threads(), thread_name_prefix=f"{name}-batches")
        self._model = self._exact = None
        self._exact_lock = threading.Lock()
        key = checkpoint_key(name)

        cached = read_parameter_cache(name, key)
        if cached is not None:
            parameters, graph_outputs, path = cached
            fast = fast_network.Layers(parameters, RESIDUAL_BLOCK_NAMES)
            if _outputs_agree(_probe(fast), graph_outputs):
                self.parameters, self._fast, self.fast_path, self.source = parameters, fast, True, "cache"
                return
            # Of no use to this code: removed, so later processes do not try it again.
            with contextlib.suppress(OSError):
                path.unlink()

        exact = self._exact_function()
        self.parameters = _layer_parameters(self._model)
        self._fast = fast_network.Layers(self.parameters, RESIDUAL_BLOCK_NAMES)
        self.source = "checkpoint"
        graph_outputs = _probe(exact)
        self.fast_path = _outputs_agree(_probe(self._fast), graph_outputs)
        if self.fast_path:
            write_parameter_cache(name, key, self.parameters, graph_outputs)
        else:
            warnings.warn(
                "DM21 fast evaluation disagrees with the checkpoint's graph; using the graph", stacklevel=2
            )

    def _exact_function(self):
        """The checkpoint's graph under automatic differentiation, loaded with TensorFlow on first use."""
        with self._exact_lock:
            if self._exact is None:
                tf = _quiet_tensorflow()
                with _stderr_silenced():
                    self._model = tf.saved_model.load(str(self.path), tags=[])
                exact = _autodiff_function(tf, self._model.signatures["default"])
                # Traced on one thread first (one point): batches run side by side afterwards, and a
                # first call from two threads at once once failed inside TensorFlow's tracing.
                _evaluate_in_batches(exact, probe_features(1))
                self._exact = exact
            return self._exact

    def evaluate(self, features: dict[str, np.ndarray], exact: bool = False) -> NetworkOutput:
        """Evaluates the XC energy density and its derivatives at every point.

        ``features`` maps each FEATURE_NAMES entry to an array of shape (N,) (densities in
        electrons/bohr^3, tau in Hartree/bohr^3, squared gradients in electrons^2/bohr^8) or (N, 2)
        (local HF exchange energy densities, Hartree/bohr^3). ``exact`` forces the checkpoint's own
        graph with automatic differentiation (for benchmarks and tests of the fast path).
        """
        function = self._exact_function() if exact or not self.fast_path else self._fast
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


def _probe(function) -> NetworkOutput:
    """``function`` evaluated on probe_features(), after a first call on one point on this thread."""
    _evaluate_in_batches(function, probe_features(1))
    return _evaluate_in_batches(function, probe_features())


def _outputs_agree(a: NetworkOutput, b: NetworkOutput) -> bool:
    """True if ``a`` agrees with the reference ``b`` within PATH_TOLERANCE of b's largest magnitude, for
    exc and every gradient."""
    pairs = [(a.exc, b.exc)] + [(a.grads[k], b.grads[k]) for k in FEATURE_NAMES]
    for x, y in pairs:
        scale = max(np.abs(y).max(), 1e-30)
        if x.shape != y.shape or not (np.abs(x - y) <= PATH_TOLERANCE * scale).all():
            return False
    return True


def checkpoint_key(name: str) -> str:
    """SHA-256 (hex) of the published checksums of checkpoint ``name``'s files: the parameter cache's
    key, so that a cache made from other checkpoint files is never used."""
    prefix = f"checkpoints/{name}/"
    sums = sorted((rel, digest) for rel, digest in weights.expected_sums().items() if rel.startswith(prefix))
    return hashlib.sha256("".join(f"{digest}  {rel}\n" for rel, digest in sums).encode()).hexdigest()


def _cache_prefix(name: str, key: str) -> str:
    return f"{name}-{key[:16]}-"


def _cache_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive of ``arrays`` with fixed time stamps, so equal arrays give equal bytes (and two
    processes writing the same cache at once write the same file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), "w") as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)
    return buffer.getvalue()


def write_parameter_cache(
    name: str, key: str, parameters: dict[str, np.ndarray], graph: NetworkOutput
) -> None:
    """Stores ``parameters`` (float32, by layer name) and the graph's outputs ``graph`` on
    probe_features() for checkpoint ``name`` with key ``key`` (checkpoint_key) in the parameter cache.

    The file is named ``NAME-KEY16-SHA256.npz`` after its own SHA-256 and appears whole (written to a
    temporary file, then renamed). Best effort: a cache that cannot be written is skipped.
    """
    arrays = {"key": np.array(key), "exc": graph.exc}
    arrays |= {f"grad.{k}": graph.grads[k] for k in FEATURE_NAMES}
    arrays |= {f"param.{k}": v for k, v in parameters.items()}
    data = _cache_bytes(arrays)
    folder = weights.network_cache_dir()
    target = folder / f"{_cache_prefix(name, key)}{hashlib.sha256(data).hexdigest()}.npz"
    temporary = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".partial-", suffix=".npz", delete=False) as f:
            temporary = f.name
            f.write(data)
        os.replace(temporary, target)
    except OSError as exc:
        logging.getLogger(__name__).info("DM21 parameter cache not written: %s", exc)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def read_parameter_cache(name: str, key: str) -> tuple[dict[str, np.ndarray], NetworkOutput, Path] | None:
    """(layer parameters, graph outputs on probe_features(), file) of checkpoint ``name`` from the
    parameter cache, or None if there is no intact file for ``key``. A file whose SHA-256 differs from
    the one in its name is deleted (files are only ever replaced whole, so it is damaged)."""
    folder = weights.network_cache_dir()
    prefix = _cache_prefix(name, key)
    try:
        paths = sorted(folder.glob(f"{prefix}*.npz"))
    except OSError:
        return None
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() != path.stem[len(prefix) :]:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
            if str(arrays["key"]) != key:
                continue
            graph = NetworkOutput(exc=arrays["exc"], grads={k: arrays[f"grad.{k}"] for k in FEATURE_NAMES})
        except (KeyError, ValueError, OSError, zipfile.BadZipFile):
            continue
        parameters = {k.removeprefix("param."): v for k, v in arrays.items() if k.startswith("param.")}
        return parameters, graph, path
    return None


def load_network(name: str) -> Network:
    """Returns the process-wide network for ``name`` (DM21, DM21m, DM21mc or DM21mu), loading it once.

    Raises InputError for another name, WeightsError if the checkpoint is missing or fails its checksums.
    """
    return _load(name)[0]


def ensure_loaded(name: str, exact: bool = False) -> float:
    """Loads the process-wide network for ``name`` (and its exact path if ``exact``) unless done
    already; returns the seconds spent loading in this call (0.0 if nothing was loaded)."""
    net, seconds = _load(name)
    if exact and net._exact is None:
        start = time.perf_counter()
        net._exact_function()
        seconds += time.perf_counter() - start
    return seconds


def _load(name: str) -> tuple[Network, float]:
    """The process-wide network for ``name`` and the seconds spent loading it in this call."""
    name = functionals.dm21(name).checkpoint
    with _lock:
        if name in _networks:
            return _networks[name], 0.0
        start = time.perf_counter()
        _networks[name] = Network(name)
        return _networks[name], time.perf_counter() - start
