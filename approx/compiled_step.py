"""Compiled first-order training steps: ``fit(..., compile="off" | "on" | "auto")``.

    net, history = fit(net, (x, y), optimizer="adam", steps=20_000, compile="auto")
    history.attrs["compile_s"]        # seconds this fit spent compiling (0.0 if none, or cached)

What is compiled: the whole step of gd, sgd and adam, as one function

    (theta_t, optimizer state, x, y, rates, scalars) -> (L(theta_t) (E,), theta_{t+1}, new state)

that is, the forward pass, the loss, every gradient (by either engine: the hand-written fused
layer nodes of approx.backprop, or torch.autograd.grad, which dynamo traces with
``trace_autograd_ops``) and the optimizer's update (approx.optim's own rules, run on copies of
the state so that no input is mutated). ``torch.compile`` turns it into one graph of a few fused
C++ (CPU) or Triton (CUDA) kernels. In float32 its tanh is the rational function of Eigen and XLA
(``approx.activations.rational_tanh``, within 4 ulps), which fuses into those kernels; torch's
tanh kernel took about as long as the matrix products in a step of [1, 64, 64, 1] tanh networks.
In float64 it is Cody & Waite's (``approx.activations.cody_waite_tanh``, within 2.5 ulps), and
under autograd either has tanh's gradient rule, (1 - y)(1 + y), as the hand-written engine.

Why: the networks of the studies are small, so an eager step is dozens of tiny kernels with
Python between them (about 100 us on one CPU thread for a [1, 16, 16, 1] network on 64 points,
of which only a few us are arithmetic), and an ensemble step streams every intermediate through
memory once per op. Fused, fit's step of an ensemble takes 1.3 (hand-written engine) to 1.9
(autograd) times less time per model at E = 64 to 1024 (measured below, under load), at the
price of compiling once. At E = 1 the compiled call's own overhead stays (the Python loop of fit
over steps, the monitor, the call into the compiled graph): autograd gains 1.8 times, and the
hand-written engine, whose eager step is lean, loses.

Shapes: a single network runs as an ensemble of one (no ``.item()`` inside the graph, so one
graph, as approx.bench.graphs does for CUDA graphs); its loss is read to the host after the
call, as the eager engines read it. The graph depends on the engine, the loss, the optimizer and
its hyperparameters, the activations and scales, every tensor's shape, the dtype, the device and
the mode: that tuple is the key of a module-level cache of compiled functions, so a fit reuses
the function that an earlier fit (an earlier sweep point) with the same key compiled, and pays
nothing. Every key is compiled once for its shapes (``dynamic=False``: the fastest code for
small tensors), as one graph (``fullgraph=True``: a graph break is an error, never a silent
partial compile). Recompilation is bounded: dynamo keeps compiled code per Python code object
and, past ``torch._dynamo.config.recompile_limit`` (8) entries, silently runs eager; so every
key gets a code object of its own (a copy of the step's), holding one entry, and a sweep over
any number of widths compiles each width once: no code object ever holds a second entry, so the
limit is never reached (tests/test_compiled_step.py counts a sweep's graphs, with one shared
code object as the control). The cache keeps the last ``MAX_COMPILED`` keys and forgets the
oldest.

A large ensemble runs in groups of members whose activations fit a core's L2 cache, one call per
group of the graph compiled for the group's shape (``approx.member_groups``: the members never
interact, so the numbers are those of one call, up to rounding); an ensemble that fits runs as
one group, as before.

Per-step values that change (the schedule's factor, Adam's bias corrections 1 - b1^t and
sqrt(1 - b2^t)) enter as a tensor, not as constants, so they never trigger a recompile; rates
are an (E,) tensor. Learning rates of a sweep point therefore share the compiled step too.

On CUDA a compiled step ("on", or "auto" where it compiles) also replays as a CUDA graph
(``mode="reduce-overhead"``; "auto" decides with the CPU constants below, which understate
what CUDA gains, as its eager step is launch-bound: not measured, no GPU here); a replay
overwrites the previous replay's outputs, so they are cloned (the monitor keeps the last good
parameters to roll back to). Untested without a GPU here (tests/test_compiled_step.py has the
``gpu`` test).

"auto" compiles when the planned steps make the saving outweigh the compile time:

    steps * saving_per_step(E, P, n) > COMPILE_S,
    saving_per_step = SAVING_FIXED_S[engine] + SAVING_PER_MAC_S[engine] * E * P * n

with P the parameters per member and n the points per step (E * P * n is, to a constant, the
multiply-adds of a step). The fixed term is what compiling saves of the per-step overhead: for
the hand-written engine it is negative (its eager step is already lean, and the compiled call's
own overhead, ~130 us per step in fit under load, exceeds it), so a single network or a small
ensemble on that engine is never compiled by "auto". It decides from the fit's shape alone, not from what the cache already
holds, so the same fit takes the same path (and gives the same rounding) in any order. The
constants are in the code below with how they were measured. They are conservative: the
ensembles study (``approx run ensembles``) sets their prediction beside the saving it measures,
and for float64 ensembles of [1, 16, 1] networks the model predicts several times less than
compiling saved (the study's description has the figures), so "auto" compiles such fits later
than it could. They stay as measured, because changing them changes which studies' fits compile,
and so the rounding of their committed results. LM and L-BFGS are never compiled
("auto" runs them eagerly; "on" is refused by approx.fit_options).
"""
from __future__ import annotations

import functools
import time
import types
from typing import Callable

import pandas as pd
import torch
from torch import Tensor

from .member_groups import call_in_groups, check_members_per_call, default_members_per_call, join
from .network import Network

__all__ = ["COMPILE_CHOICES", "MAX_COMPILED", "CompiledStep", "should_compile", "compiled_count",
           "clear_cache", "compile_seconds", "records_compile_time"]

COMPILE_CHOICES = ("off", "on", "auto")
MAX_COMPILED = 64  # compiled keys kept; the oldest is forgotten to make room

# The "auto" model (module docstring). Measured once on this machine (shared 2-core VM, torch
# 2.14.1, one thread, load average 3 to 4.6 from other jobs: noisy) by timing fit's step,
# eager and compiled in alternating rounds (the minimum of 5), for [1, 16, 16, 1] tanh networks
# (P = 321) on 64 points, float32, GD, at E = 1, 64 and 1024 (E * P * n = 2.1e4 per member):
#   backprop  E = 1: 92 -> 131 us;   E = 64: 0.88 -> 0.59 ms;   E = 1024: 14.1 -> 11.1 ms
#   autograd  E = 1: 236 -> 130 us;  E = 64: 1.11 -> 0.59 ms;   E = 1024: 16.1 -> 9.7 ms
# and the first compile of a key: 3 to 5 s, 16 s for the first in a process with a cold
# inductor cache (tests/test_compiled_step.py's first one took 40 s for a 6-layer network).
COMPILE_S = 10.0  # seconds a compile is taken to cost
SAVING_FIXED_S = {"backprop": -40e-6, "autograd": 100e-6}  # per step, at E -> 0
SAVING_PER_MAC_S = {"backprop": 1.5e-10, "autograd": 3e-10}  # per step and unit of E * P * n

_CACHE: dict[tuple, Callable] = {}
_SPENT = [0.0]  # seconds this process has spent compiling steps (compile_seconds)


def should_compile(choice: str, optimizer: str, engine: str, n_params: int, ensemble: int | None,
                   n_points: int, steps: int) -> bool:
    """Whether ``fit`` compiles: "on", or "auto" where the model above says it pays."""
    if choice == "off" or optimizer not in ("gd", "sgd", "adam"):
        return False
    if choice == "on":
        return True
    saving = SAVING_FIXED_S[engine] + SAVING_PER_MAC_S[engine] * (ensemble or 1) * n_params * n_points
    return steps * saving > COMPILE_S


def compiled_count() -> int:
    """How many compiled step functions the cache holds (one per key; tests count with it)."""
    return len(_CACHE)


def compile_seconds() -> float:
    """Seconds this process has spent compiling fit's steps so far."""
    return _SPENT[0]


def records_compile_time(run_point: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """A study's ``run_point`` that also leaves, in its frame's ``attrs["compile_s"]``, the seconds
    the point spent compiling; the runner adds them up into the study's JSON (``compile_s``)."""

    @functools.wraps(run_point)
    def timed(*args, **kwargs) -> pd.DataFrame:
        before = compile_seconds()
        frame = run_point(*args, **kwargs)
        frame.attrs["compile_s"] = round(compile_seconds() - before, 3)
        return frame

    return timed


def clear_cache() -> None:
    """Forget every compiled step (the next fit of each key compiles again)."""
    _CACHE.clear()


class CompiledStep:
    """The compiled step of one fit: call it with theta_t's tensors, get L(theta_t) and theta_{t+1}.

    net: the network being trained (single or ensemble); opt: the approx.optim optimizer; rate:
    ``optim.member_rates``'s float or (E,) tensor; engine_name, loss: as in FitOptions;
    members_per_call: the ensemble's members run in groups of this many (``approx.member_groups``;
    None: its default for the first call's data). ``compile_s`` is the wall time of the compiles
    this fit caused (0.0 where the keys were cached).
    """

    def __init__(self, net: Network, opt, rate: float | Tensor, engine_name: str, loss: str,
                 members_per_call: int | None = None):
        self.single = net.ensemble is None
        self.net = net
        self.members_per_call = check_members_per_call(members_per_call)  # None: the default, at the first call
        self.opt = opt
        self.adam = hasattr(opt, "corrected_step")
        self.dtype, self.device = net.dtype, net.device
        members = net.ensemble or 1
        self.rate = (torch.full((members,), rate, dtype=net.dtype, device=net.device)
                     if not isinstance(rate, Tensor) else rate)  # (E,)
        self.graphs = net.device.type == "cuda"  # "on" on CUDA: replay as a CUDA graph
        self.head = (engine_name, loss, opt, tuple(net.activations), tuple(net.scales), self.graphs)
        self.compile_s = 0.0
        self.first_call = True
        self.scalars: tuple = (None, None)  # the last (schedule factor, 1 - b1^t, sqrt(1 - b2^t)) and its tensor
        self.canonical: dict[int, tuple[Tensor, Tensor]] = {}  # id(data) -> (data, its canonical copy)

    def __call__(self, params: list[Tensor], state: dict, x: Tensor, y: Tensor,
                 factor: float) -> tuple[float | Tensor, list[Tensor]]:
        """(L(theta_t), theta_{t+1}) at rate * factor; ``state``'s buffers are replaced by the new ones.

        params: [W1, b1, ...] as the network holds them; x, y: the step's data (all of it, or
        a mini-batch), (n, d) or (E, n, d).
        """
        lead = (lambda t: t.unsqueeze(0)) if self.single else (lambda t: t)
        if self.first_call:  # the strides the graph expects (see _canonical); later inputs are its outputs
            params = [_canonical(p) for p in params]
            state.update({k: [_canonical(b) for b in v] for k, v in state.items() if k != "t"})
            self.first_call = False
        buffers = {k: [lead(b) for b in v] for k, v in state.items() if k != "t"}
        scalars = (factor, 1.0, 1.0)
        if self.adam:
            state["t"] += 1
            scalars = (factor, *self.opt.corrections(state["t"]))
        if scalars != self.scalars[0]:  # a new tensor only when they change (gd, sgd: rarely)
            self.scalars = (scalars, torch.tensor(scalars, dtype=self.dtype, device=self.device))
        params, x, y = [lead(p) for p in params], self._data(x), self._data(y)
        if self.members_per_call is None:
            self.members_per_call = default_members_per_call(self.net, x.shape[-2])
        inputs = (params, buffers, x, y, self.rate, self.scalars[1])
        # per group of members (approx.member_groups): (L (G,), theta_{t+1}, buffers)
        parts = call_in_groups(self._function, inputs, self.members_per_call, self.graphs)
        value, new, buffers = join(parts)
        if self.single:
            value, new = value.item(), [p[0] for p in new]
            buffers = {k: [b[0] for b in v] for k, v in buffers.items()}
        state.update(buffers)
        return value, new

    def _data(self, t: Tensor) -> Tensor:
        """``t`` in canonical strides; the full data set's copy is made once per fit."""
        kept = self.canonical.get(id(t))
        if kept is None or kept[0] is not t:
            kept = self.canonical[id(t)] = (t, _canonical(t))
            if len(self.canonical) > 4:  # mini-batches: new tensors at every step, keep none
                self.canonical.clear()
        return kept[1]

    def _function(self, inputs) -> Callable:
        """The compiled function of this key; compiled (and timed) at its first call here."""
        params, buffers, x, y, _, _ = inputs
        shapes = (tuple(tuple(p.shape) for p in params), tuple(x.shape), tuple(y.shape))
        # dynamo also guards on grad mode: a change would recompile outside our settings (_Timed)
        key = (*self.head, shapes, self.dtype, str(self.device), torch.is_grad_enabled())
        fn = _CACHE.get(key)
        if fn is None:
            if len(_CACHE) >= MAX_COMPILED:
                del _CACHE[next(iter(_CACHE))]  # the oldest
            raw = _own_code(_step_function(*self.head[:5]), len(_CACHE))
            compiled = torch.compile(raw, fullgraph=True, dynamic=False, mode="reduce-overhead" if self.graphs else None)
            fn = _CACHE[key] = _Timed(compiled, self)
        return fn


class _Timed:
    """A compiled function whose first call (the compile) is timed into the fit that makes it.

    Only that call runs under our dynamo setting, tracing ``torch.autograd.grad`` (the autograd
    engine): a patch costs ~50 us, as much as a small step."""

    def __init__(self, compiled: Callable, owner: CompiledStep):
        self.compiled, self.owner = compiled, owner

    def __call__(self, *inputs):
        if self.owner is None:
            return self.compiled(*inputs)
        start = time.perf_counter()
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            out = self.compiled(*inputs)
        spent = time.perf_counter() - start
        self.owner.compile_s += spent
        _SPENT[0] += spent
        self.owner = None
        return out


def _canonical(t: Tensor) -> Tensor:
    """A contiguous copy of ``t`` with torch's canonical strides, also along axes of size 1.

    Dynamo guards every input's strides exactly, those of size-1 axes included, where layouts
    differ without any difference in memory (a (1, 5, 1) weight may have strides (5, 1, 1) or
    (5, 1, 5)); so the step takes and returns tensors in this one layout, or each fit's first
    call would compile again (and outside our settings)."""
    return t.clone(memory_format=torch.contiguous_format)


def _own_code(fn: Callable, n: int) -> Callable:
    """``fn`` with a code object of its own (named step_n): dynamo's cache and its recompile
    count live on the code object, so each key starts with an empty one (module docstring)."""
    code = fn.__code__.replace(co_name=f"step_{n}", co_qualname=f"step_{n}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def _step_function(engine_name: str, loss: str, opt, activations: tuple[str, ...],
                   scales: tuple[float, ...]) -> Callable:
    """The step to compile, for one engine, loss, optimizer and architecture (see the docstring)."""
    from .train import engine_function

    loss_and_grad = engine_function(engine_name)
    adam = hasattr(opt, "corrected_step")

    def step(params: list[Tensor], buffers: dict, x: Tensor, y: Tensor, rate: Tensor, scalars: Tensor):
        # params: [W1 (E, out, in), b1 (E, out), ...]; buffers: the optimizer's, shaped like params;
        # rate (E,); scalars (3,): schedule factor, 1 - b1^t, sqrt(1 - b2^t)
        net = Network.from_parameters(params, activations, scales)
        value, grads = loss_and_grad(net, x, y, loss)  # (E,), like params
        state = {k: [b.clone() for b in v] for k, v in buffers.items()}  # updated in place below
        lr = rate * scalars[0]
        if adam:
            new = opt.corrected_step(params, grads, lr, state, scalars[1], scalars[2])
        else:
            new = opt.step(params, grads, lr, state)
        # outputs in canonical strides: they are the next call's inputs (see _canonical)
        return value, [_canonical(p) for p in new], {k: [_canonical(b) for b in v] for k, v in state.items()}

    return step
