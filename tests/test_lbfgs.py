"""approx.lbfgs: against torch.optim.LBFGS(line_search_fn="strong_wolfe") and torch.linalg.lstsq,
the line search against the strong Wolfe conditions and step by step through its two phases,
the cubic step against cubics whose minimiser is known, the stepper's arguments to each search
and its history, ensembles against single runs."""
from __future__ import annotations

import inspect
import math

import pytest
import torch

from approx import Network, backprop, lbfgs
from approx.fit_options import FitOptions
from approx.lbfgs import HISTORY_COLUMNS, _cubic_minimiser, lbfgs_fit, strong_wolfe
from approx.members import flatten

F64 = torch.float64


def _least_squares(n=50, d=4, out=2, seed=0):
    """Random (x, y) and the least-squares affine fit y ~ x W^T + b, by torch.linalg.lstsq (QR)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=F64)
    y = torch.randn(n, out, generator=gen, dtype=F64)
    solution = torch.linalg.lstsq(torch.cat([x, torch.ones(n, 1, dtype=F64)], dim=1), y).solution
    return x, y, torch.cat([solution[:d].T.flatten(), solution[d]])  # columns as flatten(): W, b


def _torch_lbfgs(net: Network, x, y, iterations: int, history_size: int = 10) -> list[torch.Tensor]:
    """torch.optim.LBFGS one iteration per step() (max_iter=1), no early stop: the iterates."""
    module = net.to_module()
    opt = torch.optim.LBFGS(module.parameters(), lr=1, max_iter=1, history_size=history_size,
                            tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (module(x) - y).square().mean()
        loss.backward()
        return loss

    iterates = []
    for _ in range(iterations):
        opt.step(closure)
        iterates.append(torch.cat([p.detach().flatten() for p in module.parameters()]))
    return iterates


def test_converges_to_the_lstsq_solution_like_torch_lbfgs():
    """A network with no hidden layer is linear least squares: L-BFGS (ours on both engines, and
    torch's) ends within 1e-8 of the QR solution; the problem is well conditioned (cond ~ 2), so
    the solution itself is accurate to ~1e-15 and the gap measures the optimizer alone."""
    x, y, solution = _least_squares()
    net = Network.random([4, 2], "tanh", seed=0)  # one layer: the output layer is linear
    for engine in ("backprop", "autograd"):
        fitted, history = lbfgs_fit(net, x, y, steps=50, engine=engine)
        assert (flatten(fitted)[0] - solution).abs().max().item() < 1e-8, engine
    theirs = _torch_lbfgs(net, x, y, 50)[-1]
    assert (theirs - solution).abs().max().item() < 1e-8
    # negative control: three iterations are not there yet
    early, _ = lbfgs_fit(net, x, y, steps=3)
    assert (flatten(early)[0] - solution).abs().max().item() > 1e-8


def test_iterates_equal_torch_lbfgs():
    """Same two-loop recursion, H_0 scaling, first step min(1, 1/|g|_1) and strong-Wolfe points:
    on a tanh network every one of 8 iterates equals torch.optim.LBFGS's to rounding (measured
    ~1e-15; 1e-11 allows for the growth of rounding differences over the iterations)."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 4, generator=gen, dtype=F64), torch.randn(50, 2, generator=gen, dtype=F64)
    net = Network.random([4, 6, 2], "tanh", seed=0)
    theirs = _torch_lbfgs(net, x, y, 8)
    ours = [flatten(lbfgs_fit(net, x, y, steps=k)[0])[0] for k in range(1, 9)]
    for k in range(8):
        assert (ours[k] - theirs[k]).abs().max().item() < 1e-11, k
    assert (ours[3] - theirs[4]).abs().max().item() > 1e-6  # negative control: one iteration off


def _satisfies_strong_wolfe(phi, dphi, alpha, c1=1e-4, c2=0.9) -> bool:
    phi0, dphi0 = phi(0.0), dphi(0.0)
    return phi(alpha) <= phi0 + c1 * alpha * dphi0 and abs(dphi(alpha)) <= c2 * abs(dphi0)


def _run_search(phi, dphi, first, **kwargs):
    search = strong_wolfe(phi(0.0), dphi(0.0), first, **kwargs)
    alpha, tried = search.send(None), []
    try:
        while True:
            tried.append(alpha)
            alpha = search.send((phi(alpha), dphi(alpha), alpha))
    except StopIteration as done:
        return done.value, tried


@pytest.mark.parametrize("name, phi, dphi, first", [
    # a quadratic with its minimum at 2: alpha = 1 already has |phi'| <= 0.9 |phi'(0)|
    ("accept", lambda a: (a - 2) ** 2, lambda a: 2 * (a - 2), 1.0),
    # the minimum at 40: the bracketing phase doubles alpha until phi' >= 0 or phi rises
    ("extrapolate", lambda a: (a - 40) ** 2, lambda a: 2 * (a - 40), 1.0),
    # a far too long first trial fails sufficient decrease: zoom into [0, 100]
    ("zoom", lambda a: (a - 1) ** 2, lambda a: 2 * (a - 1), 100.0),
    # nonconvex: phi = -a e^(-a^2) has its minimum at 1/sqrt(2); at 5 it is flat and too high
    ("nonconvex", lambda a: -a * math.exp(-a * a), lambda a: (2 * a * a - 1) * math.exp(-a * a), 5.0),
])
def test_line_search_returns_a_strong_wolfe_point(name, phi, dphi, first):
    (alpha, value, payload), tried = _run_search(phi, dphi, first)
    assert _satisfies_strong_wolfe(phi, dphi, alpha), (name, alpha)
    assert value == phi(alpha) and payload == alpha and alpha == tried[-1]
    if name == "extrapolate":
        assert tried[:3] == [1.0, 2.0, 4.0]
    # negative control: the first trial of each search but the first violates the conditions
    if name != "accept":
        assert not _satisfies_strong_wolfe(phi, dphi, first)


def test_line_search_treats_nan_as_too_large_and_gives_up_without_decrease():
    def phi(a):
        return math.nan if a > 1 else (a - 0.5) ** 2

    (alpha, _, _), _ = _run_search(phi, lambda a: 2 * (a - 0.5), 4.0)
    assert _satisfies_strong_wolfe(phi, lambda a: 2 * (a - 0.5), alpha)
    # phi'(0) claims descent but phi only rises: no point has sufficient decrease
    result, tried = _run_search(lambda a: a * a, lambda a: 2 * a if a else -1.0, 1.0, max_evaluations=12)
    assert result is None and len(tried) == 12


def test_line_search_finds_nothing_on_a_loss_flat_to_working_precision():
    """At a minimum to working precision phi0 + c1 alpha phi'(0) rounds to phi0: a point of the
    same loss must not count as a decrease, or L-BFGS never stalls there (it ran all 200 steps at
    a constant loss on an Intel Xeon). Control: a point one ulp lower is taken."""
    phi0, slope = 1.0, -1e-20  # c1 * alpha * slope = -1e-24 is below half an ulp of 1.0
    flat, tried = _run_search(lambda a: phi0, lambda a: slope if a == 0 else 0.0, 1.0)
    assert flat is None and tried
    lower = math.nextafter(phi0, 0.0)
    (alpha, value, _), _ = _run_search(lambda a: lower if a else phi0, lambda a: slope if a == 0 else 0.0, 1.0)
    assert alpha == 1.0 and value == lower


def _flat_radius(x, loss_min: float, ulps: float = 4.0) -> float:
    """Bound on the distance between two points of the mean squared error of a linear model
    whose losses are within ``ulps`` float64 ulps of its minimum: f(theta) - f* >= lambda_min
    |theta - theta*|^2 / 2 with lambda_min the least eigenvalue of the Hessian 2 A^T A / n,
    A = [x 1], so each point is within sqrt(2 ulps eps f* / lambda_min) of theta*, and two
    points within twice that."""
    a = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    lambda_min = torch.linalg.eigvalsh(2 * a.T @ a / len(x))[0].item()
    return 2 * math.sqrt(2 * ulps * torch.finfo(F64).eps * loss_min / lambda_min)


def _before_flat(history, relative=1e-12) -> int:
    """The number of leading rows whose loss is above the run's last by more than ``relative``."""
    flat = history.loss <= history.loss.iloc[-1] * (1 + relative)
    return int(flat.values.argmax()) if flat.any() else len(history)


@pytest.mark.parametrize("shared_x", [True, False])
def test_ensemble_equals_single_runs(shared_x):
    """Least squares (convex: rounding differences are damped) to convergence, and a tanh network
    for 12 iterations. Over longer runs on a nonconvex loss, the rounding differences of batched
    against single products (~1e-16) grow about 10x every 3 to 4 iterations, as any chaotic
    dynamics amplifies them (sin 3x with 16 tanh units: 2e-8 relative in the loss after 40
    iterations, 6e-3 after 100), so a longer nonconvex run cannot promise 1e-8."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 40, 3, generator=gen, dtype=F64)
    x = x[0] if shared_x else x
    y = torch.randn(3, 40, 1, generator=gen, dtype=F64)
    for sizes, steps, tolerance in (([3, 1], 40, None), ([3, 8, 1], 12, 1e-8)):
        net = Network.random(sizes, "tanh", seed=0, ensemble=3)
        fitted, history = lbfgs_fit(net, x, y, steps=steps)
        for e in range(3):
            single, h1 = lbfgs_fit(net.member(e), x if shared_x else x[e], y[e], steps=steps)
            he = history[history.member == e].reset_index(drop=True)
            if tolerance is None:  # least squares: both stall where the loss is flat to working
                # precision, and the iteration at which each does depends on how its products
                # round (one apart on an Intel Xeon): the same steps until then
                assert he.status.iloc[-1] == h1.status.iloc[-1] == "stalled"
                rows = min(_before_flat(he), _before_flat(h1))
                assert rows >= 5
                bound = _flat_radius(x if shared_x else x[e], he.loss.iloc[-1])
            else:
                rows, bound = len(h1), tolerance
                assert len(he) == rows and he.status.iloc[-1] == "completed"
            assert he.evaluations[:rows].equals(h1.evaluations[:rows]) and he.status[:rows].equals(h1.status[:rows])
            assert (flatten(fitted)[e] - flatten(single)[0]).abs().max().item() < bound
        # negative control: the members' fits differ
        assert (flatten(fitted)[0] - flatten(fitted)[1]).abs().max().item() > 1e-3


def test_both_engines_give_the_same_run():
    x = torch.linspace(-1, 1, 40, dtype=F64)[:, None]
    net = Network.random([1, 8, 1], "tanh", seed=3)
    a, ha = lbfgs_fit(net, x, torch.sin(3 * x), steps=10, engine="backprop")
    b, hb = lbfgs_fit(net, x, torch.sin(3 * x), steps=10, engine="autograd")
    assert (ha.evaluations == hb.evaluations).all()
    assert (flatten(a) - flatten(b)).abs().max().item() < 1e-10


def test_logistic_loss_and_statuses():
    """NaN data diverge at step 0, a target is converged to, least squares stalls at its minimum
    (no point lowers the loss to working precision), the rest complete; rows stop there."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 2, generator=gen, dtype=F64)
    labels = (x[:, :1] > 0).to(F64)
    net = Network.random([2, 1], "tanh", seed=0, ensemble=2)
    _, history = lbfgs_fit(net, x, torch.stack([labels, labels * math.nan]), steps=30,
                           loss="logistic", target_loss=0.05)
    assert tuple(history.columns) == HISTORY_COLUMNS
    last = history.groupby("member").tail(1).set_index("member")
    assert last.status[1] == "diverged" and last.step[1] == 0
    assert last.status[0] == "converged" and last.loss[0] <= 0.05 and last.step[0] < 30
    x, y, _ = _least_squares()
    _, history = lbfgs_fit(Network.random([4, 2], "tanh", seed=0), x, y, steps=200)
    assert history.status.iloc[-1] == "stalled" and history.step.iloc[-1] < 200


def test_rejects_bad_arguments():
    net = Network.random([1, 3, 1], "tanh")
    x, y = torch.zeros(5, 1, dtype=F64), torch.zeros(5, 1, dtype=F64)
    for kwargs, message in [({"steps": -1}, "steps must be an integer >= 0, got -1"),
                            ({"engine": "jax"}, "unknown engine 'jax'; allowed: backprop, autograd"),
                            ({"loss": "hinge"}, "unknown loss 'hinge'; allowed: mse, logistic"),
                            ({"memory": 0}, "memory must be an integer in"),
                            ({"c1": 0.0}, r"c1 must be a finite number in \(0, 1\)"),
                            ({"c1": 0.5, "c2": 0.4}, r"c2 must be a finite number in \(0.5, 1\)"),
                            ({"max_evaluations": 0}, "max_evaluations must be an integer in"),
                            ({"target_loss": math.inf}, "target_loss must be a finite number")]:
        with pytest.raises(ValueError, match=message):
            lbfgs_fit(net, x, y, **kwargs)


def test_on_device(device):
    x, y, solution = _least_squares()
    net = Network.random([4, 2], "tanh", seed=0, ensemble=2, device=device)
    fitted, _ = lbfgs_fit(net, x.to(device), y.to(device), steps=50)
    assert fitted.device.type == device
    assert (flatten(fitted).cpu() - solution).abs().max().item() < 1e-8


# _cubic_minimiser (Nocedal & Wright eq. 3.59): on a cubic phi its interpolant is phi itself, so
# it returns phi's own minimiser. Pure float arithmetic: the same values on every IEEE machine.

def _cubic(c: float, shift: float = 0.0, scale: float = 1.0):
    """(alpha, phi, phi') of phi(a) = scale ((a - shift)^3 - 3 c^2 (a - shift)): minimum at shift + c."""
    return lambda a: (a, scale * ((a - shift) ** 3 - 3 * c * c * (a - shift)), scale * (3 * (a - shift) ** 2 - 3 * c * c))


def test_cubic_minimiser_is_the_cubics_own_minimiser_from_either_end():
    point = _cubic(1.0)
    for lo, hi in ((0.2, 2.0), (2.0, 0.2)):  # the bracket's ends in either order
        assert _cubic_minimiser(point(lo), point(hi)) == pytest.approx(1.0, abs=1e-15)
    # a flat cubic (discriminant 1e-4 times smaller) and one far from 0 (margin by the width)
    assert _cubic_minimiser(_cubic(1.0, scale=0.01)(0.2), _cubic(1.0, scale=0.01)(2.0)) == pytest.approx(1.0, abs=1e-15)
    shifted = _cubic(1.0, shift=10.0)
    assert _cubic_minimiser(shifted(10.2), shifted(12.0)) == pytest.approx(11.0, abs=1e-13)
    # a stationary inflection ((a - 1/2)^3: discriminant exactly 0) is taken too
    inflection = lambda a: (a, (a - 0.5) ** 3, 3 * (a - 0.5) ** 2)  # noqa: E731
    assert _cubic_minimiser(inflection(0.0), inflection(2.0)) == 0.5


def test_cubic_minimiser_keeps_a_tenth_of_the_bracket_from_its_ends():
    point = _cubic(1.0)
    # the minimiser exactly a tenth of the width from an end is taken (the margin is closed) ...
    assert _cubic_minimiser(point(0.0), point(10.0)) == 1.0
    assert _cubic_minimiser(point(-8.0), point(2.0)) == 1.0
    # ... and closer than that, the midpoint is, at either end
    assert _cubic_minimiser(point(0.95), point(3.0)) == 1.975
    assert _cubic_minimiser(point(-0.5), point(1.05)) == 0.275


def test_cubic_minimiser_bisects_where_the_cubic_has_no_minimiser():
    assert _cubic_minimiser((0.0, 0.0, 2.0), (1.0, 1.0, 2.0)) == 0.5  # rising everywhere: no real root
    cube = lambda a: (a, a**3, 3 * a * a)  # noqa: E731 - phi' has a double root at 0: the formula's 0/0
    assert _cubic_minimiser(cube(-1.0), cube(1.0)) == 0.0
    assert _cubic_minimiser((1.0, 0.0, -1.0), (3.0, math.inf, 1.0)) == 2.0  # a value that is not finite


# strong_wolfe, step by step: scripted answers (phi, phi') to its trial steps

def _trials(search, answers, limit: int = 100):
    """Send ``answers(alpha) -> (phi, phi')`` to each trial; (trial steps, result). Stops after
    ``limit`` trials (a search that never ends fails the caller's count, rather than hanging)."""
    tried, alpha = [], search.send(None)
    try:
        while len(tried) < limit:
            tried.append(alpha)
            phi, dphi = answers(alpha)
            alpha = search.send((phi, dphi, alpha))
    except StopIteration as done:
        return tried, done.value
    return tried, "still searching"


def test_line_search_spends_exactly_its_evaluations_on_a_loss_falling_forever():
    """phi = -alpha never satisfies the curvature condition and never stops falling: the search
    doubles alpha until its budget (25 by default) is spent, then takes the last point."""
    tried, result = _trials(strong_wolfe(0.0, -1.0, 1.0), lambda a: (-a, -1.0))
    assert tried == [2.0**k for k in range(25)] and result == (2.0**24, -(2.0**24), 2.0**24)
    tried, _ = _trials(strong_wolfe(0.0, -1.0, 1.0, max_evaluations=3), lambda a: (-a, -1.0))
    assert tried == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("c1, c2, dphi0, first, phi, dphi, accepted", [
    (0.5, 0.9, -1.0, 1.0, 0.5, -0.1, True),   # phi on the sufficient-decrease line: it holds (<=)
    (0.5, 0.9, -1.0, 2.0, 0.5, -0.1, False),  # the line at alpha = 2 is phi0 - 1 = 0: 0.5 is above
    (1e-4, 0.5, -1.0, 1.0, 0.5, -0.5, True),  # |phi'| exactly c2 |phi'(0)|: curvature holds (<=)
    (1e-4, 0.5, -2.0, 1.0, 0.0, -0.8, True),  # 0.8 <= c2 |phi'(0)| = 1
    (1e-4, 0.5, -2.0, 1.0, 0.0, -1.2, False),  # 1.2 > 1: still too steep
])
def test_line_search_conditions_at_their_boundaries(c1, c2, dphi0, first, phi, dphi, accepted):
    tried, result = _trials(strong_wolfe(1.0, dphi0, first, c1=c1, c2=c2),
                            lambda a: (phi, dphi) if a == first else (2.0, 1.0))
    assert (tried == [first] and result[0] == first) == accepted


@pytest.mark.parametrize("offset", [0.0, 5.0])  # phi's level: the zoom compares steps, not values
def test_line_search_brackets_and_zooms_as_algorithms_3_5_and_3_6(offset):
    phi0 = offset
    # bracketing: a trial no lower than the one before ends it, though it has sufficient decrease
    tried, _ = _trials(strong_wolfe(phi0, -1.0, 1.0, c2=0.1),
                       lambda a: (phi0 - 0.5, -1.0) if a <= 2.0 else (phi0 - 9.0, 0.0))
    assert tried[:2] == [1.0, 2.0] and 1.0 < tried[2] < 2.0
    # a trial with phi' >= 0 (0.95 is not within c2 = 0.9) brackets [0, 1] from its upper end
    search = strong_wolfe(phi0, -1.0, 1.0)
    assert search.send(None) == 1.0
    inner = search.send((phi0 - 0.5, 0.95, None))
    assert 0.0 < inner < 1.0
    # zoom: a point no lower than the bracket's low end (though with sufficient decrease and
    # phi' = 0) becomes its high end, and the search goes on
    branch = strong_wolfe(phi0, -1.0, 1.0)
    branch.send(None)
    branch.send((phi0 - 0.5, 0.95, None))
    assert 0.0 < branch.send((phi0 - 0.5, 0.0, None)) < 1.0
    # zoom: a lower point becomes the low end; with phi' pointing away from the high end (0.95 at
    # the low end 'inner' < 1, high end 0) the high end stays at 0, ...
    stay = strong_wolfe(phi0, -1.0, 1.0)
    stay.send(None)
    first_zoom = stay.send((phi0 - 0.5, 0.95, None))
    assert 0.0 < stay.send((phi0 - 0.6, 0.95, None)) < first_zoom
    # ... and with phi' pointing towards it, the old low end (1) becomes the high end
    move = strong_wolfe(phi0, -1.0, 1.0)
    move.send(None)
    first_zoom = move.send((phi0 - 0.5, 0.95, None))
    assert first_zoom < move.send((phi0 - 0.6, -0.95, None)) < 1.0


def test_zoom_stops_where_the_bracket_has_shrunk_to_rounding():
    """A bracket [0, 1] whose low end keeps moving up (each trial lower, phi' not finite, so
    every trial is the midpoint): after about 53 halvings the midpoint rounds to the high end,
    and the search stops with the lowest point it found, never trying an end twice."""
    level = iter(range(1, 1000))
    search = strong_wolfe(0.0, -1.0, 1.0, max_evaluations=200)
    tried, result = _trials(search, lambda a: (2.0, 1.0) if a == 1.0 else (-1e-3 * next(level), math.nan))
    zoom = tried[1:]
    assert tried[0] == 1.0 and len(set(zoom)) == len(zoom) and max(zoom) < 1.0
    assert len(zoom) < 60 and result[0] == zoom[-1]  # the last (lowest) point, well within the budget


# The stepper: what each iteration passes to its line search, and what the history records

class _SpyOnSearches:
    """Wraps strong_wolfe: records each search's arguments, trial count and result."""

    def __init__(self, monkeypatch):
        self.calls: list[dict] = []
        monkeypatch.setattr(lbfgs, "strong_wolfe", self)

    def __call__(self, phi0, dphi0, alpha, **kwargs):
        call = {"phi0": phi0, "dphi0": dphi0, "alpha": alpha, **kwargs, "trials": 0, "result": None}
        self.calls.append(call)
        inner = strong_wolfe(phi0, dphi0, alpha, **kwargs)

        def search():
            trial = inner.send(None)
            while True:
                call["trials"] += 1
                try:
                    trial = inner.send((yield trial))
                except StopIteration as done:
                    call["result"] = done.value
                    return done.value

        return search()


def _tanh_problem():
    x = torch.linspace(-1, 1, 40, dtype=F64)[:, None]
    return Network.random([1, 6, 1], "tanh", seed=3), x, torch.sin(3 * x)


def test_history_records_each_iterations_step_and_evaluations(monkeypatch):
    spy = _SpyOnSearches(monkeypatch)
    net, x, y = _tanh_problem()
    _, history = lbfgs_fit(net, x, y, steps=6, c1=2e-4, c2=0.8, max_evaluations=7)
    assert len(history) == 7 and list(history.step) == list(range(7))  # one row per iteration
    assert history.step_size[0] == 0.0 and history.evaluations[0] == 1  # step 0: the start alone
    assert len(spy.calls) == 6
    for k, call in enumerate(spy.calls, start=1):
        assert (call["c1"], call["c2"], call["max_evaluations"]) == (2e-4, 0.8, 7)  # the options reach it
        assert history.step_size[k] == call["result"][0]
        assert history.evaluations[k] == 1 + sum(c["trials"] for c in spy.calls[:k])
    # the first search goes along -g from min(1, 1/|g|_1), with phi'(0) = -|g|^2
    _, grads = backprop.loss_and_grad(net, x, y)
    g = torch.cat([t.flatten() for t in grads])
    assert spy.calls[0]["alpha"] == min(1.0, 1 / g.abs().sum().item())
    assert spy.calls[0]["dphi0"] == pytest.approx(-(g @ g).item(), rel=1e-12)


def test_a_direction_that_is_not_downhill_restarts_along_minus_g(monkeypatch):
    """The two-loop direction is downhill in exact arithmetic; where rounding makes it not (phi'(0)
    >= 0), the iteration goes along -g as a first one does. Forced here: the two-loop recursion
    is replaced by +g (uphill) or by g turned a quarter (phi'(0) exactly 0; P = 2), on an
    ensemble of two whose gradients are small (|g|^2 < 1)."""
    x = torch.linspace(-1, 1, 20, dtype=F64)[:, None]
    y = torch.stack([0.3 * x + 0.1, -0.2 * x + 0.05])  # (2, 20, 1)
    net = Network.random([1, 1], "identity", seed=0, ensemble=2)
    for name, turn in (("uphill", lambda g: g), ("flat", lambda g: torch.stack([g[:, 1], -g[:, 0]], dim=1))):
        with monkeypatch.context() as patch:
            spy = _SpyOnSearches(patch)
            patch.setattr(lbfgs, "_two_loop", lambda grad, pairs, gamma: turn(grad))
            fitted, history = lbfgs_fit(net, x, y, steps=2)
        one, _ = lbfgs_fit(net, x, y, steps=1)
        _, grads = backprop.loss_and_grad(one, x, y)
        g = torch.cat([t.reshape(2, -1) for t in grads], dim=1)  # (E, P): the gradients at step 1
        assert ((g * g).sum(dim=1) < 1).all()
        for e in range(2):
            second = spy.calls[2 + e]  # searches 0, 1: step 1's; 2, 3: step 2's
            assert second["dphi0"] == pytest.approx(-(g[e] @ g[e]).item(), rel=1e-12), name
            assert second["alpha"] == min(1.0, 1 / g[e].abs().sum().item()), name
        assert (history[history.step == 2].loss.to_numpy() < history[history.step == 1].loss.to_numpy()).all(), name


def test_memory_keeps_the_newest_pairs_like_torch_lbfgs():
    """history_size = 2: from the third iteration on, the oldest pair goes; the iterates equal
    torch's to rounding (the bound of test_iterates_equal_torch_lbfgs)."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 4, generator=gen, dtype=F64), torch.randn(50, 2, generator=gen, dtype=F64)
    net = Network.random([4, 6, 2], "tanh", seed=0)
    theirs = _torch_lbfgs(net, x, y, 8, history_size=2)
    ours = flatten(lbfgs_fit(net, x, y, steps=8, memory=2)[0])[0]
    assert (ours - theirs[-1]).abs().max().item() < 1e-11
    # control: with the default memory of 10 the eighth iterate is elsewhere
    assert (flatten(lbfgs_fit(net, x, y, steps=8)[0])[0] - theirs[-1]).abs().max().item() > 1e-6


def test_a_member_with_a_finite_loss_but_a_gradient_that_is_not_has_diverged_at_step_0():
    """An infinite input under a saturated tanh: the loss is finite (tanh(inf) = 1) but the
    gradient is not (0 * inf in dL/dW_1); the stepper's own check must stop it, since the fit's
    monitor sees only the loss."""
    x = torch.stack([torch.linspace(-1, 1, 10, dtype=F64)[:, None]] * 2)
    x[1, 3, 0] = math.inf
    net = Network.random([1, 4, 1], "tanh", seed=0, ensemble=2)
    _, history = lbfgs_fit(net, x, torch.sin(3 * x.nan_to_num(posinf=0.0)), steps=5)
    broken = history[history.member == 1]
    assert list(broken.step) == [0] and broken.status.iloc[0] == "diverged" and math.isfinite(broken.loss.iloc[0])
    assert history[history.member == 0].status.iloc[-1] == "completed"  # control


def test_a_member_starting_at_a_stationary_point_has_stalled_at_step_0():
    """x = 0 and y = b: the residual and so the gradient are exactly 0 at the start."""
    x = torch.stack([torch.linspace(-1, 1, 10, dtype=F64)[:, None], torch.zeros(10, 1, dtype=F64)])
    net = Network.random([1, 1], "identity", seed=0, ensemble=2)
    y = torch.stack([torch.sin(3 * x[0]), net.layers[0].bias[1].expand(10, 1)])
    _, history = lbfgs_fit(net, x, y, steps=5)
    still = history[history.member == 1]
    assert list(still.step) == [0] and still.status.iloc[0] == "stalled"
    moving = history[history.member == 0]
    assert len(moving) > 1 and moving.status.iloc[0] == "running"  # control: the other member goes on


def test_lbfgs_fit_defaults_inputs_and_messages(monkeypatch):
    signature = inspect.signature(lbfgs_fit).parameters
    options = FitOptions()
    for name in ("memory", "c1", "c2", "max_evaluations"):  # the same defaults as fit's
        assert signature[name].default == getattr(options, name), name
    net, x, y = _tanh_problem()
    with monkeypatch.context() as patch:  # ... and they reach the line search
        spy = _SpyOnSearches(patch)
        lbfgs_fit(net, x, y, steps=1)
    assert {k: spy.calls[0][k] for k in ("c1", "c2", "max_evaluations")} == {
        "c1": options.c1, "c2": options.c2, "max_evaluations": options.max_evaluations}
    default, history = lbfgs_fit(net, x, y)
    assert history.step.max() == 100 and history.status.iloc[-1] == "completed"  # steps=100 by default
    spelled, _ = lbfgs_fit(net, x, y, steps=100, memory=options.memory, max_evaluations=options.max_evaluations)
    assert torch.equal(flatten(default), flatten(spelled))
    _, history = lbfgs_fit(net, x, y, steps=250)
    assert list(history.step) == list(range(251))  # every iteration logged, however many
    # data in another dtype are moved to the network's: the same run
    ours, _ = lbfgs_fit(net, x, y, steps=3)
    cast, _ = lbfgs_fit(net, x.float(), y.float(), steps=3)
    expected, _ = lbfgs_fit(net, x.float().double(), y.float().double(), steps=3)
    assert torch.equal(flatten(cast), flatten(expected)) and not torch.equal(flatten(cast), flatten(ours))
    for bad, message in (((x.tolist(), y), "got list and Tensor"), ((x, y.numpy()), "got Tensor and ndarray")):
        with pytest.raises(ValueError, match=f"x and y must be tensors; {message}"):
            lbfgs_fit(net, *bad)
