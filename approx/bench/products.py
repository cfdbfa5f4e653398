"""The matrix products of one training step, timed alone: about the floor under both engines.

A step of a single Network (layer l: weight W_l (out, in), bias b_l, scale s_l) on a batch of n
points runs, whatever the engine, these products and nothing of their size besides:

    forward    z_l = s_l h_{l-1} W_l^T + b_l       addmm, (n, in) x (in, out)
    backward   dW_l = s_l B_l^T h_{l-1}            mm,    (out, n) x (n, in)
               dh_{l-1} = s_l B_l W_l  (l > 1)     mm,    (n, out) x (out, in)

(the hand-written engine, approx.network.affine and approx.backprop.rules._affine, calls exactly
these; autograd's backward of addmm calls the same two mm per layer). ``products_call`` returns a
call that runs them on random tensors of those shapes into preallocated outputs (no allocator in
the loop), so its time is what the products cost at these shapes on this machine, for any
engine: close to a floor (an engine's own products may run a few percent faster or slower, with
other data in cache and the machine's noise), and a much tighter one than the FLOP model at the
peak of a large square product, which thin (n, in) x (in, out) products do not reach. The
benchmark divides it by an engine's step time: the share of that step the products take.

The step's other pass over every parameter is the update theta <- theta - lr g, which both
engines' eager steps run as one ``torch._foreach_addcmul_`` (approx.bench.steps). It is memory
traffic, not arithmetic: three numbers moved per parameter (read theta and g, write theta), so
for a large layer it is a visible share of the step (1024 x 1024 float64 weights: 24 MB per
step). ``descent_call`` runs that same call on tensors of the parameters' shapes; the products
and the descent, each timed alone, are about the least that any engine taking a gradient
descent step through torch can spend.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

__all__ = ["products_call", "descent_call"]


def products_call(sizes: Sequence[int], batch: int, dtype: torch.dtype, device: torch.device,
                  seed: int = 0) -> Callable[[], None]:
    """A call running one step's matrix products of a single network with layer widths ``sizes``
    (d_0 .. d_L) on ``batch`` points, in ``dtype`` on ``device`` (module docstring)."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1 or batch < 1:
        raise ValueError(f"need >= 2 positive sizes and batch >= 1; got {sizes}, {batch}")
    gen = torch.Generator(device=device).manual_seed(seed)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype, device=device)

    layers = []  # per layer: its operands and the outputs the products write into
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers.append({
            "h": draw(batch, fan_in), "W": draw(fan_out, fan_in), "b": draw(fan_out), "B": draw(batch, fan_out),
            "z": torch.empty(batch, fan_out, dtype=dtype, device=device),
            "dW": torch.empty(fan_out, fan_in, dtype=dtype, device=device),
            "dh": torch.empty(batch, fan_in, dtype=dtype, device=device),
        })

    def call() -> None:
        for t in layers:  # forward
            torch.addmm(t["b"], t["h"], t["W"].t(), out=t["z"])
        for i, t in enumerate(reversed(layers)):  # backward, last layer first
            torch.mm(t["B"].t(), t["h"], out=t["dW"])
            if i < len(layers) - 1:  # the data x get no gradient
                torch.mm(t["B"], t["W"], out=t["dh"])

    return call


def descent_call(sizes: Sequence[int], dtype: torch.dtype, device: torch.device, seed: int = 0) -> Callable[[], None]:
    """A call running the descent theta <- theta - lr g of a single network with layer widths
    ``sizes`` (weights (d_l, d_{l-1}) and biases (d_l,)) in ``dtype`` on ``device``: the same
    ``torch._foreach_addcmul_`` as the engines' eager steps, on random tensors (module docstring)."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"need >= 2 positive sizes; got {sizes}")
    gen = torch.Generator(device=device).manual_seed(seed)
    shapes = [shape for fan_in, fan_out in zip(sizes[:-1], sizes[1:]) for shape in ((fan_out, fan_in), (fan_out,))]
    params = [torch.randn(*shape, generator=gen, dtype=dtype, device=device) for shape in shapes]
    grads = [torch.randn(*shape, generator=gen, dtype=dtype, device=device) for shape in shapes]
    # a rate of 0 keeps theta bounded however often the call is timed; the arithmetic is the same
    rates = [torch.zeros((), dtype=dtype, device=device)] * len(params)

    def call() -> None:
        torch._foreach_addcmul_(params, grads, rates)

    return call
