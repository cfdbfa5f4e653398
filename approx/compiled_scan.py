"""K training steps in one compiled call: the analog of JAX's ``lax.scan`` over steps.

    scan = CompiledScan(net, optim.make("gd"), lr=0.05, engine_name="backprop", loss="mse", steps_per_call=10)
    params = net.parameters()
    losses, params = scan(params, state={}, x=x, y=y)   # losses (K, E): L(theta_t) .. L(theta_{t+K-1})

``approx.compiled_step`` compiles one step per call, because ``fit`` looks at every step (its
monitor stops, rolls back or freezes members step by step). Each call then pays Python, dynamo's
guards and a call into the graph, tens of microseconds on a CPU, around a single network's few
microseconds of arithmetic: at E = 1 that overhead, not the arithmetic, sets the step's time.
A user of JAX writes the loop itself into the compiled program (``lax.scan``) and pays it once
per K steps. ``CompiledScan`` does the same: the function compiled is

    (theta_t, optimizer state, x, y, rates, scalars (K, 3))
        -> (L(theta_t), ..., L(theta_{t+K-1})) (K, E), theta_{t+K}, the state after K steps

with the step of ``approx.compiled_step`` (loss, gradients by either engine, the optimizer's
update) applied K times. Dynamo unrolls the loop, so the graph holds K copies of the step and
its compile time grows with K (for [1, 16, 16, 1] tanh networks on one CPU thread, about 18 s at
K = 10 against 4 s for one step); the benchmark's peer rows measure what it saves per step.

What it gives up, by design: nothing looks at the parameters between the K steps, so there is
no early stop, rollback or per-member freeze inside a call, and the data are the same (x, y) for
all K steps (full-batch GD, SGD's momentum, Adam; no mini-batches). ``fit`` keeps one step per
call; this is for loops that need none of that: the benchmark, and a user's own training loop.
Results equal K calls of ``CompiledStep`` up to the graph's own fusion (tested to 1e-12 in float64
against K eager steps).

Members in cache-sized groups (``approx.member_groups``): a call runs a large ensemble's members
in groups whose activations fit a core's L2 cache, each group K steps at a time, one compiled
graph for the group's shape; the members never interact, so the results are the same up to
rounding (tested to 1e-12).

Per-step values enter as tensors (``scalars``: the schedule factor and Adam's two bias
corrections of each of the K steps), so a later call never recompiles for them. Like
``CompiledStep``, each key (engine, loss, optimizer, architecture, shapes, dtype, device, K)
compiles once, into a code object of its own, so any number of keys never hit dynamo's
recompile limit; compiled functions are kept in ``approx.compiled_step``'s cache.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from . import compiled_step as _compiled_step
from .member_groups import call_in_groups, default_members_per_call, join
from .network import Network

__all__ = ["CompiledScan"]


class CompiledScan(_compiled_step.CompiledStep):
    """K steps per call of one compiled function (module docstring); a CompiledStep whose call
    and compiled function take K steps (its setup, the rates, the CUDA-graph choice, are shared).

    net: the network being trained (single or ensemble); opt: an approx.optim optimizer; rate: a
    float or an (E,) tensor of learning rates; engine_name: "backprop" or "autograd"; loss: a
    loss name; steps_per_call: K >= 1; members_per_call: the group size G (module docstring;
    None: ``default_members_per_call`` for the data the first call gets). ``compile_s`` is the
    wall time of the compiles this scan caused (0.0 where its keys were already compiled).
    """

    def __init__(self, net: Network, opt, rate: float | Tensor, engine_name: str, loss: str, steps_per_call: int,
                 members_per_call: int | None = None):
        if isinstance(steps_per_call, bool) or not isinstance(steps_per_call, int) or steps_per_call < 1:
            raise ValueError(f"steps_per_call must be an integer >= 1, got {steps_per_call!r}")
        super().__init__(net, opt, rate, engine_name, loss, members_per_call)
        self.steps_per_call = steps_per_call

    def __call__(self, params: Sequence[Tensor], state: dict, x: Tensor, y: Tensor,
                 factors: Sequence[float] | None = None) -> tuple[Tensor, list[Tensor]]:
        """((K, E) losses L(theta_t), ..., L(theta_{t+K-1}), theta_{t+K}); ``state``'s buffers
        are replaced by those after the K steps. factors: the schedule's factor of each step
        (K floats; all 1 when None). A single network's losses are (K, 1), its parameters unstacked.
        """
        k = self.steps_per_call
        factors = [1.0] * k if factors is None else [float(f) for f in factors]
        if len(factors) != k:
            raise ValueError(f"factors must hold one value per step ({k}), got {len(factors)}")
        lead = (lambda t: t.unsqueeze(0)) if self.single else (lambda t: t)
        params = [_compiled_step._canonical(lead(p)) for p in params]
        buffers = {key: [_compiled_step._canonical(lead(b)) for b in v] for key, v in state.items() if key != "t"}
        t = state.get("t", 0)  # Adam's step count (opt.init's state holds it); the others have none
        rows = []
        for i in range(k):  # (factor, 1 - b1^t, sqrt(1 - b2^t)) of each step t + 1 .. t + K
            rows.append((factors[i], *(self.opt.corrections(t + i + 1) if self.adam else (1.0, 1.0))))
        scalars = torch.tensor(rows, dtype=self.dtype, device=self.device)  # (K, 3)
        x, y = _compiled_step._canonical(x), _compiled_step._canonical(y)
        if self.members_per_call is None:
            self.members_per_call = default_members_per_call(self.net, x.shape[-2])
        inputs = (params, buffers, x, y, self.rate, scalars)
        # per group of members (approx.member_groups), each K steps in cache: ((K, G) losses, params, buffers)
        parts = call_in_groups(self._function, inputs, self.members_per_call, self.graphs)
        parts = [(out[0].T, *out[1:]) for out in parts]  # losses (G, K): the member axis first, as join takes it
        losses, new, buffers = join(parts)
        losses = losses.T  # (K, E)
        if self.single:
            new = [p[0] for p in new]
            buffers = {key: [b[0] for b in v] for key, v in buffers.items()}
        state.update(buffers)
        if self.adam:
            state["t"] = t + k
        return losses, new

    def _function(self, inputs) -> Callable:
        """The compiled K-step function of this key; compiled (and timed) at its first call."""
        params, buffers, x, y, _, _ = inputs
        shapes = (tuple(tuple(p.shape) for p in params), tuple(x.shape), tuple(y.shape))
        key = ("scan", self.steps_per_call, *self.head, shapes, self.dtype, str(self.device), torch.is_grad_enabled())
        cache = _compiled_step._CACHE
        fn = cache.get(key)
        if fn is None:
            if len(cache) >= _compiled_step.MAX_COMPILED:
                del cache[next(iter(cache))]  # the oldest
            raw = _compiled_step._own_code(_scan_function(self.steps_per_call, *self.head[:5]), len(cache))
            compiled = torch.compile(raw, fullgraph=True, dynamic=False,
                                     mode="reduce-overhead" if self.graphs else None)
            fn = cache[key] = _compiled_step._Timed(compiled, self)
        return fn


def _scan_function(steps: int, engine_name: str, loss: str, opt, activations: tuple[str, ...],
                   scales: tuple[float, ...]) -> Callable:
    """K applications of ``approx.compiled_step``'s step, the losses stacked (K, E)."""
    step = _compiled_step._step_function(engine_name, loss, opt, activations, scales)

    def scan(params: list[Tensor], buffers: dict, x: Tensor, y: Tensor, rate: Tensor, scalars: Tensor):
        # params: [W1 (E, out, in), b1 (E, out), ...]; scalars (K, 3), one row per step
        losses = []
        for i in range(steps):  # unrolled by dynamo: K copies of the step in one graph
            value, params, buffers = step(params, buffers, x, y, rate, scalars[i])
            losses.append(value)
        return torch.stack(losses), params, buffers

    return scan
