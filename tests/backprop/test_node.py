"""The reverse pass of approx.backprop (node.py): the lemma in the notes, node reuse, long chains,
finite differences, bad input, and the promise that no torch autodiff is used inside the engine."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

import approx.backprop
from approx import Network
from approx.backprop import Node, graphs, topological_order
from approx.backprop.node import reverse_pass


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_notes_example_two_levels():
    """f = sum_i w_i u_i(sum_i1 w_{i,i1} u_i1) with u = sigmoid; the notes print
    df/dw_i = u_i and df/dw_{i,i1} = df/du_i * du_i/dw_{i,i1} = w_i * u_i' * u_i1."""
    w_top = [Node(v) for v in (0.7, -1.3, 0.4)]  # w_i
    w = [[Node(0.1 * (i + 1) - 0.2 * j) for j in range(2)] for i in range(3)]  # w_{i,i1}
    u_in = [Node(v) for v in (0.5, -0.9)]  # u_i1
    z = [sum((w[i][j] * u_in[j] for j in range(2)), Node(0.0)) for i in range(3)]
    u = [zi.sigmoid() for zi in z]
    f = sum((w_top[i] * u[i] for i in range(3)), Node(0.0))
    f.backward()
    assert f.grad == 1.0  # the seed: df/df = 1
    for i in range(3):
        u_i = sigmoid(z[i].value)
        assert w_top[i].grad == pytest.approx(u_i, rel=1e-15)  # df/dw_i = u_i
        assert u[i].grad == pytest.approx(w_top[i].value, rel=1e-15)  # df/du_i = w_i
        for j in range(2):
            du_dw = u_i * (1 - u_i) * u_in[j].value  # du_i/dw_{i,i1}
            assert w[i][j].grad == pytest.approx(w_top[i].value * du_dw, rel=1e-14)


def test_notes_example_three_levels():
    """Linear units, as in the notes' third line: df/dw_{i1,i2} =
    (sum_i w_i w_{i,i1}) du_i1/dw_{i1,i2}, with du_i1/dw_{i1,i2} = u_i2."""
    w_top = [Node(v) for v in (0.7, -1.3)]
    w1 = [[Node(0.3 + i - 0.5 * j) for j in range(2)] for i in range(2)]  # w_{i,i1}
    w2 = [[Node(0.2 * i - j + 0.1) for k in range(3)] for i, j in ((0, 0), (1, 1))]  # w_{i1,i2}
    u2 = [Node(v) for v in (0.5, -0.9, 1.7)]
    u1 = [sum((w2[j][k] * u2[k] for k in range(3)), Node(0.0)) for j in range(2)]
    u0 = [sum((w1[i][j] * u1[j] for j in range(2)), Node(0.0)) for i in range(2)]
    f = sum((w_top[i] * u0[i] for i in range(2)), Node(0.0))
    f.backward()
    for j in range(2):
        upstream = sum(w_top[i].value * w1[i][j].value for i in range(2))  # df/du_i1
        assert u1[j].grad == pytest.approx(upstream, rel=1e-14)
        for k in range(3):
            assert w2[j][k].grad == pytest.approx(upstream * u2[k].value, rel=1e-14)


def test_reused_node_accumulates():
    a = Node(2.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0 and b.grad == 2.0
    # the negative control: assigning instead of adding (early tinygrad's bug) would give 1
    assert a.grad != 1.0


def test_complex_reuse():
    x, y = Node(0.3), Node(-1.2)
    s = x * y
    f = s * s + x.tanh() * s + x / y - (x ** 3).exp() + 2.0 ** s
    f.backward()
    xt = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(-1.2, dtype=torch.float64, requires_grad=True)
    st = xt * yt
    ft = st * st + xt.tanh() * st + xt / yt - (xt ** 3).exp() + 2.0 ** st
    ft.backward()
    assert f.value == pytest.approx(ft.item(), rel=1e-14)
    assert x.grad == pytest.approx(xt.grad.item(), rel=1e-14)
    assert y.grad == pytest.approx(yt.grad.item(), rel=1e-14)


def test_tensor_reuse_with_broadcasting():
    gen = torch.Generator().manual_seed(0)
    a0 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    b0 = torch.randn(4, generator=gen, dtype=torch.float64)
    a, b = Node(a0), Node(b0)
    h = (a * b + b).tanh()
    f = (h @ a.T).sum() + (h * h).mean() + (a - b).relu().sum()
    f.backward()
    at, bt = a0.clone().requires_grad_(), b0.clone().requires_grad_()
    ht = (at * bt + bt).tanh()
    ft = (ht @ at.T).sum() + (ht * ht).mean() + (at - bt).relu().sum()
    ft.backward()
    assert torch.allclose(a.grad, at.grad, rtol=1e-12, atol=0)
    assert torch.allclose(b.grad, bt.grad, rtol=1e-12, atol=0)


def test_chain_of_100_000_nodes():
    """A recursive topological sort would overflow Python's stack here; ours is iterative."""
    x, c = Node(0.5), Node(1.0)
    y = x
    for _ in range(100_000):
        y = y * c  # c is reused 100,000 times
    y.backward()
    assert len(topological_order(y)) == 100_002
    assert x.grad == 1.0
    assert c.grad == pytest.approx(100_000 * 0.5, rel=1e-12)  # d(x c^n)/dc = n x c^(n-1)


def test_topological_order_puts_every_node_before_its_children():
    x = Node(1.5)
    f = ((x * x).tanh() + x.exp() * x) / (x + 2.0)
    order = topological_order(f)
    position = {id(n): k for k, n in enumerate(order)}
    assert order[0] is f and len(position) == len(order)
    for node in order:
        for child in node.children:
            assert position[id(child)] > position[id(node)]


def test_a_known_order_gives_backwards_gradients_and_a_wrong_one_does_not():
    """backward = a topological order (depth-first search) + the reverse pass over it; a caller
    that knows an order (the fused MLP: the reverse of the order it made its nodes in) passes it
    to reverse_pass. Any order with every node before its children gives the same gradients;
    negative control: an order with a child before its parent drops the parent's message."""
    def graph():  # d = tanh(ab) + ab a: a and c = ab are each used twice
        a, b = Node(0.7), Node(-1.3)
        c = a * b
        s, t = c.tanh(), c * a
        return a, b, c, s, t, s + t
    a, b, c, s, t, d = graph()
    d.backward()
    expected = (a.grad, b.grad)
    a, b, c, s, t, d = graph()
    reverse_pass([d, t, s, c, b, a])  # the reverse of the order they were made in
    assert (a.grad, b.grad) == expected
    assert c.value is not None  # by default, as backward, the graph keeps its values
    a, b, c, s, t, d = graph()
    reverse_pass([d, c, s, t, a, b])  # c before its parents s and t: their messages come too late
    assert (a.grad, b.grad) != expected


def test_backward_twice_gives_the_same_gradients_and_seeds():
    x = Node(torch.tensor([0.5, -1.0], dtype=torch.float64))
    f = (x * x).sum()
    f.backward()
    first = x.grad.clone()
    f.backward()
    assert torch.equal(x.grad, first)
    g = x.exp()
    g.backward(torch.tensor([1.0, 0.0], dtype=torch.float64))  # a vector-Jacobian product
    assert g.grad is not None and x.grad[1] == 0.0 and x.grad[0] == pytest.approx(math.exp(0.5))


def test_retain_graph_false_frees_inner_nodes_and_keeps_leaves():
    a, b = Node(torch.tensor([1.0, 2.0], dtype=torch.float64)), Node(3.0)
    inner = a * b
    f = (inner.tanh() + inner).sum()
    f.backward()
    kept = a.grad.clone(), b.grad
    f.backward(retain_graph=False)
    assert inner.grad is None and f.grad is None and inner.value is None and f.value is None
    assert torch.equal(a.grad, kept[0]) and torch.equal(b.grad, kept[1])
    assert torch.equal(a.value, torch.tensor([1.0, 2.0], dtype=torch.float64)) and b.value == 3.0


def central_differences(f, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    grad = torch.empty_like(x)
    for i in range(x.numel()):
        e = torch.zeros_like(x).view(-1)
        e[i] = h
        e = e.view_as(x)
        grad.view(-1)[i] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def test_finite_differences_with_negative_control():
    """Central differences have error O(h^2 f''') + O(eps/h): with h = 1e-6 in float64 about
    1e-9 relative here, so 1e-6 accepts a right gradient and rejects one scaled by 1.01."""
    gen = torch.Generator().manual_seed(1)
    w0 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    x0 = torch.randn(5, 3, generator=gen, dtype=torch.float64)

    def value(w):
        return ((x0 @ w.T).tanh().exp() / 3.0).sum().item()

    w = Node(w0.clone())
    ((Node(x0) @ w.T).tanh().exp() / 3.0).sum().backward()
    numeric = central_differences(value, w0)
    err = ((w.grad - numeric).abs().max() / numeric.abs().max()).item()
    assert err <= 1e-6
    bad = ((w.grad * 1.01 - numeric).abs().max() / numeric.abs().max()).item()
    assert bad > 1e-6


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="Python float or a torch tensor; got str"):
        Node("1.0")
    with pytest.raises(ValueError, match="Python float or a torch tensor; got bool"):
        Node(True)
    with pytest.raises(ValueError, match="@ needs tensor values"):
        Node(1.0) @ Node(2.0)
    with pytest.raises(ValueError, match="base > 0"):
        0.0 ** Node(1.0)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        Node(1.0).activation("gelu")
    with pytest.raises(ValueError, match="seed must be like"):
        Node(torch.ones(3)).exp().backward(torch.ones(2))
    with pytest.raises(ValueError, match="T needs a tensor value with exactly 2 axes"):
        Node(torch.ones(2, 3, 4)).T
    net = Network.random([1, 2, 1], seed=0, ensemble=2)
    with pytest.raises(ValueError, match="single networks"):
        graphs.scalar_loss(net, torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64))


def test_no_torch_autodiff_inside_the_engine():
    """The engine computes every derivative itself: no autograd, no torch.func, no tracking."""
    package = Path(approx.backprop.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 5
    forbidden = re.compile(r"torch\.autograd|torch\.func|functorch|requires_grad")
    for path in sources:
        text = path.read_text()
        assert not forbidden.search(text), f"{path.name} uses torch autodiff"
    # negative control: the pattern does catch what it is meant to catch
    assert forbidden.search("g = torch.autograd.grad(l, p)") and forbidden.search("x.requires_grad_()")


def test_exponents_bases_and_matmul_operands_are_checked_with_their_type():
    """A bool is no number here (True ** x is a typo more often than 1 ** x), a string is refused
    with its type named, @ takes a plain tensor on either side and refuses a float on either side,
    and every base > 0 works, 1 included (1^x = 1, whose derivative is log(1) = 0)."""
    x = Node(2.0)
    for bad, kind in [(True, "bool"), ("2", "str")]:
        with pytest.raises(ValueError, match=f"exponent must be a number or a Node, got {kind}$"):
            x ** bad
    with pytest.raises(ValueError, match=r"base \*\* Node needs a number base > 0, got True"):
        True ** x
    one = 1 ** Node(3.0)
    one.backward()
    assert one.value == 1.0 and one.children[0].grad == 0.0  # exact: 1^3 = 1 and 1 * log 1 = 0
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    v = torch.tensor([0.5, -1.0], dtype=torch.float64)
    # the same product on both sides (Node's @ calls it), of small dyadic numbers: exact anywhere
    assert torch.equal((Node(a) @ v).value, a @ v) and torch.equal((a @ Node(v)).value, a @ v)
    for left, right in [(Node(a), Node(2.0)), (Node(2.0), Node(v))]:
        with pytest.raises(ValueError, match="^@ needs tensor values on both sides; use \\* for floats$"):
            left @ right
    # negative control: numbers and Nodes as exponents, and a positive base, are accepted
    assert (x ** 3).value == 8.0 and (x ** Node(0.5)).value == 2.0 ** 0.5 and (0.5 ** x).value == 0.25


def test_a_wrong_seed_is_refused_naming_both_kinds():
    """backward's seed must be like the value: the error names what the value is and what came."""
    with pytest.raises(ValueError, match=r"^seed must be like the node's value \(float\); got str$"):
        Node(1.0).exp().backward("1")
    with pytest.raises(ValueError, match=r"value \(tensor of shape \(3,\)\); got tensor of shape \(2,\)$"):
        Node(torch.ones(3)).exp().backward(torch.ones(2))
    y = Node(1.0).exp()
    y.backward(2)  # negative control: a number seeds a float node
    assert y.children[0].grad == pytest.approx(2 * math.e)


def test_a_new_node_is_a_leaf_with_no_gradient_yet():
    """Before any backward pass a node's .grad is None (not a value that could be taken for one),
    and a node made by hand is a leaf: op "leaf", no children."""
    x = Node(2)
    assert x.grad is None and x.op == "leaf" and x.children == () and x.value == 2.0
    assert repr(x) == "Node(2.0, op='leaf', grad=None)"
    y = x * 3.0
    y.backward()
    assert x.grad == 3.0 and y.op != "leaf"  # negative control: after backward, a gradient
