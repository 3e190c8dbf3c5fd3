"""The DM21 networks loaded with TensorFlow 2 (no tensorflow_hub, no sessions)."""

import threading

import numpy as np
import pytest

from explorer.engine import fast_network, network
from explorer.errors import InputError


def _features(n, seed=0):
    # Physically plausible inputs: densities, tau >= von Weizsaecker bound, negative exchange.
    rng = np.random.default_rng(seed)
    rho_a = rng.uniform(0.05, 1.0, n)
    rho_b = rho_a * rng.uniform(0.5, 1.0, n)
    grad_a = rng.uniform(0.0, 1.0, n) * rho_a
    grad_b = rng.uniform(0.0, 1.0, n) * rho_b
    return {
        "rho_a": rho_a,
        "rho_b": rho_b,
        "tau_a": grad_a**2 / (8 * rho_a) + rho_a,
        "tau_b": grad_b**2 / (8 * rho_b) + rho_b,
        "norm_grad_rho_a": grad_a**2,
        "norm_grad_rho_b": grad_b**2,
        "norm_grad_rho": (grad_a + grad_b) ** 2,
        "hfxa": -np.stack([0.7, 0.3]) * rho_a[:, None] ** (4 / 3),
        "hfxb": -np.stack([0.7, 0.3]) * rho_b[:, None] ** (4 / 3),
    }


def test_loaded_once_and_shared():
    assert network.load_network("dm21") is network.load_network("DM21")
    with pytest.raises(InputError):
        network.load_network("DM22")


def test_gradients_match_finite_differences():
    net = network.load_network("DM21")
    x = _features(200)
    out = net.evaluate(x)
    assert out.exc.shape == (200,) and np.all(out.exc < 0)
    # Central differences in float32 need steps of a few percent of each input; the tolerance
    # (5% of the derivative scale) reflects float32 rounding, not a loose physics check.
    for name in ("rho_a", "tau_b", "norm_grad_rho", "hfxa"):
        col = (slice(None), 0) if name.startswith("hfx") else (slice(None),)
        h = 0.02 * np.abs(x[name][col])
        plus = {k: v.copy() for k, v in x.items()}
        minus = {k: v.copy() for k, v in x.items()}
        plus[name][col] += h
        minus[name][col] -= h
        fd = (net.evaluate(plus).exc - net.evaluate(minus).exc) / (2 * h)
        analytic = out.grads[name][col]
        scale = np.abs(analytic).max()
        assert np.abs(fd - analytic).max() < 0.05 * scale, name


def test_concurrent_evaluation_gives_serial_results():
    net = network.load_network("DM21m")
    inputs = [_features(5000, seed) for seed in range(4)]
    serial = [net.evaluate(x).exc for x in inputs]
    parallel = [None] * 4

    def work(i):
        parallel[i] = net.evaluate(inputs[i]).exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_functionals_differ():
    x = _features(100)
    values = [network.load_network(n).evaluate(x).exc for n in ("DM21", "DM21m", "DM21mc", "DM21mu")]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.allclose(values[i], values[j])


#: Rounding budget of one float32 value-and-gradient pass, relative to the largest magnitude: about 24
#: matrix products of length 256 in the forward and backward passes, each off by up to sqrt(256)
#: float32 epsilons with any summation order a BLAS chooses: 24 * 16 * 2^-23 = 4.6e-5. Measured
#: here: at most 80 epsilons (fast path) and 114 (the graph), of the 384 allowed.
FLOAT32_PASS_BUDGET = 24 * 16 * float(np.finfo(np.float32).eps)


@pytest.mark.parametrize("name", ["DM21", "DM21m", "DM21mc", "DM21mu"])
def test_hand_derived_gradients_equal_automatic_ones(name):
    # The fast path (layers read from the checkpoint, backward pass by hand, BLAS + compiled kernels)
    # against the checkpoint's own graph under TensorFlow's automatic differentiation, on inputs the
    # load-time probe did not see, from tiny to large densities. Tolerance: network.PATH_TOLERANCE
    # (twice float32 rounding). Both are then measured against the same layers in float64, with a
    # budget from float32 arithmetic alone, so it holds for any BLAS's blocking of its sums (issue
    # 17.14: a bound relative to the graph's own error failed on another x86-64 BLAS kernel).
    net = network.load_network(name)
    assert net.fast_path
    x = network.probe_features(2000, seed=7)
    fast, exact = net.evaluate(x), net.evaluate(x, exact=True)
    layers64 = fast_network.Layers(net.parameters, network.RESIDUAL_BLOCK_NAMES, dtype=np.float64)
    reference = network._evaluate_in_batches(layers64, x)
    assert np.abs(fast.exc - exact.exc).max() <= network.PATH_TOLERANCE * np.abs(exact.exc).max()
    for key in network.FEATURE_NAMES:
        scale = np.abs(exact.grads[key]).max()
        assert np.abs(fast.grads[key] - exact.grads[key]).max() <= network.PATH_TOLERANCE * scale, key
        budget = FLOAT32_PASS_BUDGET * np.abs(reference.grads[key]).max()
        assert np.abs(fast.grads[key] - reference.grads[key]).max() <= budget, key
        assert np.abs(exact.grads[key] - reference.grads[key]).max() <= budget, key
