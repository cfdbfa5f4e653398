"""FirstOrder, fit's stepper for gd, sgd and adam: its options reach the optimizer, full_loss is
the fit's loss, and mini-batches follow the documented stream.

Each test compares fit with a loop written out by hand from the rule the docstrings state
(approx.optim's update rules; approx.first_order's mini-batch stream), in float64, using the
same engine's gradients. The hand-written loops group their arithmetic differently from
approx.optim (``p - lr * g`` against one fused ``add``; Adam's m_hat and v_hat written out
against folded corrections), so the two agree to rounding, not bit for bit: a few ulps per
step, not amplified over ten stable steps, so 1e-10 absolute on parameters of order 1.
Each test's negative control shows that the option it checks moves the parameters by far
more than that (> 1e-6), so the agreement cannot be vacuous.
"""
from __future__ import annotations

import pytest
import torch

from approx.backprop import loss_and_grad
from approx.network import Network, member_seeds
from approx.train import fit

AGREE = 1e-10  # rounding of ten float64 steps (module docstring)
APART = 1e-6  # what a changed option must move the parameters by, at least


def _data(n=32):
    x = torch.linspace(-1, 1, n, dtype=torch.float64)[:, None]  # (n, 1)
    return x, torch.sin(3 * x)


def _net():
    return Network.random([1, 8, 1], "tanh", seed=0)


def _gap(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """The largest absolute difference between two parameter lists."""
    return max((p - q).abs().max().item() for p, q in zip(a, b))


def _sgd_by_hand(net, data, lr, steps, momentum, nesterov):
    """SGD in PyTorch's convention (approx.optim): v <- mu v + g; theta <- theta - eta v, or with
    Nesterov (Sutskever et al. 2013) theta <- theta - eta (g + mu v)."""
    params = net.parameters()
    velocity = [torch.zeros_like(p) for p in params]
    for _ in range(steps):
        _, grads = loss_and_grad(net.with_parameters(params), *data)
        velocity = [momentum * v + g for v, g in zip(velocity, grads)]
        params = [p - lr * ((g + momentum * v) if nesterov else v) for p, g, v in zip(params, grads, velocity)]
    return params


def _adam_by_hand(net, data, lr, steps, betas, eps):
    """Adam as Kingma & Ba (2015) write Algorithm 1: m_hat = m / (1 - b1^t),
    v_hat = v / (1 - b2^t), theta <- theta - eta m_hat / (sqrt(v_hat) + eps)."""
    b1, b2 = betas
    params = net.parameters()
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        _, grads = loss_and_grad(net.with_parameters(params), *data)
        m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
        v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
        params = [p - lr * (mi / (1 - b1**t)) / ((vi / (1 - b2**t)).sqrt() + eps)
                  for p, mi, vi in zip(params, m, v)]
    return params


def _trained(**options) -> list[torch.Tensor]:
    trained, _ = fit(_net(), _data(), **options)
    return trained.parameters()


# ---------------------------------------------------------------------- options reach the optimizer
def test_nesterov_true_runs_nesterovs_rule():
    # fit(nesterov=True) must step by g + mu v, not by v: the hand-written Nesterov loop agrees
    # to rounding, and heavy ball (nesterov=False) ends elsewhere (the negative control)
    common = dict(optimizer="sgd", lr=0.05, momentum=0.9, steps=10)
    by_hand = _sgd_by_hand(_net(), _data(), 0.05, 10, momentum=0.9, nesterov=True)
    assert _gap(_trained(nesterov=True, **common), by_hand) < AGREE
    assert _gap(_trained(nesterov=False, **common), by_hand) > APART


@pytest.mark.parametrize("option", [{"betas": (0.5, 0.9)}, {"eps": 0.1}], ids=["betas", "eps"])
def test_adams_betas_and_eps_are_the_ones_given(option):
    # fit(optimizer="adam", betas=..., eps=...) must run Adam with those values; with the
    # defaults (0.9, 0.999) and 1e-8 it ends elsewhere (the negative control: eps = 0.1 is of
    # the order of sqrt(v_hat) here, and betas (0.5, 0.9) weigh the gradients differently)
    rule = {"betas": (0.9, 0.999), "eps": 1e-8, **option}
    by_hand = _adam_by_hand(_net(), _data(), 0.01, 10, **rule)
    assert _gap(_trained(optimizer="adam", lr=0.01, steps=10, **option), by_hand) < AGREE
    assert _gap(_trained(optimizer="adam", lr=0.01, steps=10), by_hand) > APART


# ---------------------------------------------------------------------- full_loss is the fit's loss
def test_logged_loss_with_mini_batches_is_the_fits_loss_on_all_the_data():
    # With mini-batches the logged loss is full_loss(): the fit's own loss (here logistic) on
    # every training point, at step 0 for the initial network and at the last step for the
    # trained one. The negative control: the mse of the same network is far from it, so a
    # full_loss that fell back to the engine's default loss would fail.
    x, _ = _data()
    y = (x > 0.1).to(x.dtype)  # (n, 1) labels in {0, 1}
    net = _net()
    trained, history = fit(net, (x, y), loss="logistic", batch_size=8, lr=0.5, steps=3, log_every=1)

    def logistic(n: Network) -> float:
        p = n(x)  # (n, 1) logits; softplus(p) - y p, the stable form
        return (torch.clamp(p, min=0) - y * p + torch.log1p(torch.exp(-p.abs()))).mean().item()

    first, last = history.loss.iloc[0], history.loss.iloc[-1]
    assert list(history.step) == [0, 1, 2, 3]
    assert first == pytest.approx(logistic(net), rel=1e-12)
    assert last == pytest.approx(logistic(trained), rel=1e-12)
    mse = ((trained(x) - y) ** 2).mean().item()
    assert abs(mse - last) > 0.01 * last


# ---------------------------------------------------------------------- the mini-batch stream
def test_batch_size_equal_to_the_number_of_points_is_full_batch_gd():
    # batch_size = n is allowed, and each step then uses every point once (a permutation of all
    # n), so the run equals full-batch GD up to the summation order of the mean (rounding).
    # Negative controls: batch_size = n - 1 leaves a point out of every step and ends elsewhere;
    # batch_size = n + 1 is refused, naming the value and the number of points.
    common = dict(lr=0.1, steps=10)
    full = _trained(**common)
    assert _gap(_trained(batch_size=32, **common), full) < AGREE
    assert _gap(_trained(batch_size=31, **common), full) > APART
    with pytest.raises(ValueError, match="batch_size=33 exceeds the 32 training points"):
        _trained(batch_size=33, **common)


def _mini_batch_gd_by_hand(net, data, lr, steps, batch_size, seed, loss="mse"):
    """GD on the stream approx.first_order documents: a CPU generator seeded with ``seed`` draws
    a fresh permutation each epoch; its first n // b * b entries, in rows of b, are the epoch's
    batches, taken in order (the last n % b points of each permutation are skipped)."""
    x, y = data
    n = x.shape[0]
    generator = torch.Generator().manual_seed(seed)
    per_epoch = n // batch_size
    params = net.parameters()
    for t in range(steps):
        if t % per_epoch == 0:
            batches = torch.randperm(n, generator=generator)[:per_epoch * batch_size].view(per_epoch, batch_size)
        index = batches[t % per_epoch]  # (batch_size,)
        _, grads = loss_and_grad(net.with_parameters(params), x[index], y[index], loss)
        params = [p - lr * g for p, g in zip(params, grads)]
    return params


def test_mini_batches_follow_the_documented_stream():
    # 32 points in batches of 10: three batches per epoch (2 points skipped), and 10 steps span
    # four epochs, so the run checks the order within an epoch and the fresh permutation at
    # each epoch's start. The stream of a single network is seeded with member_seeds(seed, 1)
    # = [seed]. Negative control: the stream of another seed ends elsewhere.
    assert member_seeds(7, 1) == [7]
    common = dict(lr=0.1, steps=10, batch_size=10)
    by_hand = _mini_batch_gd_by_hand(_net(), _data(), 0.1, 10, batch_size=10, seed=7)
    assert _gap(_trained(seed=7, **common), by_hand) < AGREE
    assert _gap(_trained(seed=8, **common), by_hand) > APART


def test_mini_batch_steps_descend_the_fits_own_loss():
    # labels +-1 and the logistic loss: each mini-batch step follows that loss's gradient.
    # Negative control: the same stream with the squared error's gradient ends elsewhere.
    x, _ = _data()
    data = (x, torch.where(x > 0.2, 1.0, -1.0).to(x.dtype))
    common = dict(lr=0.1, steps=10, batch_size=10, seed=3)
    trained, _ = fit(_net(), data, loss="logistic", **common)
    by_hand = _mini_batch_gd_by_hand(_net(), data, 0.1, 10, batch_size=10, seed=3, loss="logistic")
    assert _gap(trained.parameters(), by_hand) < AGREE
    mse_by_hand = _mini_batch_gd_by_hand(_net(), data, 0.1, 10, batch_size=10, seed=3, loss="mse")
    assert _gap(trained.parameters(), mse_by_hand) > APART


def test_a_single_network_takes_one_seed_in_a_list():
    # A single network is one member: seed=[7] is its seed 7 (the same run, bit for bit), and a
    # list of two seeds is refused, naming both counts, rather than one of them silently unused
    common = dict(lr=0.1, steps=5, batch_size=10)
    assert _gap(_trained(seed=[7], **common), _trained(seed=7, **common)) == 0.0
    assert _gap(_trained(seed=[8], **common), _trained(seed=7, **common)) > APART  # negative control
    with pytest.raises(ValueError, match="seed lists 2 seeds for 1 member"):
        _trained(seed=[7, 8], **common)


@pytest.mark.parametrize("batch_size, ensemble", [(None, None), (None, 5), (4, 5), (4, None)])
def test_auto_compile_is_decided_from_the_fits_own_shape(monkeypatch, batch_size, ensemble):
    """compile="auto" asks approx.compiled_step.should_compile with the fit's optimizer, engine,
    parameters per member P, ensemble size E (None for one network) and the points n of ONE
    step (the mini-batch, not the data set), so that its E * P * n is the step's work."""
    import approx.first_order as first_order

    asked = []

    def spy(*args):
        asked.append(args)
        return False  # stay eager

    monkeypatch.setattr(first_order, "should_compile", spy)
    net = Network.random([1, 3, 1], "tanh", seed=0, ensemble=ensemble)
    x = torch.linspace(-1, 1, 12, dtype=torch.float64)[:, None]
    fit(net, (x, torch.sin(x)), optimizer="adam", engine="autograd", steps=7, batch_size=batch_size,
        compile="auto", lr=0.01)
    n_step = 12 if batch_size is None else batch_size
    assert asked == [("auto", "adam", "autograd", net.n_params, ensemble, n_step, 7)]
    # negative control: the data set's size differs from the step's when there are mini-batches
    assert (n_step == 12) == (batch_size is None)
