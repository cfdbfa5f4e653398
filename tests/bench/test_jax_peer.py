"""approx.bench.jax_peer: JAX's GD (jit(vmap(step)) in lax.scan) starts from the Network's own
parameters and agrees with approx's engines after K steps, to float32 rounding. Skipped where
jax is not installed (it is in the dev extra); the benchmark's one-line skip without jax is
tested in tests/experiments/test_benchmark.py."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from approx import Network
from approx.bench.steps import make_step, member_rows

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

SIZES, E, BATCH, LR, K = [1, 8, 8, 1], 3, 32, 0.05, 5


def cell(dtype=torch.float32):
    net = Network.random(SIZES, "tanh", seed=2, ensemble=E, init="ntk")  # NTK: layer scales s != 1
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(BATCH, 1, generator=gen, dtype=torch.float64) * 2 - 1
    return net.to(dtype=dtype), x.to(dtype), torch.sin(3 * x).to(dtype)


def approx_losses(net, x, y, steps: int) -> np.ndarray:
    step = make_step("backprop", "eager", net.clone(), x, y, LR)
    for _ in range(steps):
        step.run()
    return step.forward().double().numpy()


def test_the_peer_starts_from_the_networks_parameters():
    from approx.bench.jax_peer import JaxGD

    net, x, y = cell()
    peer = JaxGD(net, x, y, LR, K)
    assert np.array_equal(peer.read(), member_rows(net.parameters(), True).numpy())
    # the same function in float32 (XLA's tanh and sums round otherwise): within 4 gamma_n L, as below
    losses, expected = peer.losses(), approx_losses(net, x, y, 0)
    u, n = 2.0**-24, BATCH * (max(SIZES) + 1)
    assert np.all(np.abs(losses - expected) <= 4 * n * u / (1 - n * u) * expected)
    assert not np.all(np.abs(losses * (1 + 1e-3) - expected) <= 4 * n * u / (1 - n * u) * expected)  # control
    single = JaxGD(net.unstack()[1], x, y, LR, K)  # one network runs as an ensemble of one
    assert np.array_equal(single.read(), peer.read()[1:2])
    theta = peer.read() * 1.5
    peer.write(theta)
    assert np.array_equal(peer.read(), theta.astype(np.float32).astype(np.float64))


def test_losses_after_k_steps_agree_with_approx_to_float32_rounding():
    """Bound: a float32 step computes each gradient entry with relative error at most
    gamma_n = n u / (1 - n u) (Higham 2002, sec. 3.1), n the longest sum (the batch times the
    widest fan-in plus one: 32 x 9), u = 2^-24; gradient descent at a small rate (lr ||H|| < 1)
    does not amplify a perturbation of theta, so after K steps theta is within K gamma_n
    (relative) of the exact trajectory, and the loss within a small multiple of that: we allow
    4 K gamma_n L64 (3.4e-4 relative; measured about 1e-7) from the float64 losses of approx."""
    from approx.bench.jax_peer import JaxGD

    net64, x64, y64 = cell(torch.float64)
    net, x, y = cell()
    reference = approx_losses(net64, x64, y64, K)  # float64
    u, n = 2.0**-24, BATCH * (max(SIZES) + 1)
    bound = 4 * K * (n * u / (1 - n * u)) * reference
    peer = JaxGD(net, x, y, LR, K)
    peer.run()
    assert np.all(np.abs(peer.losses() - reference) <= bound)
    assert np.all(np.abs(approx_losses(net, x, y, K) - reference) <= bound)  # approx in float32 too
    peer.run()  # control: 2K steps are far from the K-step losses
    assert not np.any(np.abs(peer.losses() - reference) <= bound)
    slower = JaxGD(net, x, y, LR * 0.9, K)  # control: another rate
    slower.run()
    assert not np.any(np.abs(slower.losses() - reference) <= bound)


def test_one_step_at_a_large_rate_is_the_gradient():
    """The benchmark's rel_error check: one step at lr = 2^10 gives theta - 2^10 grad."""
    from approx import autograd
    from approx.bench.jax_peer import JaxGD

    net, x, y = cell()
    peer = JaxGD(net, x, y, LR, K)
    start = peer.read()
    peer.step(2.0**10)
    net64, x64, y64 = cell(torch.float64)
    grads = member_rows(autograd.loss_and_grad(net64, x64, y64)[1], True).numpy()
    rel = np.linalg.norm(peer.read() - start + 2.0**10 * grads) / np.linalg.norm(2.0**10 * grads)
    assert rel < 1e-4  # float32 rounding (the benchmark's float32 threshold)
    assert np.linalg.norm(peer.read() - start + 1.01 * 2.0**10 * grads) / np.linalg.norm(2.0**10 * grads) > 1e-3


def test_the_peers_matrix_product_is_a_float32_product():
    """Bound: each entry of a float32 product of float32-rounded inputs is within
    gamma_{n+2} (|A| |B|)_ij of the float64 product of the originals (Higham 2002, sec. 3.5; the
    +2 for rounding A and B), u = 2^-24, n = 64. Control: the product of A with B's transpose."""
    from approx.bench.jax_peer import jax_product

    gen = np.random.default_rng(0)
    a, b = gen.standard_normal((64, 64)), gen.standard_normal((64, 64))
    call, result = jax_product(a, b)
    call()
    u, n = 2.0**-24, 64 + 2
    bound = n * u / (1 - n * u) * (np.abs(a) @ np.abs(b))
    assert np.all(np.abs(result() - a @ b) <= bound)
    assert not np.all(np.abs(result() - a @ b.T) <= bound)


def test_bad_input_and_a_jax_without_the_thread_limit_are_refused(monkeypatch):
    from approx.bench import jax_peer

    net, x, y = cell()
    with pytest.raises(ValueError, match="n_steps must be >= 1, got 0"):
        jax_peer.JaxGD(net, x, y, LR, 0)
    soft = Network.random(SIZES, "softplus", seed=0, dtype=torch.float32)
    with pytest.raises(ValueError, match="no activation 'softplus'; allowed: identity, relu"):
        jax_peer.JaxGD(soft, x, y, LR, K)
    jax_peer.import_jax()  # imported, with the flags
    monkeypatch.setenv("XLA_FLAGS", "")
    with pytest.raises(RuntimeError, match="imported before approx.bench.jax_peer"):
        jax_peer.import_jax()
    monkeypatch.undo()
    assert jax_peer.import_jax() is not None  # control: with the flags it is accepted
    assert math.isfinite(float(jax_peer.JaxGD(net, x, y, LR, 1).losses()[0]))
