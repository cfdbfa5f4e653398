"""One training step (forward + backward + update) per engine and mode, as a closure that updates
its parameters in place: what the benchmark times.

Engines (each trains on the mean squared error):

    backprop   approx.backprop.loss_and_grad (the hand-written engine), then gradient descent
    autograd   approx.autograd.loss_and_grad (torch.autograd on the Network), then the same descent
    module     PyTorch as it is usually written, on ``Network.to_module()``:
               opt.zero_grad(); mse_loss(model(x), y).backward(); opt.step()  (torch.optim.SGD)

The descent for backprop and autograd is theta <- theta - lr g, one ``_foreach_addcmul_`` over the tensors, with
lr a 0-d tensor on the device: a CUDA graph reads the rate when it replays, so the accuracy check
can change it without capturing again. Both engines return a single network's loss as a Python
float, which costs a host synchronisation per step on CUDA; that is part of their step.

Modes:

    eager                     the step as written
    loop                      an ensemble of E networks trained by a Python loop over E
                              single-network steps (backprop, autograd); the batched
                              alternative is mode eager on the ensemble itself
    compile                   module with the forward under torch.compile (default mode); the
                              backward is the compiled graph's, the optimizer step runs eagerly
    compile-reduce-overhead   the same with mode="reduce-overhead" (CUDA graphs inside; CUDA)
    compiled-step             backprop or autograd, the whole step (loss, gradients, the same
                              descent) compiled as ``fit(compile="on")`` compiles it
                              (approx.compiled_step); the new parameters it returns are copied
                              into the live ones, a copy of P numbers per member
    compiled-scan             the same step K times in one compiled call (approx.compiled_scan,
                              K = ``steps_per_call``): ``run()`` takes K steps, as the JAX peer's
                              lax.scan does, and the benchmark divides its time by K

A step captured in a CUDA graph is ``approx.bench.graphs.capture`` of an eager step.

For the reverse / forward ratio an eager step also carries its parts: ``forward`` evaluates f(x)
and the loss with no gradient (nothing recorded: the cost of the function itself, the same
``net(x)`` for backprop and autograd), and ``gradient`` is the engine's loss and gradient without
the update (backprop and autograd: ``loss_and_grad``; module: ``zero_grad`` and ``backward``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .. import autograd as _autograd
from .. import backprop as _backprop
from .. import losses as _losses
from ..network import Network

__all__ = ["STEP_VARIANTS", "STEP_MODES", "COMPILE_MODES", "COMPILED_STEP", "COMPILED_SCAN", "COMPILING_MODES", "Step",
           "make_step", "member_rows"]

STEP_VARIANTS = ("backprop", "autograd", "module")  # the two engines, and nn.Module + torch.optim
COMPILE_MODES = {"compile": "default", "compile-reduce-overhead": "reduce-overhead"}
COMPILED_STEP = "compiled-step"  # the engines' whole step, as fit(compile="on") runs it
COMPILED_SCAN = "compiled-scan"  # K of those steps per compiled call (approx.compiled_scan)
STEP_MODES = ("eager", "loop", *COMPILE_MODES, COMPILED_STEP, COMPILED_SCAN)
COMPILING_MODES = frozenset({*COMPILE_MODES, COMPILED_STEP, COMPILED_SCAN})  # whose first call compiles
_LOSS_AND_GRAD = {"backprop": _backprop.loss_and_grad, "autograd": _autograd.loss_and_grad}


@dataclass
class Step:
    """A training step that updates ``blocks`` in place each time ``run()`` is called."""

    run: Callable[[], object]
    blocks: list[list[Tensor]]  # per member e: the live tensors [W1, b1, W2, ...] the step updates
    set_lr: Callable[[float], None]
    forward: Callable[[], object] | None = None  # f(x) and the loss, no gradients (eager modes)
    gradient: Callable[[], object] | None = None  # the loss and every gradient, no update (eager modes)

    def read(self) -> Tensor:
        """The parameters as an (E, P) float64 matrix, one row per member."""
        return torch.stack([torch.cat([t.detach().reshape(-1) for t in blk]).double() for blk in self.blocks])

    def write(self, theta: Tensor) -> None:
        """Copy an (E, P) matrix (as from ``read``) into the live parameters."""
        if theta.shape[0] != len(self.blocks):
            raise ValueError(f"theta has {theta.shape[0]} rows for {len(self.blocks)} members")
        with torch.no_grad():
            for blk, row in zip(self.blocks, theta):
                offset = 0
                for t in blk:
                    t.copy_(row[offset : offset + t.numel()].view_as(t))
                    offset += t.numel()


def member_rows(tensors: list[Tensor], stacked: bool) -> Tensor:
    """[W1, b1, ...] (each with a leading E axis when ``stacked``) as an (E, P) float64 matrix."""
    if not stacked:
        tensors = [t.unsqueeze(0) for t in tensors]
    return torch.cat([t.detach().reshape(t.shape[0], -1).double() for t in tensors], dim=1)


def make_step(engine: str, mode: str, net: Network, x: Tensor, y: Tensor, lr: float,
              steps_per_call: int = 1) -> Step:
    """The step of ``engine`` in ``mode`` on (x, y); ``net``'s tensors become the live parameters.

    x: (batch, d_in), shared by every member of an ensemble; y: (batch, 1). steps_per_call: K,
    the steps one ``run()`` takes in mode compiled-scan (every other mode takes one).
    """
    if engine not in STEP_VARIANTS:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(STEP_VARIANTS)}")
    if mode not in STEP_MODES:
        raise ValueError(f"unknown step mode {mode!r}; allowed: {', '.join(STEP_MODES)}")
    if engine == "module":
        if mode in (COMPILED_STEP, COMPILED_SCAN):
            raise ValueError(f"mode {mode!r} compiles backprop's or autograd's step; the module engine uses 'compile'")
        if mode == "loop" or net.ensemble is not None:
            raise ValueError("the module engine trains one network; ensembles use backprop or autograd")
        return _module_step(net, x, y, lr, COMPILE_MODES.get(mode))
    if mode in COMPILE_MODES:
        raise ValueError(f"mode {mode!r} compiles the module engine, not {engine!r}")
    if mode in (COMPILED_STEP, COMPILED_SCAN):
        return _compiled_step(engine, net, x, y, lr, steps_per_call if mode == COMPILED_SCAN else None)
    neg_lr = torch.full((), -lr, dtype=net.dtype, device=net.device)
    if mode == "loop":
        if net.ensemble is None:
            raise ValueError("mode 'loop' needs an ensemble to loop over")
        members = [_engine_step(engine, m.clone(), x, y, neg_lr) for m in net.unstack()]

        def run_all() -> None:
            for member in members:
                member.run()

        return Step(run_all, [m.blocks[0] for m in members], members[0].set_lr)
    return _engine_step(engine, net, x, y, neg_lr)


def _engine_step(engine: str, net: Network, x: Tensor, y: Tensor, neg_lr: Tensor) -> Step:
    loss_and_grad = _LOSS_AND_GRAD[engine]
    params = net.parameters()
    stacked = net.ensemble is not None
    mse = _losses.get("mse").value

    def gradient() -> list[Tensor]:
        return loss_and_grad(net, x, y, "mse")[1]

    rates = [neg_lr] * len(params)

    def run() -> None:
        # theta <- theta - lr g for every tensor in one call (a Python call per tensor costs
        # more than the arithmetic of a small network's update)
        torch._foreach_addcmul_(params, gradient(), rates)

    def forward() -> Tensor:
        with torch.no_grad():
            p = net(x)
            return mse(p, y.expand_as(p), stacked)

    blocks = [[p[e] for p in params] for e in range(net.ensemble)] if stacked else [params]
    return Step(run, blocks, lambda lr: neg_lr.fill_(-lr), forward, gradient)


def _compiled_step(engine: str, net: Network, x: Tensor, y: Tensor, lr: float, steps: int | None) -> Step:
    """compiled-step (steps None) or compiled-scan (K = steps per run)."""
    from .. import optim
    from ..compiled_scan import CompiledScan
    from ..compiled_step import CompiledStep

    # the rate becomes an (E,) tensor, an input of the graph: set_lr changes it without a recompile
    if steps is None:
        compiled = CompiledStep(net, optim.make("gd"), float(lr), engine, "mse")
        call = lambda: compiled(params, state, x, y, 1.0)  # noqa: E731
    else:
        compiled = CompiledScan(net, optim.make("gd"), float(lr), engine, "mse", steps)
        call = lambda: compiled(params, state, x, y)  # noqa: E731
    params = net.parameters()
    state: dict = {}

    def run() -> None:
        _, new = call()
        with torch.no_grad():
            for p, q in zip(params, new):
                p.copy_(q)

    def set_lr(value: float) -> None:
        compiled.rate.fill_(value)

    stacked = net.ensemble is not None
    blocks = [[p[e] for p in params] for e in range(net.ensemble)] if stacked else [params]
    return Step(run, blocks, set_lr)


def _module_step(net: Network, x: Tensor, y: Tensor, lr: float, compile_mode: str | None) -> Step:
    model = net.to_module()
    params = list(model.parameters())  # [W1, b1, W2, ...]: Linear layers in order
    optimizer = torch.optim.SGD(params, lr=lr)
    forward_fn = model if compile_mode is None else torch.compile(model, mode=compile_mode)
    mark_step = compile_mode == "reduce-overhead"
    mse_loss = torch.nn.functional.mse_loss

    def gradient() -> None:
        optimizer.zero_grad(set_to_none=True)
        mse_loss(forward_fn(x), y).backward()

    def run() -> None:
        if mark_step:  # tells the CUDA-graph trees a new iteration begins
            torch.compiler.cudagraph_mark_step_begin()
        gradient()
        optimizer.step()

    def forward() -> Tensor:
        with torch.no_grad():
            return mse_loss(model(x), y)

    def set_lr(value: float) -> None:
        for group in optimizer.param_groups:
            group["lr"] = value

    eager = compile_mode is None
    return Step(run, [params], set_lr, forward if eager else None, gradient if eager else None)
