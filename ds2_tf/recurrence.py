"""A fused GRU recurrence with a hand-written backward pass: the hot loop of BN-RNN training.

Why: on CPUs the recurrence is bound by per-step op overhead, not FLOPs, and TensorFlow's
automatic gradient of a while-loop records and replays every op of every step. Here the forward
loop keeps only what backprop needs (h, gates z|r, candidate c, U_h·h + b_h); the backward loop
does just the recurrent work per step (one matmul per direction), and everything that does not
depend on the recurrence (gate derivative factors before the loop, ∂U and ∂b after it as one
big contraction over time) is computed for all steps at once. Both directions run in one loop
with separate per-direction matmuls, which the executor can place on different cores.

Math (Keras's ``reset_after`` GRU, so weights are interchangeable with ``keras.layers.GRU``):
    a = h_{t-1}·U + b,  z = σ(x_z + a_z),  r = σ(x_r + a_r),  c = tanh(x_h + r ⊙ a_h)
    h_t = z ⊙ h_{t-1} + (1 − z) ⊙ c
"""
from __future__ import annotations

import tensorflow as tf


def _forward(xs, kernel, bias):
    directions = kernel.shape[0]
    units = tf.shape(kernel)[-2]
    steps = tf.shape(xs)[0]
    h0 = tf.zeros(tf.concat([tf.shape(xs)[1:-1], [units]], 0), xs.dtype)

    def body(t, h, hs, zrs, cs, ahs):
        x = xs[t]
        a = tf.stack([tf.matmul(h[d], kernel[d]) for d in range(directions)]) + bias
        zr = tf.sigmoid(x[..., :2 * units] + a[..., :2 * units])
        z, r = zr[..., :units], zr[..., units:]
        a_h = a[..., 2 * units:]
        c = tf.tanh(x[..., 2 * units:] + r * a_h)
        h = c + z * (h - c)
        return t + 1, h, hs.write(t, h), zrs.write(t, zr), cs.write(t, c), ahs.write(t, a_h)

    arrays = [tf.TensorArray(xs.dtype, size=steps) for _ in range(4)]
    _, _, hs, zrs, cs, ahs = tf.while_loop(lambda t, *_: t < steps, body, [0, h0, *arrays])
    return h0, hs.stack(), zrs.stack(), cs.stack(), ahs.stack()


@tf.custom_gradient
def gru_sequence(xs, kernel, bias):
    """GRU over time-major projected inputs, all directions at once, from zero state.

    xs: [T, D, B, 3U] input projections (gates z, r, h); kernel: [D, U, 3U] recurrent weights;
    bias: [D, 1, 3U] recurrent bias. Returns h: [T, D, B, U]. D (directions) must be static.
    Padding must come *after* each sequence's last valid step (reverse backward directions with
    ``tf.reverse_sequence``): padded steps then never influence valid ones.
    """
    h0, hs, zrs, cs, ahs = _forward(xs, kernel, bias)
    directions = kernel.shape[0]

    def grad(dhs):
        units = tf.shape(kernel)[-2]
        steps = tf.shape(xs)[0]
        h_prev = tf.concat([h0[None], hs[:-1]], 0)
        z, r = zrs[..., :units], zrs[..., units:]
        # Per-step factors that do not depend on the incoming gradient: all steps in one go.
        dc_scale = (1.0 - z) * (1.0 - cs * cs)
        dz_scale = (h_prev - cs) * z * (1.0 - z)
        dr_scale = ahs * r * (1.0 - r)
        kernel_t = tf.linalg.matrix_transpose(kernel)

        def body(i, dh_next, dxs):
            t = steps - 1 - i
            dh = dhs[t] + dh_next
            dc_pre = dh * dc_scale[t]
            dz_pre = dh * dz_scale[t]
            dr_pre = dc_pre * dr_scale[t]
            da = tf.concat([dz_pre, dr_pre, dc_pre * r[t]], -1)
            recurrent = tf.stack([tf.matmul(da[d], kernel_t[d]) for d in range(directions)])
            return i + 1, dh * z[t] + recurrent, dxs.write(t, tf.concat([dz_pre, dr_pre, dc_pre], -1))

        dxs = tf.TensorArray(xs.dtype, size=steps)
        _, _, dxs = tf.while_loop(lambda i, *_: i < steps, body, [0, tf.zeros_like(h0), dxs])
        dx = dxs.stack()
        da = tf.concat([dx[..., :2 * units], dx[..., 2 * units:] * r], -1)
        dkernel = tf.einsum("tdbu,tdbg->dug", h_prev, da)
        dbias = tf.reduce_sum(da, [0, 2])[:, None, :]
        return dx, dkernel, dbias

    return hs, grad
