"""Each op of approx.backprop.Node against torch.autograd in float64, one op per test line.

``check`` (in the manner of early tinygrad's test helper) builds random inputs of the given
shapes, runs ``fn`` once on Nodes and once on torch tensors, seeds both reverse passes with the
same random cotangent R (so every entry's gradient is tested, not only a sum) and compares the
values and the gradients of every input. Inputs are drawn from +-[0.2, 0.8], away from the kinks
of relu (0) and ramp (0, 1).
"""
from __future__ import annotations

import math

import pytest
import torch

from approx import activations
from approx.backprop import Node, rules

# Both sides evaluate the same formulas in float64; the threshold for agreement is 1e-10.
RTOL = 1e-10


def _inputs(shapes, positive, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for shape in shapes:
        v = torch.rand(shape, generator=gen, dtype=torch.float64) * 0.6 + 0.2
        if not positive:
            v = v * (torch.randint(0, 2, shape, generator=gen) * 2 - 1)
        out.append(v.to(device))
    return out


def _close(a, b) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64).cpu()
    b = b.detach().cpu()
    scale = max(b.abs().max().item(), 1e-300)
    return a.shape == b.shape and (a - b).abs().max().item() <= RTOL * scale


def check(fn, *shapes, positive=False, device="cpu", torch_fn=None):
    """fn(*Nodes) and (torch_fn or fn)(*tensors) agree in value and in every input's gradient."""
    values = _inputs(shapes, positive, device)
    nodes = [Node(v.clone()) for v in values]
    leaves = [v.clone().requires_grad_(True) for v in values]
    out = fn(*nodes)
    ref = (torch_fn or fn)(*leaves)
    seed = _inputs([tuple(ref.shape)], False, device, seed=1)[0]
    out.backward(seed.clone())
    ref.backward(seed)
    assert _close(out.value, ref), "values differ"
    for node, leaf in zip(nodes, leaves):
        assert node.grad is not None and _close(node.grad, leaf.grad), "gradients differ"


def check_scalar(fn, n_args, positive=False, torch_fn=None):
    """The same on Python floats (a scalar graph) against 0-dim float64 tensors."""
    values = [v.item() for v in _inputs([()] * n_args, positive, "cpu")]
    nodes = [Node(v) for v in values]
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out = fn(*nodes)
    assert type(out.value) is float  # scalar graphs stay on floats (math, not tensors)
    ref = (torch_fn or fn)(*leaves)
    out.backward()
    ref.backward()
    assert _close(out.value, ref)
    for node, leaf in zip(nodes, leaves):
        assert type(node.grad) is float and _close(node.grad, leaf.grad)


def test_tensor_ops(device):
    check(lambda a, b: a + b, (3, 4), (3, 4), device=device)
    check(lambda a, b: a - b, (3, 4), (3, 4), device=device)
    check(lambda a, b: a * b, (3, 4), (3, 4), device=device)
    check(lambda a, b: a / b, (3, 4), (3, 4), device=device)
    check(lambda a: -a, (5,), device=device)
    check(lambda a: a ** 3, (3, 4), device=device)
    check(lambda a: a ** 0.5, (3, 4), positive=True, device=device)
    check(lambda a, b: a ** b, (3, 4), (3, 4), positive=True, device=device)
    check(lambda a: 2.5 ** a, (3, 4), device=device)
    check(lambda a: a.exp(), (3, 4), device=device)
    check(lambda a: a.log(), (3, 4), positive=True, device=device)
    check(lambda a: a.T, (3, 4), device=device)


def test_numbers_on_either_side(device):
    check(lambda a: a + 2.0, (3,), device=device)
    check(lambda a: 2.0 + a, (3,), device=device)
    check(lambda a: 2.0 - a, (3,), device=device)
    check(lambda a: a - 2, (3,), device=device)
    check(lambda a: 3 * a, (3,), device=device)
    check(lambda a: a * 3.0, (3,), device=device)
    check(lambda a: 2.0 / a, (3,), device=device)
    check(lambda a: a / 4.0, (3,), device=device)


def test_broadcasting_sums_back_to_each_shape(device):
    check(lambda a, b: a + b, (3, 1), (1, 4), device=device)
    check(lambda a, b: a * b, (2, 3, 4), (4,), device=device)
    check(lambda a, b: a - b, (4,), (2, 3, 4), device=device)
    check(lambda a, b: a / b, (2, 3, 4), (3, 1), device=device)
    check(lambda a, b: a ** b, (3, 4), (1, 4), positive=True, device=device)
    check(lambda a, b: a * b, (3, 4), (), device=device)


def test_matmul(device):
    check(lambda a, b: a @ b, (3, 4), (4, 5), device=device)
    check(lambda a, b: a @ b, (4,), (4, 5), device=device)
    check(lambda a, b: a @ b, (3, 4), (4,), device=device)
    check(lambda a, b: a @ b, (4,), (4,), device=device)
    check(lambda a, b: a @ b, (2, 3, 4), (4, 5), device=device)  # b broadcast over the batch
    check(lambda a, b: a @ b.mT, (2, 3, 4), (2, 5, 4), device=device)


def test_reductions(device):
    check(lambda a: a.sum(), (3, 4), device=device)
    check(lambda a: a.sum(0), (3, 4), device=device)
    check(lambda a: a.sum(-1, keepdim=True), (3, 4), device=device)
    check(lambda a: a.sum((0, 2)), (2, 3, 4), device=device)
    check(lambda a: a.mean(), (3, 4), device=device)
    check(lambda a: a.mean(1), (2, 3, 4), device=device)
    check(lambda a: a.mean((0, -1), keepdim=True), (2, 3, 4), device=device)
    # every axis, kept as size 1, as torch keeps them: (1, 1, 1), not a 0-d value
    check(lambda a: a.sum(None, keepdim=True), (2, 3, 4), device=device)
    check(lambda a: a.mean(None, keepdim=True), (2, 3, 4), device=device)
    assert Node(torch.ones(2, 3)).sum(keepdim=True).value.shape == (1, 1)
    assert Node(torch.ones(2, 3)).mean(keepdim=True).value.shape == (1, 1)
    assert Node(torch.ones(2, 3)).sum().value.shape == ()  # control: without keepdim, 0-d


@pytest.mark.parametrize("name", activations.names())
def test_activations(device, name):
    phi = activations.get(name)
    check(lambda a: a.activation(name), (4, 5), device=device, torch_fn=phi.value)
    method = getattr(Node, name, None)
    if method is not None:
        check(lambda a: method(a), (4, 5), device=device, torch_fn=phi.value)


def test_scalar_ops():
    check_scalar(lambda a, b: a + b, 2)
    check_scalar(lambda a, b: a - b, 2)
    check_scalar(lambda a, b: a * b, 2)
    check_scalar(lambda a, b: a / b, 2)
    check_scalar(lambda a: -a, 1)
    check_scalar(lambda a: a ** 3, 1)
    check_scalar(lambda a, b: a ** b, 2, positive=True)
    check_scalar(lambda a: 2.5 ** a, 1)
    check_scalar(lambda a: 1.5 - a / 3 + 2 * a, 1)
    check_scalar(lambda a: a.exp(), 1)
    check_scalar(lambda a: a.log(), 1, positive=True)
    check_scalar(lambda a: a.sum() + a.mean(), 1)


@pytest.mark.parametrize("name", activations.names())
def test_scalar_activations(name):
    phi = activations.get(name)
    check_scalar(lambda a: a.activation(name), 1, torch_fn=phi.value)


KINKS = {"relu": (0.0,), "ramp": (0.0, 1.0)}  # where a derivative is a convention


@pytest.mark.parametrize("name", activations.names())
@pytest.mark.parametrize("x", [-1e4, -30.0, -20.5, -1.0, 0.0, 0.5, 1.0, 20.0, 20.5, 30.0, 1e4])
def test_scalar_activations_at_kinks_and_extremes(name, x):
    """Float rules equal torch's values everywhere, its derivatives off the kinks, and at a kink
    the tensor rule's convention (torch's own derivative there varies by version and device)."""
    phi = activations.get(name)
    node = Node(x).activation(name)
    node.backward()
    leaf = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = phi.value(leaf)
    ref.backward()
    assert math.isfinite(node.value) and math.isfinite(node.children[0].grad)
    # the same float64 function from two libraries: equal to a few ulps (1e-15 is 4.5 ulps)
    assert node.value == pytest.approx(ref.item(), rel=1e-15, abs=1e-300)
    if x in KINKS.get(name, ()):
        t = torch.tensor([x], dtype=torch.float64)
        assert node.children[0].grad == phi.derivative(t, phi.value(t)).item()
    else:
        assert node.children[0].grad == pytest.approx(leaf.grad.item(), rel=1e-15, abs=1e-300)


def test_check_helper_has_teeth():
    """Negative controls: a wrong rule and a wrong value are caught."""
    with pytest.raises(AssertionError, match="gradients differ"):
        # same value a*b, but da comes out 1% too large
        check(lambda a, b: a * b, (3,), (3,),
              torch_fn=lambda a, b: a * b + (a - a.detach()) * b.detach() * 0.01)
    with pytest.raises(AssertionError, match="values differ"):
        check(lambda a: a.exp(), (3,), torch_fn=lambda a: a.exp() * 1.01)


def test_matmul_of_a_batch_with_a_vector_and_of_a_single_row(device):
    """A batch of matrices times a 1-D vector (the vector as a column of every batch), and a
    (1, n) row times a matrix, where a squeeze of the wrong axis would change the shapes."""
    check(lambda a, b: a @ b, (2, 3, 4), (4,), device=device)
    check(lambda a, b: a @ b, (1, 4), (4, 5), device=device)
    check(lambda a, b: a @ b, (4,), (2, 4, 5), device=device)


def test_pow_with_a_number_base_and_a_tensor_exponent():
    """2.0 ** b for a tensor b: du/db = u log 2 per entry, and the number base gets the 0-dim
    sum of b 2^(b - 1) times the cotangent, as torch gives."""
    exponents = torch.tensor([0.3, 0.7, -0.4], dtype=torch.float64)
    seed = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)
    base, exponent = Node(2.0), Node(exponents.clone())
    (base ** exponent).backward(seed.clone())
    leaf_base = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    leaf_exponent = exponents.clone().requires_grad_(True)
    (leaf_base ** leaf_exponent).backward(seed)
    assert _close(exponent.grad, leaf_exponent.grad) and _close(base.grad, leaf_base.grad)


@pytest.mark.parametrize("exponent", [0.0, 0.5, 2.0])
def test_pow_at_a_zero_base_has_zero_exponent_derivative(exponent):
    """d(a^b)/db = a^b log a is 0 at a = 0 for every b >= 0 (the limit torch takes; the formula
    gives 0 * log 0 = nan, or 1 * log 0 = -inf at b = 0), for floats and for tensors."""
    a, b = Node(0.0), Node(exponent)
    (a ** b).backward()
    assert b.grad == 0.0
    a, b = Node(torch.zeros(2, dtype=torch.float64)), Node(torch.full((2,), exponent, dtype=torch.float64))
    (a ** b).backward(torch.ones(2, dtype=torch.float64))
    assert torch.equal(b.grad, torch.zeros(2, dtype=torch.float64))
    # negative control: off a = 0 the derivative is u log a, not 0
    a, b = Node(0.5), Node(exponent)
    (a ** b).backward()
    assert b.grad == pytest.approx(0.5 ** exponent * math.log(0.5), rel=1e-15)


def test_pow_with_a_zero_exponent_has_zero_base_derivative_also_at_a_zero_base():
    """d(a^b)/da = b a^(b-1) is 0 at b = 0 for every a, a = 0 included (torch's value; the formula
    gives 0 * 0^-1 = nan there): tensors against torch.autograd, floats, and a constant exponent."""
    a0 = torch.tensor([0.0, 0.0, 2.0, 0.0], dtype=torch.float64)
    b0 = torch.tensor([0.0, 1.0, 0.0, 2.5], dtype=torch.float64)
    a, b = Node(a0.clone()), Node(b0.clone())
    (a ** b).backward(torch.ones(4, dtype=torch.float64))
    leaf_a, leaf_b = a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    (leaf_a ** leaf_b).sum().backward()
    # bit for bit on any kernel: every product here is by 0 or 1 (and log 2 once), so the two
    # rules' different orders of multiplication round alike
    assert torch.equal(a.grad, leaf_a.grad) and torch.equal(b.grad, leaf_b.grad)
    assert torch.equal(a.grad, torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    # below, every expected value is the rule's defined 0 (no arithmetic rounds it): exact on any kernel
    a, b = Node(0.0), Node(0.0)
    (a ** b).backward()
    assert a.grad == 0.0 and b.grad == 0.0
    a = Node(torch.zeros(3, dtype=torch.float64))
    (a ** 0).backward(torch.ones(3, dtype=torch.float64))  # a constant exponent
    assert torch.equal(a.grad, torch.zeros(3, dtype=torch.float64))
    a = Node(torch.zeros(3, dtype=torch.float64))
    (a ** Node(b0[:1].clone())).backward(torch.ones(3, dtype=torch.float64))  # a tensor exponent 0, broadcast
    assert torch.equal(a.grad, torch.zeros(3, dtype=torch.float64))
    a = Node(torch.zeros(3, dtype=torch.float64))
    (a ** Node(0.0)).backward(torch.ones(3, dtype=torch.float64))  # a float exponent node 0
    assert torch.equal(a.grad, torch.zeros(3, dtype=torch.float64))
    a = Node(0.0)
    (a ** 0).backward()  # floats, a constant exponent
    assert a.grad == 0.0
    # negative control: exponent 1 at a = 0 has derivative 1 (1 * 0^0), not 0
    a = Node(0.0)
    (a ** 1.0).backward()
    assert a.grad == 1.0


def test_sum_to_undoes_broadcasting_and_passes_numbers_through():
    """sum_to sums a broadcast gradient back to the operand's shape: over new leading axes and
    over axes of size 1 that were stretched (here to 2); a Python float (a scalar graph's
    contribution) is returned as it is."""
    g = torch.arange(12, dtype=torch.float64).reshape(2, 2, 3)  # small integers: every sum exact in any order
    assert torch.equal(rules.sum_to(g, torch.zeros(2, 1, 3)), g.sum(1, keepdim=True))
    assert torch.equal(rules.sum_to(g, torch.zeros(1, 3)), g.sum((0, 1)).reshape(1, 3))
    assert torch.equal(rules.sum_to(g, torch.zeros(3)), g.sum((0, 1)))
    assert rules.sum_to(2.5, 1.0) == 2.5 and rules.sum_to(2.5, torch.zeros(())) == 2.5


@pytest.mark.parametrize("name", activations.names())
def test_each_activation_rule_as_built(monkeypatch, name):
    """The rule ``_activation_rule`` builds for an activation gives phi'(x) B, on tensors and on
    floats. The table RULES is built once at import; this test builds the rule again and puts it
    in the table, so that the builder itself is what runs (and what mutation testing mutates)."""
    monkeypatch.setitem(rules.RULES, name, rules._activation_rule(name))
    phi = activations.get(name)
    check(lambda a: a.activation(name), (4, 5), torch_fn=phi.value)
    check_scalar(lambda a: a.activation(name), 1, torch_fn=phi.value)
