"""The DM21 network's fast path: its layers on NumPy's BLAS with compiled (numba) row kernels.

Per batch of points the twelve (points x 256) x (256 x 256) products (six residual blocks forward,
six backward) go to BLAS; everything between them (bias, residual, layer norm, ELU and their
derivatives) runs in one compiled pass over each row while the row is in cache. TensorFlow runs
each of those element-wise steps as a separate operation over the whole batch, which took as long
as the products themselves (water/cc-pVDZ, 30,000 points, 2 cores: 0.35 s per evaluation).

Everything is float32, as the network was trained and as the checkpoint's graph computes it; the
transcendental functions are written out (range reduction and a Taylor polynomial) so that the
compiler can vectorise them, and agree with the C library's to about one unit in the last place.
Network.__init__ checks this path against the checkpoint's own graph on every load.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_F = np.float32
_LOG2E = _F(1.4426950408889634)
# ln 2 split in two (Cody and Waite) so that n * _LN2_HI is exact in float32 for |n| < 2^8.
_LN2_HI = _F(0.693359375)
_LN2_LO = _F(-2.12194440e-4)
_LDA = _F(-0.75 * (6 / np.pi) ** (1 / 3))
_FOUR_THIRDS = _F(4 / 3)
_FOUR_THIRDS_MINUS_ONE = _FOUR_THIRDS - _F(1.0)
#: The layer norm's variance epsilon and the input squashing offsets, as in the checkpoints.
_LAYER_NORM_EPSILON = _F(1e-5)
_SQUASH_OFFSETS = (_F(1e-9), _F(1e-4))


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bit pattern is the int32 ``bits`` (a free reinterpretation)."""
    signature = types.float32(types.int32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return signature, codegen


@numba.njit(cache=True, error_model="numpy")
def _expm1(x):  # pragma: no cover - compiled
    """exp(x) - 1 in float32, accurate also near 0; -1 below -87 (where exp underflows)."""
    x = min(max(x, _F(-87.0)), _F(88.0))
    n = np.rint(x * _LOG2E)
    r = (x - n * _LN2_HI) - n * _LN2_LO  # |r| <= ln(2)/2
    p = r * (
        _F(1.0)
        + r
        * (
            _F(1 / 2)
            + r * (_F(1 / 6) + r * (_F(1 / 24) + r * (_F(1 / 120) + r * (_F(1 / 720) + r * _F(1 / 5040)))))
        )
    )
    scale = _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))  # 2^n
    return scale * p + (scale - _F(1.0))


@numba.njit(cache=True, error_model="numpy")
def _tanh(x):  # pragma: no cover - compiled
    t = _expm1(_F(-2.0) * abs(x))
    y = -t / (_F(2.0) + t)
    return y if x >= 0 else -y


@numba.njit(cache=True, error_model="numpy")
def _elu(x):  # pragma: no cover - compiled
    return x if x > 0 else _expm1(x)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _tanh_rows(z, b):  # pragma: no cover - compiled
    """z <- tanh(z + b), b broadcast over rows."""
    n, k = z.shape
    for i in range(n):
        for j in range(k):
            z[i, j] = _tanh(z[i, j] + b[j])


# Row sums may be reordered (vectorised), as TensorFlow's reductions are; nothing else may.
@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def _block_forward(z, h, b, gamma, beta, normed, inv_std):  # pragma: no cover - compiled
    """One residual block after its product z = h W: z <- elu(LayerNorm(z + b + h) gamma + beta),
    keeping the normalised rows and their 1/std for the backward pass."""
    n, k = z.shape
    inv_k = _F(1.0) / _F(k)
    for i in range(n):
        total = _F(0.0)
        for j in range(k):
            v = (z[i, j] + b[j]) + h[i, j]
            z[i, j] = v
            total += v
        centre = total * inv_k
        squares = _F(0.0)
        for j in range(k):
            d = z[i, j] - centre
            squares += d * d
        r = _F(1.0) / np.sqrt(squares * inv_k + _LAYER_NORM_EPSILON)
        inv_std[i] = r
        for j in range(k):
            t = (z[i, j] - centre) * r
            normed[i, j] = t
            z[i, j] = _elu(t * gamma[j] + beta[j])


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def _block_backward(g, m, normed, inv_std, out, gamma):  # pragma: no cover - compiled
    """Gradient through one block's ELU and layer norm: g <- d/dz for d/d(output) = g + m."""
    n, k = g.shape
    inv_k = _F(1.0) / _F(k)
    for i in range(n):
        total = _F(0.0)
        projected = _F(0.0)
        for j in range(k):
            o = out[i, j]
            v = (g[i, j] + m[i, j]) * (_F(1.0) if o > 0 else o + _F(1.0)) * gamma[j]
            g[i, j] = v
            total += v
            projected += v * normed[i, j]
        a = total * inv_k
        c = projected * inv_k
        r = inv_std[i]
        for j in range(k):
            g[i, j] = r * ((g[i, j] - a) - normed[i, j] * c)


class Layers:
    """The DM21 network from its checkpoint's weights, evaluated with its input gradient.

    The network: the 11 inputs x = (rho_a, rho_b, |grad rho|^2, |grad rho_a|^2, |grad rho_b|^2, tau_a,
    tau_b, hfx_a(2), hfx_b(2)) are squashed to s = log(|x| + 1e-9 + 1e-4), then h = tanh(s W + b); six
    residual blocks h <- elu(LayerNorm(h W + b + h)) (epsilon 1e-5); enhancement factors
    a = 2 sigmoid(o / 2) of the three outputs o = h W + b; exc = a_0 e_x^LDA + a_1 (hfx_a + hfx_b)(omega=0)
    + a_2 (hfx_a + hfx_b)(omega=0.4), with e_x^LDA = -(3/4)(6/pi)^(1/3) (rho_a^(4/3) + rho_b^(4/3)).
    The backward pass is derived by hand (input gradient only, no weight gradients).
    """

    def __init__(self, params: dict[str, np.ndarray], block_names: list[str], dtype=np.float32):
        """``dtype`` float32 is the network as trained; float64 (inputs still rounded to float32 by the
        caller) gives a reference for measuring float32 rounding."""
        self.dtype = np.dtype(dtype)

        def array(name):
            return np.ascontiguousarray(params[name], dtype=self.dtype)

        self.w_in, self.b_in = (
            array("SquashUnprocessedData/linear/w"),
            array("SquashUnprocessedData/linear/b"),
        )
        self.w_out, self.b_out = array("OutputLayer/linear/w"), array("OutputLayer/linear/b")
        self.blocks = [
            tuple(
                array(f"MLP/{block}/{part}")
                for part in ("linear/w", "linear/b", "layer_norm/gamma", "layer_norm/beta")
            )
            for block in block_names
        ]
        self.w_transposed = [np.ascontiguousarray(w.T) for w, *_ in self.blocks]

    def __call__(self, rho_a, rho_b, tau_a, tau_b, grad2_a, grad2_b, grad2, hfx_a, hfx_b):
        """exc (N,) and its gradient with respect to each argument (same shapes), in self.dtype; the
        arguments are arrays of shape (N, 1), hfx_a and hfx_b (N, 2)."""
        rho_a, rho_b, hfx_a, hfx_b = (np.asarray(v, self.dtype) for v in (rho_a, rho_b, hfx_a, hfx_b))
        x = np.concatenate(
            [rho_a, rho_b, grad2, grad2_a, grad2_b, tau_a, tau_b, hfx_a, hfx_b], axis=1, dtype=self.dtype
        )
        # The two additions are kept apart as in the checkpoint: float32 rounds each one.
        shifted = (np.abs(x) + _SQUASH_OFFSETS[0]) + _SQUASH_OFFSETS[1]
        h = np.log(shifted) @ self.w_in
        _tanh_rows(h, self.b_in)
        h_in, saved = h, []
        for w, b, gamma, beta in self.blocks:
            z = h @ w
            normed = np.empty_like(z)
            inv_std = np.empty(len(z), self.dtype)
            _block_forward(z, h, b, gamma, beta, normed, inv_std)
            saved.append((normed, inv_std, z))
            h = z
        sig = 1 / (1 + np.exp(-(h @ self.w_out + self.b_out) / 2))
        local = np.concatenate([_LDA * (rho_a**_FOUR_THIRDS + rho_b**_FOUR_THIRDS), hfx_a + hfx_b], axis=1)
        factors = 2 * sig
        exc = (factors * local).sum(axis=1)

        # Backward: g is d exc / d(block output); each block adds its product to the residual's g.
        g = (local * sig * (1 - sig)) @ self.w_out.T
        m = np.zeros_like(g)
        for (_, _, gamma, _), w_t, (normed, inv_std, out) in zip(
            reversed(self.blocks), reversed(self.w_transposed), reversed(saved), strict=True
        ):
            _block_backward(g, m, normed, inv_std, out, gamma)
            np.matmul(g, w_t, out=m)
            g, m = m, g
        g += m
        g = ((g * (1 - h_in * h_in)) @ self.w_in.T) * np.sign(x) / shifted
        d_lda = factors[:, :1] * _LDA * _FOUR_THIRDS
        return exc, [
            g[:, 0:1] + d_lda * rho_a**_FOUR_THIRDS_MINUS_ONE,
            g[:, 1:2] + d_lda * rho_b**_FOUR_THIRDS_MINUS_ONE,
            g[:, 5:6],
            g[:, 6:7],
            g[:, 3:4],
            g[:, 4:5],
            g[:, 2:3],
            g[:, 7:9] + factors[:, 1:],
            g[:, 9:11] + factors[:, 1:],
        ]
