"""JAX as the benchmark's peer: gradient descent on the same networks, written as a JAX user
writes it, ``jit(vmap(step))`` inside ``lax.scan`` over K steps.

    peer = JaxGD(net, x, y, lr, n_steps=10)   # net: an approx.Network (single or ensemble)
    peer.run()                                 # K steps of GD for all E members, block_until_ready
    peer.losses()                              # (E,) mean squared errors at the current parameters

The parameters start as copies of the Network's (member e of an ensemble is member e here), in
the Network's dtype; the data are the same x (batch, d_in) and y (batch, d_out), shared by every
member. One member's step is

    L(theta) = mean((f_theta(x) - y)^2),   theta <- theta - lr grad L(theta)

with f the Network's own function (z = s h W^T + b per layer, then its activation), and
``jax.vmap`` maps it over the ensemble axis; ``jax.grad`` differentiates it. The K steps run
inside one ``lax.scan``, compiled once by ``jax.jit`` (the first call, timed apart as the
compile); each call is awaited with ``block_until_ready``, so a timing covers the arithmetic.

jax is optional (``pip install approx[peers]``): ``import_jax`` imports it on first use, with
XLA's Eigen pool off (``XLA_ONE_THREAD`` in XLA_FLAGS, set before jax is imported), and raises
ImportError where it is missing, which the benchmark reports in one line. The flags alone do not
hold XLA to one thread: with them, jax 0.10.2's timed calls used up to 1.8 CPU seconds per
wall-clock second on the 2-core EPYC (results/peer-unpinned). So the benchmark also pins every CPU
row, this one included, to as many cores as it has threads (``approx.bench.cores``), before
XLA starts its pool, and records ``cpu_per_wall``. Nothing here runs at import:
``import approx`` never imports jax.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from torch import Tensor

from ..network import Network

__all__ = ["XLA_ONE_THREAD", "ACTIVATIONS", "import_jax", "JaxGD", "jax_product"]

XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

ACTIVATIONS = {  # the same functions as approx.activations, in jax.numpy
    "identity": lambda jnp, z: z,
    "relu": lambda jnp, z: jnp.maximum(z, 0),
    "sigmoid": lambda jnp, z: 1 / (1 + jnp.exp(-z)),  # as jax.nn.sigmoid
    "tanh": lambda jnp, z: jnp.tanh(z),
    "ramp": lambda jnp, z: jnp.clip(z, 0, 1),
}


def import_jax():
    """The jax module, with XLA limited to one CPU thread; ImportError if jax is not installed.

    The thread limit is read by XLA when jax starts, so it is set before the first import; a
    jax that some other code imported earlier without it is refused (RuntimeError), since its
    timings would not be one thread's."""
    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    elif "xla_cpu_multi_thread_eigen=false" not in os.environ.get("XLA_FLAGS", ""):
        raise RuntimeError("jax was imported before approx.bench.jax_peer without "
                           f"XLA_FLAGS={XLA_ONE_THREAD!r}: its timings would not be one thread's")
    import jax  # noqa: PLC0415 (optional dependency, imported on use)

    return jax


def jax_product(a64: np.ndarray, b64: np.ndarray):
    """(call, result) for C = A B in float32 by XLA, jitted: the peer's own matrix product.

    ``call()`` computes it and waits (``block_until_ready``); ``result()`` is the last C as float64.
    Beside torch's product of the same size (the benchmark's peak row) it shows how fast each
    library's matrix kernels run on this CPU: the floor of every cell that is mostly products.
    """
    jax = import_jax()
    jnp = jax.numpy
    a, b = jnp.asarray(a64, dtype=jnp.float32), jnp.asarray(b64, dtype=jnp.float32)
    product = jax.jit(jnp.matmul)
    out = [product(a, b)]  # the compile, outside any timing

    def call() -> None:
        out[0] = product(a, b).block_until_ready()

    return call, lambda: np.asarray(out[0], dtype=np.float64)


class JaxGD:
    """K steps of gradient descent on an ensemble, in JAX (module docstring)."""

    def __init__(self, net: Network, x: Tensor, y: Tensor, lr: float, n_steps: int):
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        unknown = sorted(set(net.activations) - set(ACTIVATIONS))
        if unknown:
            raise ValueError(f"the JAX peer has no activation {unknown[0]!r}; allowed: {', '.join(ACTIVATIONS)}")
        jax = import_jax()
        jnp = jax.numpy
        members = net if net.ensemble is not None else Network.stack([net])
        # [W1 (E, out, in), b1 (E, out), ...], the Network's values and dtype
        self.params = [jnp.asarray(p.detach().cpu().numpy()) for p in members.parameters()]
        self.x = jnp.asarray(x.detach().cpu().numpy())  # (batch, d_in), shared by every member
        self.y = jnp.asarray(y.detach().cpu().numpy())  # (batch, d_out)
        layers = list(zip(net.activations, net.scales))
        dtype = self.params[0].dtype

        def loss(theta, x, y):  # one member: theta = [W1 (out, in), b1 (out,), ...]
            h = x
            for i, (name, s) in enumerate(layers):
                h = ACTIVATIONS[name](jnp, s * (h @ theta[2 * i].T) + theta[2 * i + 1])
            return jnp.mean((h - y) ** 2)

        def step(theta, rate):  # one member's GD step
            grads = jax.grad(loss)(theta, self.x, self.y)
            return [p - rate * g for p, g in zip(theta, grads)]

        steps = jax.vmap(step, in_axes=(0, None))  # every member at once

        def train(theta, rate):
            return jax.lax.scan(lambda t, _: (steps(t, rate), None), theta, None, length=n_steps)[0]

        self.n_steps, self._jnp = n_steps, jnp
        self.rate = jnp.asarray(lr, dtype=dtype)
        self._train = jax.jit(train)
        self._step = jax.jit(steps)
        self._losses = jax.jit(jax.vmap(loss, in_axes=(0, None, None)))
        self._block = jax.block_until_ready

    def run(self) -> None:
        """n_steps GD steps of every member (the first call compiles)."""
        self.params = self._block(self._train(self.params, self.rate))

    def step(self, lr: float) -> None:
        """One GD step at rate ``lr`` (for the benchmark's accuracy check)."""
        self.params = self._block(self._step(self.params, self._jnp.asarray(lr, dtype=self.rate.dtype)))

    def losses(self) -> np.ndarray:
        """(E,) float64: each member's mean squared error at the current parameters."""
        return np.asarray(self._losses(self.params, self.x, self.y), dtype=np.float64)

    def read(self) -> np.ndarray:
        """The parameters as an (E, P) float64 matrix, laid out as ``approx.bench.steps.Step.read``."""
        return np.concatenate([np.asarray(p, dtype=np.float64).reshape(p.shape[0], -1) for p in self.params], axis=1)

    def write(self, theta: np.ndarray) -> None:
        """Copy an (E, P) matrix (as from ``read``) into the parameters, in their dtype."""
        jnp = self._jnp
        out, offset = [], 0
        for p in self.params:
            size = int(np.prod(p.shape[1:]))
            out.append(jnp.asarray(theta[:, offset:offset + size].reshape(p.shape), dtype=p.dtype))
            offset += size
        self.params = out
