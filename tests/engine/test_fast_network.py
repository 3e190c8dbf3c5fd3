"""The fast network path's own functions: the vectorisable exp-1 and tanh against float64 NumPy."""

import numba
import numpy as np

from explorer.engine import fast_network


@numba.njit(error_model="numpy")
def _evaluate(x):
    out = np.empty((3, x.size), np.float32)
    for i in range(x.size):
        out[0, i] = fast_network._expm1(x[i])
        out[1, i] = fast_network._tanh(x[i])
        out[2, i] = fast_network._elu(x[i])
    return out


def test_expm1_and_tanh_are_within_two_float32_ulps():
    # Every magnitude the network's pre-activations take, both signs. Measured: 1.0 ulp (exp - 1) and
    # 1.4 ulp (tanh) at most; the C library's float32 functions are within 1 ulp.
    x = np.concatenate([-np.logspace(-12, 2, 20000), np.logspace(-12, 1.9, 20000)]).astype(np.float32)
    expm1, tanh, elu = _evaluate(x)
    eps = np.finfo(np.float32).eps
    x64 = x.astype(np.float64)
    for got, want in ((expm1, np.expm1(x64)), (tanh, np.tanh(x64))):
        assert (np.abs(got - want) <= 2 * eps * np.abs(want)).all()
    assert np.array_equal(elu, np.where(x > 0, x, expm1))


def test_not_a_number_propagates():
    # A NaN input must stay NaN so that the engine reports it rather than return a number.
    expm1, tanh, elu = _evaluate(np.array([np.nan], np.float32))
    assert np.isnan(expm1[0]) and np.isnan(tanh[0]) and np.isnan(elu[0])
    _, tanh_inf, _ = _evaluate(np.array([np.inf, -np.inf, -200.0], np.float32))
    assert tanh_inf[0] == 1 and tanh_inf[1] == -1 and tanh_inf[2] == -1
