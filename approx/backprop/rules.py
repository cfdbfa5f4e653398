"""The local-derivative rules: for each op, what a node sends to each of its children.

In the reverse pass a node u has summed what it received into B = df/du; its rule returns
B * du/du_c for each child u_c, one entry per child in order (None where nothing need be sent,
such as the data entering the first layer). One short rule per op, all in the table ``RULES``
(in the style of JAX's autodidax), so each local derivative sits next to its name.

Rules work on Python floats (scalar graphs) and on tensors alike. Tensor ops broadcast, so a
child of shape (3, 1) may have produced a (3, 4) result; ``sum_to`` then sums the contribution
back to the child's shape (the derivative of broadcasting is summation).

The fused ops at the end ("affine", "loss") are composite nodes for ``loss_and_grad``: a whole
layer z = s h W^T + b, or a whole loss, with a hand-derived rule instead of a graph of small ops.

Exceptional values (node.py): a rule evaluates its formula in IEEE 754 arithmetic and sends
whatever inf or nan it gives, never raises; on floats, division and powers go through
``scalar.divide`` and ``scalar.power`` for that. One limit is taken as torch takes it: the
exponent's message of u = a^b, B u log a, is 0 where a = 0 and b >= 0 (a^b is flat in b there,
while the formula reads 0 * -inf = nan).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from .. import activations as _activations
from .scalar import ACTIVATIONS as _SCALAR
from .scalar import divide, log, power

__all__ = ["RULES", "READS_Y_ONLY", "sum_to"]


def sum_to(g, value):
    """Sum the contribution g down to the shape of ``value`` (undo broadcasting)."""
    if type(g) is float:
        return g
    if not isinstance(value, Tensor):  # a Python number met a tensor: it gets a 0-dim sum
        return g.sum()
    shape = value.shape
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(dim=tuple(range(lead)))
    kept = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(dim=kept, keepdim=True) if kept else g


def _values(node):
    return [c.value for c in node.children]


# ---------------------------------------------------------------- arithmetic
# B is a float only in a graph of floats (any tensor operand makes the result a tensor), so the
# float branch, the hot path of scalar graphs, skips the broadcasting bookkeeping.
def _add(node, B):
    if type(B) is float:
        return B, B
    a, b = node.children
    return sum_to(B, a.value), sum_to(B, b.value)


def _sub(node, B):
    if type(B) is float:
        return B, -B
    a, b = node.children
    return sum_to(B, a.value), sum_to(-B, b.value)


def _mul(node, B):
    a, b = node.children
    a, b = a.value, b.value
    if type(B) is float:
        return B * b, B * a
    return sum_to(B * b, a), sum_to(B * a, b)


def _div(node, B):  # u = a / b:  du/da = 1/b,  du/db = -a/b^2 = -u/b
    a, b = node.children
    b = b.value
    if type(B) is float:
        B_over_b = divide(B, b)
        return B_over_b, -B_over_b * node.value
    return sum_to(B / b, a.value), sum_to(-B * node.value / b, b)


def _neg(node, B):
    return (-B,)


def _pow(node, B):  # u = a^b:  du/da = b a^(b-1) (0 at b = 0),  du/db = u log a (0 at a = 0, b >= 0)
    # at a = 0 the formulas give 0 * 0^-1 = nan (b = 0) and 0 * log 0 = nan: torch takes the
    # limits, 0 and 0, and so do we
    a, b = _values(node)
    if type(a) is float and type(b) is float:
        to_b = 0.0 if a == 0.0 and b >= 0.0 else B * node.value * log(a)
        return (0.0 if b == 0.0 else B * b * power(a, b - 1)), to_b
    # a tensor on at least one side (a float on the other gives Python bools and logs)
    flat = (a == 0) & (b >= 0)
    to_b = torch.where(flat, 0.0, B * node.value * (log(a) if type(a) is float else torch.log(a)))
    to_a = B * b * a ** (b - 1)
    to_a = torch.where(b == 0, 0.0, to_a) if type(b) is not float else (torch.zeros_like(to_a) if b == 0.0 else to_a)
    return sum_to(to_a, a), sum_to(to_b, b)


def _pow_const(node, B):  # u = a^c for a constant c:  du/da = c a^(c-1), 0 at c = 0 (as torch)
    c = node.arg
    if c == 0:
        return (0.0 if type(B) is float else torch.zeros_like(B),)
    return (B * c * power(node.children[0].value, c - 1),)


def _rpow_const(node, B):  # u = c^a for a constant c > 0:  du/da = u log c
    return (B * node.value * math.log(node.arg),)


def _exp(node, B):
    return (B * node.value,)


def _log(node, B):
    return (divide(B, node.children[0].value),)


# ---------------------------------------------------------------- tensor ops
def _matmul(node, B):  # u = a @ b:  da = B b^T,  db = a^T B  (1-D operands as row / column)
    a, b = _values(node)
    if a.ndim == 1 and b.ndim == 1:  # dot product
        return B * b, B * a
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(-1) if b.ndim == 1 else b
    B2 = B.unsqueeze(-2) if a.ndim == 1 else B
    B2 = B2.unsqueeze(-1) if b.ndim == 1 else B2
    ga = B2 @ b2.mT
    gb = a2.mT @ B2
    ga = ga.squeeze(-2) if a.ndim == 1 else ga
    gb = gb.squeeze(-1) if b.ndim == 1 else gb
    return sum_to(ga, a), sum_to(gb, b)


def _transpose(node, B):
    return (B.mT,)


def _expand_back(B, value, dim, keepdim):
    """B of a reduction over ``dim`` of ``value``, broadcast back to value's shape."""
    if dim is not None and not keepdim:
        for d in sorted(d % value.ndim for d in ((dim,) if isinstance(dim, int) else dim)):
            B = B.unsqueeze(d)
    return B.expand(value.shape)


def _sum(node, B):
    x = node.children[0].value
    if type(x) is float:
        return (B,)
    dim, keepdim = node.arg
    return (_expand_back(B, x, dim, keepdim),)


def _mean(node, B):
    x = node.children[0].value
    if type(x) is float:
        return (B,)
    dim, keepdim = node.arg
    n = x.numel() // max(node.value.numel(), 1)
    return (_expand_back(B / n, x, dim, keepdim),)


# ---------------------------------------------------------------- activations
def _activation_rule(name: str) -> Callable:
    """u = phi(x):  du/dx = phi'(x), from approx.activations (tensors) or .scalar (floats)."""
    tensor_derivative = _activations.get(name).derivative
    float_derivative = _SCALAR[name][1]

    def rule(node, B):
        x, y = node.children[0].value, node.value
        if type(x) is float:
            return (B * float_derivative(x, y),)
        # phi'(x) is a fresh tensor of x's shape (B's shape), so multiplying into it in place
        # saves allocating a third tensor of that size
        return (tensor_derivative(x, y).mul_(B),)

    rule.__name__ = f"_{name}"
    return rule


# ---------------------------------------------------------------- fused nodes for networks
# B *= phi'(x), in place, with y = phi(x): the same products as the activation rules above
# (tests check each against approx.activations), with no tensor like B allocated and few
# passes over memory, which is what these element-wise steps cost. phi'(y) is written over y
# itself: in a Network's graph nothing reads y after this rule (the affine node above, the
# only other reader, runs first, and the pass frees y next), and a fresh tensor of B's size
# per layer and step is what made the ensemble path slower than autograd's (each new one is
# paged in by the kernel: ~1000 page faults per 4 MB). y - y^2 and 1 - y^2 come from one fused
# multiply-add (addcmul: no cancellation where y is near 1, and bit for bit what PyTorch's own
# tanh derivative gives); the 0/1 derivatives are read off y in B's dtype, since multiplying
# by a boolean mask first converts it: relu' = sign(y), ramp' = sign(y - y^2).
def _one_minus_square_(y: Tensor) -> Tensor:
    return torch.addcmul(y.new_ones(()), y, y, value=-1, out=y)


_INTO_MESSAGE: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {  # (B, x, y): y is overwritten
    "identity": lambda B, x, y: B,
    "relu": lambda B, x, y: B.mul_(y.sign_()),
    "sigmoid": lambda B, x, y: B.mul_(torch.addcmul(y, y, y, value=-1, out=y)),
    "tanh": lambda B, x, y: B.mul_(_one_minus_square_(y)),
    "softplus": lambda B, x, y: B.mul_(_activations.get("softplus").derivative(x, y)),
    "ramp": lambda B, x, y: B.mul_(torch.addcmul(y, y, y, value=-1, out=y).sign_()),
}


# the activations above whose message needs y only: a Network's graph may drop their z
READS_Y_ONLY = frozenset({"identity", "relu", "sigmoid", "tanh", "ramp"})


def _layer_activation(node, B):
    """u = phi(x) inside a Network, arg = name. B is the fresh message of the single affine node
    above (a Network's graph is a chain), owned by this node alone, so it is overwritten; so is
    the node's value u, which no rule reads after this one (``loss_and_grad`` frees it next)."""
    return (_INTO_MESSAGE[node.arg](B, node.children[0].value, node.value),)


def _affine(node, B):
    """u = s h W^T + b, children (h, W, b), arg (s, send_to_h), B: (batch, out) or (E, batch, out).

    dW = s B^T h,  db = sum of B over the batch,  dh = s B W (skipped for the data x).

    Ensembles choose the products' layout for the small shapes of a Network's ends, where a
    batched GEMM is slowest (measured on one CPU thread, E = 1024, batch 64, width 16):
    data x shared by every member: dW^T = x^T B as one (in, batch) x (batch, E out) product,
    not E products with x copied E times (17x faster); one output (out = 1): B W is an outer
    product per member, computed as the broadcast product B * W, the same single products
    without a GEMM of inner dimension 1 (7x faster).
    """
    h, W, _ = _values(node)
    s, send_to_h = node.arg
    if W.ndim == 2:
        dW = torch.mm(B.T, h)  # (out, in)
        db = B.sum(0)  # (out,)
        dh = torch.mm(B, W) if send_to_h else None  # (batch, in)
    else:
        if h.ndim == 2:  # (batch, in), shared: (in, batch) @ (E, batch, out) -> (E, in, out)
            dW = torch.matmul(h.T, B).mT.contiguous()  # (E, out, in); no copy when in = 1
        else:
            dW = torch.bmm(B.transpose(1, 2), h)  # (E, out, in)
        db = B.sum(1)  # (E, out)
        dh = None
        if send_to_h:  # (E, batch, out) @ (E, out, in) -> (E, batch, in)
            dh = sum_to(B * W if W.shape[1] == 1 else torch.bmm(B, W), h)
    if s != 1.0:
        dW.mul_(s)
        if dh is not None:
            dh.mul_(s)
    return dh, dW, db


def _loss(node, B):
    """u = L(p, y) per network, arg (Loss, y, ensemble); dL/dp from approx.losses, times B."""
    loss, y, ensemble = node.arg
    g = loss.grad(node.children[0].value, y, ensemble)  # a fresh tensor like p
    return (g.mul_(B.view(-1, 1, 1) if ensemble else B),)


RULES: dict[str, Callable] = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "neg": _neg,
    "pow": _pow,
    "pow_const": _pow_const,
    "rpow_const": _rpow_const,
    "exp": _exp,
    "log": _log,
    "matmul": _matmul,
    "transpose": _transpose,
    "sum": _sum,
    "mean": _mean,
    **{name: _activation_rule(name) for name in _activations.names()},
    "affine": _affine,
    "layer_activation": _layer_activation,
    "loss": _loss,
}
