"""Running an ensemble's compiled step in cache-sized groups of members.

An ensemble's step streams every activation, E x batch x width numbers per layer, through memory
several times (the batched products, the activation, its derivative, the update). Once those
tensors outgrow a core's L2 cache, each pass waits on memory and the batched products slow
down with it. The members never interact, so a compiled step (``approx.compiled_step``) or scan
(``approx.compiled_scan``) can run them in groups of G, one call per group of the graph compiled
for G members, and put the groups' results side by side again: the same numbers, in cache.

G defaults to all E where their activations fit ``CACHE_BYTES``, else to the largest power of
two whose (G, batch, widest layer) activation tensor does: 64 members of width 64 on 64 points
in float32 (16 KiB each). The size was chosen by timing, on one thread of the project's 2-core
AMD EPYC (1 MiB of L2 per core), E = 1024 [1, 64, 64, 1] tanh networks in one group and in
groups of 256 down to 32, in a one-off sweep that is not a command here (so its figures are not
quoted): the groups that fit the cache ran fastest, and at width 16, where the whole ensemble
nearly fits, grouping changed little. What the groups give at the default size is in
results/benchmark-peer-cpu.csv (``approx run benchmark --preset peer``). A GPU wants the whole
ensemble at once: there G = E.

    groups = member_slices(E, G)               # [slice(0, G), slice(G, 2G), ...]
    outputs = call_in_groups(function_of, inputs, G, graphs)   # the compiled step on each group
    joined = join(outputs)                     # every tensor concatenated along the member axis
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .network import Network

__all__ = ["CACHE_BYTES", "default_members_per_call", "check_members_per_call", "member_slices", "call_in_groups",
           "join"]

CACHE_BYTES = 2**20  # a group's largest activation tensor fits in this (the EPYC's L2 per core)


def default_members_per_call(net: Network, n_points: int) -> int:
    """E where all E members' n_points x widest-layer activations fit in CACHE_BYTES, on a GPU, or
    for a single network; otherwise the largest power of two G with G members' fitting (at least 1)."""
    members = net.ensemble or 1
    per_member = n_points * max(net.sizes) * torch.finfo(net.dtype).bits // 8
    if net.device.type == "cuda" or members * per_member <= CACHE_BYTES:
        return members
    group = 1
    while group * 2 * per_member <= CACHE_BYTES:  # stays below E, whose activations do not fit
        group *= 2
    return group


def check_members_per_call(value) -> int | None:
    """``value`` if it is None or an integer >= 1; else ValueError naming it."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"members_per_call must be an integer >= 1 or None, got {value!r}")
    return value


def member_slices(members: int, group: int) -> list[slice]:
    """Consecutive groups of ``group`` members (the last may be smaller) covering 0 .. members - 1."""
    return [slice(lo, min(lo + group, members)) for lo in range(0, members, group)]


def call_in_groups(function_of: Callable, inputs: tuple, group: int, graphs: bool) -> list:
    """The outputs of a compiled step on each group of ``group`` members, in order.

    inputs: (params, buffers, x, y, rate, scalars) as the compiled step takes them, params and
    buffers with the member axis first, rate (E,), x and y shared (2-d) or per member (3-d);
    function_of(group inputs): the compiled function for that group's shapes. A group is a view
    (a slice along the members), or the tensors themselves when one group holds them all. With
    ``graphs`` (CUDA graphs) every output is cloned, since the next replay overwrites it.
    """
    params, buffers, x, y, rate, scalars = inputs
    members = params[0].shape[0]
    outputs = []
    for part in member_slices(members, group):
        pick = (lambda t: t) if part == slice(0, members) else (lambda t, part=part: t[part])
        group_inputs = ([pick(p) for p in params], {k: [pick(b) for b in v] for k, v in buffers.items()},
                        x if x.ndim == 2 else pick(x), y if y.ndim == 2 else pick(y), pick(rate), scalars)
        fn = function_of(group_inputs)
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        out = fn(*group_inputs)
        if graphs:
            out = (out[0].clone(), [p.clone() for p in out[1]], {k: [b.clone() for b in v] for k, v in out[2].items()})
        outputs.append(out)
    return outputs


def join(outputs: list):
    """The groups' outputs side by side: tensors, and lists and dicts of them, concatenated along the
    member axis (dim 0; dim 1 for a (K, G) tensor of losses is the caller's to say: ``join`` takes
    dim 0 throughout, so the scan transposes its losses first). One group is returned as it is."""
    if len(outputs) == 1:
        return outputs[0]
    first = outputs[0]
    if isinstance(first, Tensor):
        return torch.cat(outputs)
    if isinstance(first, dict):
        return {key: join([out[key] for out in outputs]) for key in first}
    if isinstance(first, (list, tuple)):
        return type(first)(join([out[i] for out in outputs]) for i in range(len(first)))
    raise TypeError(f"cannot join outputs of type {type(first).__name__}")
