"""Some members of an ensemble at a time: parameters as flat rows, and each member's data.

Second-order optimizers (``approx.levenberg_marquardt``, ``approx.lbfgs``) work on one vector
theta per member, and each member stops on its own, so each of their batched steps runs on the
members still going. Here theta is a row of (E, P), E = 1 for a single network, with columns as
in ``approx.jacobian`` (``net.parameters()`` in order, each flattened row-major). A single
network is evaluated as a single Network, never as an ensemble of one, so that an ensemble's
member and a single run take the same arithmetic path.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .jacobian import parameter_slices
from .network import Network

__all__ = ["flatten", "unflatten", "member_data", "FlatStepper"]


def flatten(net: Network) -> Tensor:
    """The parameters of ``net`` as rows (E, P), or (1, P) for a single network (a new tensor)."""
    lead = net.ensemble or 1
    return torch.cat([p.reshape(lead, -1) for p in net.parameters()], dim=1)


def unflatten(template: Network, theta: Tensor) -> Network:
    """The Network shaped like ``template`` with parameters theta: a single network from a
    (1, P) row if ``template`` is single, else an ensemble of theta.shape[0] members."""
    single = template.ensemble is None
    params = []
    for s, p in zip(parameter_slices(template), template.parameters()):
        shape = p.shape if single else p.shape[1:]  # one member's shape
        params.append(theta[0, s].reshape(shape) if single else theta[:, s].reshape(theta.shape[0], *shape))
    return template.with_parameters(params)


def member_data(x: Tensor, y: Tensor, members: Tensor, single: bool) -> tuple[Tensor, Tensor]:
    """(x, y) for the listed members: x shared (batch, d_0) or per member (E, batch, d_0), and y
    (E, batch, d_L) (as ``engine_inputs.check_batch`` returns it); a single network's data as is."""
    if single:
        return x, y
    return (x if x.ndim == 2 else x[members]), y[members]



class FlatStepper:
    """What fit's loop asks of a stepper that keeps each member's parameters as one row of
    ``theta`` (E, P) over the Network ``template``: snapshots to roll back to, freezing, and the
    Network it ends with. Subclasses set ``template``, ``theta`` and ``running``."""

    template: Network
    theta: Tensor  # (E, P)
    running: list[bool]

    def network(self) -> Network:
        return unflatten(self.template, self.theta)

    result = network

    def snapshot(self) -> Tensor:
        return self.theta.clone()  # (E, P): updates write into theta

    def restore(self, members: set[int], snapshot: Tensor) -> None:
        idx = torch.tensor(sorted(members), device=self.theta.device)
        self.theta[idx] = snapshot[idx]

    def freeze(self, running: list[bool]) -> None:
        self.running = list(running)
