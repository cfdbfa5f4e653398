"""approx.optim: each update rule against torch.optim, per-member rates, input checks."""
from __future__ import annotations

import math

import pytest
import torch

from approx import optim

# Same update, same float64 arithmetic up to the order of a few operations: agreement to a few
# ulps per step, so 1e-13 relative after 20 steps leaves a wide margin and still catches any
# change of rule (the negative controls below differ by > 1e-4).
RTOL = 1e-13


def _gradient_sequence(shapes, n_steps, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes] for _ in range(n_steps)]


def _run_ours(opt, params, grads_seq, lr):
    state = opt.init(params)
    for grads in grads_seq:
        params = opt.step(params, grads, lr, state)
    return params


def _run_torch(make_torch_opt, params, grads_seq):
    leaves = [p.clone().requires_grad_(True) for p in params]
    torch_opt = make_torch_opt(leaves)
    for grads in grads_seq:
        for leaf, g in zip(leaves, grads):
            leaf.grad = g.clone()
        torch_opt.step()
    return [leaf.detach() for leaf in leaves]


def _max_rel(a, b):
    return max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b))


CASES = [
    ("gd", {}, lambda ps, lr: torch.optim.SGD(ps, lr=lr)),
    ("gd", {"weight_decay": 0.01}, lambda ps, lr: torch.optim.SGD(ps, lr=lr, weight_decay=0.01)),
    ("sgd", {"momentum": 0.9}, lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9)),
    ("sgd", {"momentum": 0.5, "nesterov": True},
     lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.5, nesterov=True)),
    ("sgd", {"momentum": 0.9, "weight_decay": 0.05},  # decay added to g before the momentum, as torch does
     lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, weight_decay=0.05)),
    ("adam", {}, lambda ps, lr: torch.optim.Adam(ps, lr=lr)),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
     lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
]


@pytest.mark.parametrize("name, options, reference", CASES)
def test_update_rules_match_torch_optim(name, options, reference):
    shapes = [(5, 3), (5,), (1, 5), (1,)]
    params = [g for g in _gradient_sequence(shapes, 1, seed=1)[0]]
    grads_seq = _gradient_sequence(shapes, 20)
    ours = _run_ours(optim.make(name, **options), params, grads_seq, lr=0.05)
    theirs = _run_torch(lambda ps: reference(ps, 0.05), params, grads_seq)
    assert _max_rel(ours, theirs) < RTOL
    # negative control: the same comparison fails for a rate off by 0.1%
    off = _run_ours(optim.make(name, **options), params, grads_seq, lr=0.05 * 1.001)
    assert _max_rel(off, theirs) > 1e3 * RTOL


def test_adam_bias_correction_makes_first_step_lr_times_sign():
    # Kingma & Ba (2015), Sec. 2.1: with bias correction the first step is eta * g/(|g| + eps'),
    # i.e. eta * sign(g) up to eps; without it the step would be (1-b1)/sqrt(1-b2) ~ 3.2x smaller.
    p = [torch.zeros(4, dtype=torch.float64)]
    g = [torch.tensor([3.0, -0.5, 1e-3, -20.0], dtype=torch.float64)]
    opt = optim.make("adam", eps=1e-12)
    new = opt.step(p, g, 0.01, opt.init(p))
    assert torch.allclose(new[0], -0.01 * g[0].sign(), rtol=1e-8, atol=0)


def test_params_are_not_modified_in_place():
    params = _gradient_sequence([(3, 2), (3,)], 1)[0]
    before = [p.clone() for p in params]
    for name, options in [("gd", {}), ("sgd", {"momentum": 0.9}), ("adam", {})]:
        opt = optim.make(name, **options)
        opt.step(params, params, 0.1, opt.init(params))
        assert all(torch.equal(a, b) for a, b in zip(params, before))


@pytest.mark.parametrize("name, options", [("gd", {}), ("sgd", {"momentum": 0.9}), ("adam", {})])
def test_per_member_rates_equal_one_member_at_a_time(name, options):
    n_members = 3
    rates = [0.1, 0.02, 0.5]
    shapes = [(n_members, 4, 2), (n_members, 4)]
    params = _gradient_sequence(shapes, 1, seed=3)[0]
    grads_seq = _gradient_sequence(shapes, 10)
    lr = optim.member_rates(rates, n_members)
    together = _run_ours(optim.make(name, **options), params, grads_seq, lr)
    for e in range(n_members):
        alone = _run_ours(optim.make(name, **options), [p[e] for p in params],
                          [[g[e] for g in grads] for grads in grads_seq], rates[e])
        assert _max_rel([t[e] for t in together], alone) < RTOL
    # negative control: member 0 trained with member 1's rate is visibly different
    wrong = _run_ours(optim.make(name, **options), [p[0] for p in params],
                      [[g[0] for g in grads] for grads in grads_seq], rates[1])
    assert _max_rel([t[0] for t in together], wrong) > 1e-3


def test_member_rates_shapes_and_errors():
    assert optim.member_rates(0.1, None) == 0.1
    assert optim.member_rates(0.1, 4) == 0.1  # one rate shared by every member stays a float
    assert optim.member_rates([0.3], None) == 0.3
    rates = optim.member_rates(torch.tensor([0.1, 0.2]), 2)
    assert rates.shape == (2,) and rates.dtype == torch.float64
    for bad, ensemble in [(0.0, None), (-1.0, 3), (math.nan, None), (math.inf, None), (True, None),
                          ([0.1, 0.2], None), ([0.1, 0.2], 3), ([0.1, -0.2], 2), ([0.1, math.nan], 2)]:
        with pytest.raises(ValueError, match="lr"):
            optim.member_rates(bad, ensemble)


def test_make_rejects_bad_names_and_hyperparameters():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; allowed: gd, sgd, adam"):
        optim.make("rmsprop")
    with pytest.raises(ValueError, match="only apply to optimizer 'sgd'"):
        optim.make("gd", momentum=0.9)
    with pytest.raises(ValueError, match="momentum must be in"):
        optim.make("sgd", momentum=1.0)
    with pytest.raises(ValueError, match="nesterov=True needs momentum"):
        optim.make("sgd", nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.make("adam", betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps"):
        optim.make("adam", eps=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.make("gd", weight_decay=-1.0)


def test_names_lists_every_optimizer_that_make_accepts():
    assert optim.names() == ["gd", "sgd", "adam"]
    for name in optim.names():
        assert type(optim.make(name)) is optim.OPTIMIZERS[name]


def test_adam_corrections_are_one_minus_the_beta_powers():
    """Kingma & Ba (2015), Algorithm 1: step t divides m by 1 - b1^t and v by 1 - b2^t, so the
    corrections are (1 - b1^t, sqrt(1 - b2^t)); approx.compiled_step relies on this pair."""
    adam = optim.make("adam", betas=(0.8, 0.99))
    for t in (1, 2, 7, 100):
        assert adam.corrections(t) == (1.0 - 0.8**t, math.sqrt(1.0 - 0.99**t))
    # negative control: the corrections of another step, or of swapped betas, differ
    assert adam.corrections(2) != adam.corrections(3)
    assert optim.make("adam", betas=(0.99, 0.8)).corrections(2) != adam.corrections(2)


@pytest.mark.parametrize("options", [{}, {"betas": (0.8, 0.99), "eps": 1e-3, "weight_decay": 0.1}])
def test_adam_corrected_step_with_the_corrections_of_t_is_step_t(options):
    """``corrected_step(..., *corrections(t))`` is step t exactly (the same operations, so bit-equal);
    with the corrections as 0-d tensors and one rate per member (how approx.compiled_step calls it)
    equal to rounding."""
    shapes = [(2, 4, 3), (2, 4)]  # an ensemble of 2: (E, out, in), (E, out)
    params = _gradient_sequence(shapes, 1, seed=5)[0]
    grads_seq = _gradient_sequence(shapes, 6, seed=6)
    adam = optim.make("adam", **options)
    by_step, by_hand, by_tensor = (list(params) for _ in range(3))
    s_step, s_hand, s_tensor = (adam.init(params) for _ in range(3))
    for t, grads in enumerate(grads_seq, start=1):
        by_step = adam.step(by_step, grads, 0.05, s_step)
        by_hand = adam.corrected_step(by_hand, grads, 0.05, s_hand, *adam.corrections(t))
        c1, c2 = (torch.tensor(c, dtype=torch.float64) for c in adam.corrections(t))
        by_tensor = adam.corrected_step(by_tensor, grads, optim.member_rates([0.05, 0.05], 2), s_tensor, c1, c2)
        assert all(torch.equal(a, b) for a, b in zip(by_step, by_hand))
        assert _max_rel(by_tensor, by_step) < RTOL
    assert s_step["t"] == len(grads_seq)
    assert all(torch.equal(a, b) for a, b in zip(s_step["m"] + s_step["v"], s_hand["m"] + s_hand["v"]))
    # negative control: the corrections of the next step give another update
    state = adam.init(params)
    ahead = adam.corrected_step(params, grads_seq[0], 0.05, state, *adam.corrections(2))
    first = adam.step(params, grads_seq[0], 0.05, adam.init(params))
    assert _max_rel(ahead, first) > 1e-3


def test_member_rates_errors_say_how_many_rates_are_allowed():
    """A wrong number of rates is refused with the counts allowed: one, or one per member."""
    with pytest.raises(ValueError, match=r"lr must be one number; got 2 values"):
        optim.member_rates([0.1, 0.2], None)
    with pytest.raises(ValueError, match=r"lr must be one number or 3 \(one per member\); got 2 values"):
        optim.member_rates([0.1, 0.2], 3)
    with pytest.raises(ValueError, match=r"every lr must be a finite number > 0, got \[0.1, 0.0\]"):
        optim.member_rates([0.1, 0.0], 2)  # a zero rate would freeze that member
    # negative control: positive rates, one per member, pass
    assert optim.member_rates([0.1, 1e-300], 2).tolist() == [0.1, 1e-300]


def test_member_rates_come_in_the_networks_dtype():
    """Per-member rates are cast to the parameters' dtype (a float32 ensemble gets float32 rates)."""
    rates = optim.member_rates([0.1, 0.2], 2, dtype=torch.float32)
    assert rates.dtype == torch.float32
    assert optim.member_rates([0.1, 0.2], 2).dtype == torch.float64  # negative control: the default


def test_member_rates_live_on_the_networks_device(device):
    """Per-member rates are moved to the parameters' device, where the update broadcasts them."""
    rates = optim.member_rates([0.1, 0.2], 2, device=device)
    assert rates.device.type == torch.device(device).type
    p = [torch.zeros(2, 3, dtype=torch.float64, device=device)]
    new = optim.make("gd").step(p, [torch.ones_like(p[0])], rates, {})
    assert new[0][:, 0].tolist() == [-0.1, -0.2]  # each member moves by its own rate


@pytest.mark.parametrize("name", ["gd", "sgd", "adam"])
def test_weight_decay_is_added_exactly_when_it_is_not_zero(name):
    """g + wd * theta for every wd > 0, 1.0 included; with wd = 0 the gradient is used as it is,
    so a parameter that is already inf stays inf (adding 0 * inf would make it nan)."""
    options = {"momentum": 0.5} if name == "sgd" else {}
    p = [torch.tensor([1.0, math.inf], dtype=torch.float64)]
    g = [torch.tensor([0.5, 0.5], dtype=torch.float64)]
    plain, decayed = optim.make(name, **options), optim.make(name, weight_decay=1.0, **options)
    new = plain.step(p, g, 0.1, plain.init(p))
    assert new[0][1].item() == math.inf
    reference = plain.step(p, [g[0] + 1.0 * p[0]], 0.1, plain.init(p))  # the decay added by hand
    assert torch.equal(decayed.step(p, g, 0.1, decayed.init(p))[0][:1], reference[0][:1])
    assert not torch.equal(new[0][:1], reference[0][:1])  # negative control: the decay moves theta


def test_adam_betas_may_be_zero_and_must_stay_below_one():
    """Kingma & Ba (2015) take b1, b2 in [0, 1): 0 is allowed (no averaging: b1 = 0 uses the raw
    gradient), 1 is not (m or v would never move, and 1 - b^t = 0 divides by zero)."""
    for betas in [(0.0, 0.999), (0.9, 0.0), (0.0, 0.0)]:
        adam = optim.make("adam", betas=betas)
        p = [torch.zeros(2, dtype=torch.float64)]
        g = [torch.tensor([1.0, -2.0], dtype=torch.float64)]
        assert torch.isfinite(adam.step(p, g, 0.1, adam.init(p))[0]).all()
    for betas in [(1.0, 0.999), (1.5, 0.999), (0.9, 1.0), (-0.1, 0.999), (0.9, -0.1)]:
        with pytest.raises(ValueError, match=r"Adam betas must lie in \[0, 1\), got"):
            optim.make("adam", betas=betas)
