"""First-order steps for ``approx.train.fit``: an engine's gradient, on all the data or a
mini-batch, turned into new parameters by an optimizer of ``approx.optim``.

At step t the engine returns L(theta_t) and its gradient on the step's data; the optimizer moves
every running member to theta_{t+1} with rate eta * schedule(t, steps). Members that stopped keep
their parameters (a mask over the ensemble axis), so the rest of the ensemble trains on as if
alone.

Mini-batches: each step uses batch_size points drawn without replacement from a fresh
permutation every epoch (the last n % batch_size points of a permutation are skipped). Member
e's permutations come from a CPU torch.Generator seeded with ``member_seeds(seed, E)[e]``
(approx.network), so runs repeat bit for bit and member e sees the batches a single run with
its seed sees.

Compiled steps (``options.compile``, approx.compiled_step): where fit compiles, ``evaluate(t)``
runs the whole step at once, L(theta_t) with its gradient and the update to theta_{t+1}, and
``update(t)`` only takes the new parameters (masked as below); the rate of step t is known at
``evaluate(t)``, and what the monitor does in between (restore and freeze members) only changes
members that the mask then holds still, so the trajectory is the eager one (to rounding).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from . import optim as _optim
from . import schedules as _schedules
from .compiled_step import CompiledStep, should_compile
from .fit_options import FitOptions
from .network import Network, member_seeds

__all__ = ["FirstOrder"]


class FirstOrder:
    """The stepper of fit for gd, sgd and adam (the protocol is in ``approx.train``).

    x, y: the training data, checked and on the network's device and dtype; loss_and_grad:
    the engine's function; rate: ``optim.member_rates``'s float or (E,) tensor.
    """

    columns: tuple[str, ...] = ()  # no history columns of its own

    def __init__(self, net: Network, x: Tensor, y: Tensor, options: FitOptions,
                 loss_and_grad: Callable, rate: float | Tensor):
        self.net, self.x, self.y, self.loss_and_grad = net, x, y, loss_and_grad
        self.loss, self.steps, self.rate = options.loss, options.steps, rate
        self.ensemble = net.ensemble
        self.opt = _optim.make(options.optimizer, momentum=options.momentum, nesterov=options.nesterov,
                               weight_decay=options.weight_decay, betas=options.betas, eps=options.eps)
        self.factor = _schedules.get(options.schedule)
        self.constant_rate = options.schedule == "constant"
        self.batches = None
        if options.batch_size is not None:
            n_points = x.shape[-2]
            if options.batch_size > n_points:
                raise ValueError(f"batch_size={options.batch_size} exceeds the {n_points} training points")
            self.batches = _Batches(n_points, options.batch_size, member_seeds(options.seed, net.ensemble or 1),
                                    net.device, single=net.ensemble is None)
        self.params = net.parameters()
        self.state = self.opt.init(self.params)
        self.keep = None  # (E,) bool on the device: members still training, None while all are
        self.current = net
        self.grads: list[Tensor] = []
        self.compiled = None  # the compiled step, where fit compiles (module docstring)
        n_step_points = x.shape[-2] if options.batch_size is None else options.batch_size
        if should_compile(options.compile, options.optimizer, options.engine, net.n_params, net.ensemble,
                          n_step_points, options.steps):
            self.compiled = CompiledStep(net, self.opt, rate, options.engine, options.loss)
        self.pending: list[Tensor] = []  # theta_{t+1}, from a compiled evaluate(t)

    @property
    def compile_s(self) -> float:
        """Seconds this fit spent compiling (0.0 uncompiled, or where the step was cached)."""
        return 0.0 if self.compiled is None else self.compiled.compile_s

    @property
    def mini_batch(self) -> bool:
        """Whether ``evaluate`` gives a mini-batch's loss rather than the full training loss."""
        return self.batches is not None

    def evaluate(self, t: int) -> float | Tensor:
        """L(theta_t) on step t's data, keeping its gradient for ``update``."""
        self.current = self.net.with_parameters(self.params)
        if self.compiled is not None:
            x, y = self.x, self.y
            if self.batches is not None:
                x, y = _gather(self.x, self.y, self.batches.next(), self.ensemble)
            factor = 1.0 if self.constant_rate else self.factor(t, self.steps)
            value, self.pending = self.compiled(self.params, self.state, x, y, factor)
        elif self.batches is None:
            value, self.grads = self.loss_and_grad(self.current, self.x, self.y, self.loss)
        else:
            index = self.batches.next()  # (batch,) or (E, batch)
            value, self.grads = self.loss_and_grad(self.current, *_gather(self.x, self.y, index, self.ensemble),
                                                   self.loss)
        return value

    def full_loss(self) -> float | Tensor:
        """L(theta_t) on all the training data."""
        return self.loss_and_grad(self.current, self.x, self.y, self.loss)[0]

    def stops(self) -> dict[int, str]:
        """No verdicts of its own: the monitor judges the loss."""
        return {}

    def network(self) -> Network:
        """The network at theta_t (what the metrics read)."""
        return self.current

    def values(self, members: list[int]) -> list[list]:
        return [[] for _ in members]

    def snapshot(self) -> list[Tensor]:
        return self.params  # optimizer steps make new tensors: keeping these costs nothing

    def restore(self, members: set[int], snapshot: list[Tensor]) -> None:
        """The listed members' parameters taken back from ``snapshot``."""
        self.params = _select(members, snapshot, self.params, self.ensemble)

    def freeze(self, running: list[bool]) -> None:
        """From now on only the members with running[e] move."""
        if self.ensemble:
            self.keep = torch.tensor(running, device=self.net.device)

    def update(self, t: int) -> None:
        """theta_{t+1} from the gradient of ``evaluate(t)``."""
        if self.compiled is not None:
            new = self.pending
        else:
            rate = self.rate if self.constant_rate else self.rate * self.factor(t, self.steps)
            new = self.opt.step(self.params, self.grads, rate, self.state)
        if self.keep is not None:
            new = [torch.where(self.keep.view(-1, *([1] * (p.ndim - 1))), q, p) for p, q in zip(self.params, new)]
        self.params = new

    def result(self) -> Network:
        return self.net.with_parameters(self.params)


def _select(members: set, source: list[Tensor], params: list[Tensor], ensemble) -> list[Tensor]:
    """``params`` with the listed members' tensors taken from ``source``."""
    if not ensemble:
        return source
    mask = torch.zeros(ensemble, dtype=torch.bool)
    mask[list(members)] = True
    mask = mask.to(params[0].device)
    return [torch.where(mask.view(-1, *([1] * (p.ndim - 1))), s, p) for s, p in zip(source, params)]


class _Batches:
    """Mini-batch indices: per member a seeded CPU generator draws one permutation per epoch."""

    def __init__(self, n_points: int, batch_size: int, seeds: list[int], device: torch.device,
                 single: bool):
        self.n_points, self.batch_size, self.device, self.single = n_points, batch_size, device, single
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.per_epoch = n_points // batch_size
        self.position = self.per_epoch  # start with a fresh epoch

    def next(self) -> Tensor:
        if self.position == self.per_epoch:
            used = self.per_epoch * self.batch_size
            perms = torch.stack([torch.randperm(self.n_points, generator=g)[:used]
                                 for g in self.generators])  # (members, used)
            # one transfer per epoch; then each step is a view
            self.block = perms.view(len(self.generators), self.per_epoch, self.batch_size).to(self.device)
            self.position = 0
        index = self.block[:, self.position]  # (members, batch)
        self.position += 1
        return index[0] if self.single else index


def _gather(x: Tensor, y: Tensor, index: Tensor, ensemble) -> tuple[Tensor, Tensor]:
    """The mini-batch: rows ``index`` ((batch,), or (E, batch) per member) of x and y."""
    if not ensemble:
        return x[index], y[index]
    return tuple(d[index] if d.ndim == 2 else torch.take_along_dim(d, index.unsqueeze(-1), dim=1)
                 for d in (x, y))  # (E, batch, d)
