"""Graph nodes and the reverse pass: backpropagation exactly as the lemma in the notes states it.

Let f be computed by a graph whose nodes u are the inputs, the weights and every intermediate
value, each node a function of its children. Backpropagation (Linnainmaa 1970; Rumelhart, Hinton
& Williams 1986):

    seed df/df = 1;
    visit the nodes in reverse topological order (every node before its children);
    each node u sums everything it received into B, and sends B * du/du_c to each child u_c.

Lemma: when u is visited, B = df/du. By induction: f receives nothing and B = 1 is the seed; a
child u_c is visited after all of its parents u, and receives from each the value
df/du * du/du_c, whose sum over u is df/du_c by the chain rule. A node used twice (b = a + a)
therefore gets both contributions: gradients accumulate, never overwrite.

Each edge carries one message of O(1) work (scalar nodes), so the pass takes O(M) time for M
edges, the same order as computing f: the cheap-gradient principle (Baur & Strassen 1983;
Griewank & Walther 2008, ch. 4). ``experiments/backprop_cost.py`` measures both claims.

A node's value is a Python float (scalar graphs: one node per neuron and per weight, as in the
notes, computed with ``math``) or a torch tensor on any device (one node per array operation).
The local derivatives live in ``rules.RULES``; no torch automatic differentiation is used.

Floating-point exceptions follow IEEE 754, as torch does, for float and tensor values alike:
nothing raises, an overflow gives inf and an undefined result nan. So 1/0 = inf, 0/0 = nan,
exp(1000) = inf, 1e200 ** 2 = inf, log(0) = -inf, log(-1) = nan, 0 ** -1 = inf and
(-8) ** (1/3) = nan, and the reverse pass sends what the same formulas give: d log(x)/dx at 0 is
1/0 = inf, d(1/x)/dx at 0 is -inf, an inf times 0 is nan. Python floats raise on several of
these, so scalar graphs compute them through ``scalar.divide``, ``power``, ``exp`` and ``log``
(tests/backprop/test_scalar.py checks both kinds of node against PyTorch's own
derivatives).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import activations as _activations
from . import scalar as _scalar
from .rules import RULES
from .scalar import ACTIVATIONS as _SCALAR

__all__ = ["Node", "topological_order", "reverse_pass"]


class Node:
    """A value in a computation graph, the children it was computed from, and df/d(value).

    ``Node(3.0)`` or ``Node(tensor)`` makes a leaf; operators and methods make new nodes:
    + - * / ** (numbers on either side), unary -, @ .T .mT (tensors), .relu() .sigmoid() .tanh()
    .softplus() .ramp() .exp() .log() .sum(dim) .mean(dim), .activation(name).
    ``f.backward()`` fills ``.grad`` = df/du on every node u that f depends on.
    """

    __slots__ = ("value", "grad", "children", "op", "arg")

    def __init__(self, value, children: tuple = (), op: str = "leaf", arg=None):
        if type(value) is not float and not isinstance(value, Tensor):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(
                    f"a Node holds a Python float or a torch tensor; got {type(value).__name__}"
                )
            value = float(value)
        self.value = value
        self.grad = None  # df/d(value) after f.backward(); same shape as value
        self.children = children  # the nodes this one was computed from, in rule order
        self.op = op  # a key of RULES ("leaf" for inputs and weights)
        self.arg = arg  # op constants (exponent, reduced dims, layer scale, ...)

    def __repr__(self) -> str:
        return f"Node({self.value!r}, op={self.op!r}, grad={self.grad!r})"

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        return Node(self.value + other.value, (self, other), "add")

    def __radd__(self, other):
        return Node(other) + self

    def __sub__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        return Node(self.value - other.value, (self, other), "sub")

    def __rsub__(self, other):
        return Node(other) - self

    def __mul__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        return Node(self.value * other.value, (self, other), "mul")

    def __rmul__(self, other):
        return Node(other) * self

    def __truediv__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        return Node(_scalar.divide(self.value, other.value), (self, other), "div")

    def __rtruediv__(self, other):
        return Node(other) / self

    def __neg__(self):
        return Node(-self.value, (self,), "neg")

    def __pow__(self, other):
        if isinstance(other, Node):
            return Node(_scalar.power(self.value, other.value), (self, other), "pow")
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            raise ValueError(f"exponent must be a number or a Node, got {type(other).__name__}")
        return Node(_scalar.power(self.value, other), (self,), "pow_const", float(other))

    def __rpow__(self, base):  # base ** node for a number base > 0
        if isinstance(base, bool) or not isinstance(base, (int, float)) or base <= 0:
            raise ValueError(f"base ** Node needs a number base > 0, got {base!r}")
        x = self.value
        value = _scalar.power(float(base), x) if type(x) is float else torch.pow(base, x)
        return Node(value, (self,), "rpow_const", float(base))

    def __matmul__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        if not (isinstance(self.value, Tensor) and isinstance(other.value, Tensor)):
            raise ValueError("@ needs tensor values on both sides; use * for floats")
        return Node(self.value @ other.value, (self, other), "matmul")

    def __rmatmul__(self, other):
        return Node(other) @ self

    @property
    def mT(self):
        """The tensor with its last two axes swapped (a batch of matrices transposed)."""
        if not isinstance(self.value, Tensor) or self.value.ndim < 2:
            raise ValueError("mT needs a tensor value with at least 2 axes")
        return Node(self.value.mT, (self,), "transpose")

    @property
    def T(self):
        """A matrix's transpose (2 axes only, as torch asks; .mT for batches)."""
        if not isinstance(self.value, Tensor) or self.value.ndim != 2:
            raise ValueError("T needs a tensor value with exactly 2 axes; use .mT for batches")
        return self.mT

    # ------------------------------------------------------------------ functions
    def exp(self):
        x = self.value
        return Node(_scalar.exp(x) if type(x) is float else torch.exp(x), (self,), "exp")

    def log(self):
        x = self.value
        return Node(_scalar.log(x) if type(x) is float else torch.log(x), (self,), "log")

    def activation(self, name: str):
        """phi(self) for any name in approx.activations (identity, relu, sigmoid, ...)."""
        if type(self.value) is float:
            if name not in _SCALAR:
                _activations.get(name)  # raises the ValueError that lists the allowed names
            return Node(_SCALAR[name][0](self.value), (self,), name)
        return Node(_activations.get(name).value(self.value), (self,), name)

    def relu(self):
        return self.activation("relu")

    def sigmoid(self):
        return self.activation("sigmoid")

    def tanh(self):
        return self.activation("tanh")

    def softplus(self):
        return self.activation("softplus")

    def ramp(self):
        return self.activation("ramp")

    def sum(self, dim=None, keepdim: bool = False):
        """As torch's: dim=None reduces every axis, and keepdim keeps each as size 1."""
        x = self.value
        value = x if type(x) is float else x.sum(dim, keepdim)
        return Node(value, (self,), "sum", (dim, keepdim))

    def mean(self, dim=None, keepdim: bool = False):
        """As torch's: dim=None reduces every axis, and keepdim keeps each as size 1."""
        x = self.value
        value = x if type(x) is float else x.mean(dim, keepdim)
        return Node(value, (self,), "mean", (dim, keepdim))

    # ------------------------------------------------------------------ reverse pass
    def backward(self, seed=None, *, retain_graph: bool = True) -> None:
        """Fill ``.grad`` = d(self)/du on every node u that self depends on (the lemma).

        seed: d(self)/d(self), by default 1 (or ones of self's shape); a tensor seed v gives
        the vector-Jacobian product v^T d(self)/du. Earlier ``.grad`` values in the graph are
        replaced, so calling backward twice gives the same gradients.
        retain_graph=False frees each inner node's value and B as soon as the pass is done with
        them (a node's value is read only by its own rule and its parents', which run before
        it), as autograd frees what it saved: the peak memory of a large tensor graph drops,
        the leaves keep their values and ``.grad``, and the graph cannot be used again.
        """
        order = topological_order(self)
        for node in order:
            node.grad = None
        reverse_pass(order, seed, retain_graph=retain_graph)

    def _checked_seed(self, seed):
        """d(self)/d(self) for the reverse pass: 1 (or ones of self's shape) by default."""
        value = self.value
        if seed is None:
            seed = 1.0 if type(value) is float else torch.ones_like(value)
        elif type(value) is float and isinstance(seed, (int, float)) and not isinstance(seed, bool):
            seed = float(seed)
        elif not (isinstance(value, Tensor) and isinstance(seed, Tensor)
                  and seed.shape == value.shape):
            raise ValueError(
                f"seed must be like the node's value ({_kind(value)}); got {_kind(seed)}"
            )
        return seed


def reverse_pass(order: list[Node], seed=None, *, retain_graph: bool = True) -> None:
    """The reverse pass of ``order[0].backward`` over ``order``, every node listed before its
    children (root first) and every ``.grad`` None: each node, in turn, sends B * du/dchild to
    its children (the lemma). ``Node.backward`` finds the order by a depth-first search; a caller
    that built a graph whose order it knows (approx.backprop.mlp: a chain of layers, the reverse
    of the order it made the nodes in) passes it, and the search is skipped."""
    order[0].grad = order[0]._checked_seed(seed)
    rules = RULES
    for node in order:
        B = node.grad  # everything this node received, summed: df/du by the lemma
        children = node.children
        if not children or B is None:
            continue
        for child, message in zip(children, rules[node.op](node, B)):
            if message is not None:  # accumulate: a node used twice gets both messages
                received = child.grad
                child.grad = message if received is None else received + message
        if not retain_graph:
            node.grad = node.value = None


def _kind(value) -> str:
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def topological_order(root: Node) -> list[Node]:
    """The nodes ``root`` depends on, each listed before its children (root first).

    Iterative depth-first search (a recursive one overflows Python's stack on long chains):
    a node is appended once all of its children have been, which lists the nodes in a
    topological order in O(M) time for M edges; reversing it puts every node before its children.
    """
    order: list[Node] = []
    seen = {root}
    stack = [(root, iter(root.children))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                seen.add(child)
                if child.children:
                    stack.append((child, iter(child.children)))
                    break
                order.append(child)  # a leaf is finished as soon as it is found
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order
