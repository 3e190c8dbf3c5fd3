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
from dataclasses import dataclass

import numpy as np

from explorer import weights

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
#: Points per call to TensorFlow: bounds the memory of the tape (about 30 kB per point).
POINTS_PER_BATCH = 32768

_networks: dict[str, Network] = {}
_lock = threading.Lock()


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


def _quiet_tensorflow():
    """Imports TensorFlow with its start-up chatter silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_silenced():
        import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    # Loading the TF1 checkpoint warns that '$' in input names is sanitised: expected, harmless.
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


class Network:
    """One loaded DM21 checkpoint with a compiled function for its value and input gradients."""

    def __init__(self, name: str):
        tf = _quiet_tensorflow()
        self.name = name
        self.path = weights.find_checkpoint(name)
        with _stderr_silenced():
            self._model = tf.saved_model.load(str(self.path), tags=[])
        signature = self._model.signatures["default"]
        specs = [tf.TensorSpec([None, 1], tf.float32)] * 7 + [tf.TensorSpec([None, 2], tf.float32)] * 2

        @tf.function(input_signature=specs)
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

        self._value_and_gradients = value_and_gradients

    def evaluate(self, features: dict[str, np.ndarray]) -> NetworkOutput:
        """Evaluates the XC energy density and its derivatives at every point.

        ``features`` maps each FEATURE_NAMES entry to an array of shape (N,) (densities in
        electrons/bohr^3, tau in Hartree/bohr^3, squared gradients in electrons^2/bohr^8) or (N, 2)
        (local HF exchange energy densities, Hartree/bohr^3).
        """
        n = len(features["rho_a"])
        exc = np.empty(n)
        grads = {k: np.empty((n, 2) if k.startswith("hfx") else n) for k in FEATURE_NAMES}
        for start in range(0, n, POINTS_PER_BATCH):
            stop = min(start + POINTS_PER_BATCH, n)
            batch = [
                np.asarray(features[k][start:stop], dtype=np.float32).reshape(stop - start, -1)
                for k in FEATURE_NAMES
            ]
            value, gradients = self._value_and_gradients(*batch)
            exc[start:stop] = value.numpy()
            for k, g in zip(FEATURE_NAMES, gradients, strict=True):
                g = g.numpy()
                grads[k][start:stop] = g if k.startswith("hfx") else g[:, 0]
        return NetworkOutput(exc=exc, grads=grads)


def load_network(name: str) -> Network:
    """Returns the process-wide network for ``name`` (DM21, DM21m, DM21mc or DM21mu), loading it once.

    Raises WeightsError if the checkpoint is missing or fails its checksums.
    """
    name = canonical_name(name)
    with _lock:
        if name not in _networks:
            _networks[name] = Network(name)
        return _networks[name]


def canonical_name(name: str) -> str:
    """Returns the checkpoint name matching ``name`` case-insensitively, or raises KeyError."""
    for known in weights.CHECKPOINT_NAMES:
        if known.lower() == name.strip().lower():
            return known
    raise KeyError(name)


def is_dm21(name: str) -> bool:
    """True if ``name`` names one of the DM21 functionals (any case)."""
    try:
        canonical_name(name)
    except KeyError:
        return False
    return True
