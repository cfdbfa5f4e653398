"""approx.lazy: first-layer GD on Du et al.'s network (2019) decays at least at their rate, moves
its weights and flips its activations less the wider it is, is the same on both engines, and
records a step too large as diverged."""
import torch

from approx import lazy, ntk


def _lazy_problem(n=10, d=5):
    x = ntk.unit_sphere(n, d, seed=0)
    y = torch.randint(0, 2, (n, 1), generator=torch.Generator().manual_seed(1)).to(torch.float64) * 2 - 1
    h = torch.linalg.eigvalsh(ntk.h_infinity(x))
    return x, y, h[0].item(), h[-1].item()


def test_loss_decays_at_least_as_fast_as_du_et_al_bound():
    """Theorem 4.1 (Du et al. 2019): L(k) <= (1 - eta_Du lambda_0 / 2)^k L(0); that is the threshold."""
    x, y, lam0, lam_max = _lazy_problem()
    n = x.shape[0]
    lr = n / (2 * lam_max)  # eta_Du = 2 lr / n = 1 / lambda_max(H^inf)
    net = ntk.two_layer_relu(2048, x.shape[1], seed=0, ensemble=3)
    _, hist = lazy.train_first_layer(net, x, y, lr=lr, steps=150, log_steps=range(0, 151, 10))
    rho = lazy.du_rate_bound(lr, lam0, n)
    start = hist[hist.step == 0].set_index("member").loss
    for _, row in hist.iterrows():
        assert row.loss <= rho ** row.step * start[row.member] * (1 + 1e-12)
    assert (hist.status.iloc[-3:] == "completed").all()
    # negative control: the slow eigen-directions of H cannot decay at 1/2 per step, so a bound
    # with lambda_max in place of lambda_0 (1 - eta_Du lambda_max / 2 = 1/2) is violated
    fast = lazy.du_rate_bound(lr, lam_max, n)
    assert any(row.loss > fast ** row.step * start[row.member] for _, row in hist.iterrows())


def test_weight_movement_and_flips_shrink_like_one_over_sqrt_width():
    x, y, lam0, lam_max = _lazy_problem()
    lr = x.shape[0] / (2 * lam_max)
    moved, flipped = [], []
    for m in (64, 256, 1024):
        net = ntk.two_layer_relu(m, x.shape[1], seed=0, ensemble=4)
        trained, _ = lazy.train_first_layer(net, x, y, lr=lr, steps=100)
        moved.append(lazy.weight_movement(net, trained).median().item())
        flipped.append(lazy.activation_flips(net, trained, x).median().item())
    assert moved[0] > moved[1] > moved[2] > 0
    assert flipped[0] > flipped[1] > flipped[2] > 0
    # ~1/sqrt(m): a factor 16 in width is a factor ~4; [2, 8] rules out no decay and 1/m decay
    assert 2 < moved[0] / moved[2] < 8
    assert 2 < flipped[0] / flipped[2] < 8


def test_first_layer_training_is_the_same_on_both_engines_and_freezes_the_rest():
    x, y, _, lam_max = _lazy_problem()
    net = ntk.two_layer_relu(32, x.shape[1], seed=2)
    a, h_a = lazy.train_first_layer(net, x, y, lr=1.0, steps=20, engine="backprop")
    b, h_b = lazy.train_first_layer(net, x, y, lr=1.0, steps=20, engine="autograd")
    assert torch.allclose(a.layers[0].weight, b.layers[0].weight, rtol=1e-12, atol=1e-14)
    assert torch.allclose(torch.tensor(h_a.loss.values), torch.tensor(h_b.loss.values), rtol=1e-10)
    for p, q in zip(net.parameters()[1:], a.parameters()[1:]):
        assert torch.equal(p, q)  # b1, a, b2 never move
    assert not torch.equal(net.layers[0].weight, a.layers[0].weight)


def test_too_large_step_is_recorded_as_diverged():
    x, y, _, lam_max = _lazy_problem()
    net = ntk.two_layer_relu(64, x.shape[1], seed=0, ensemble=2)
    _, hist = lazy.train_first_layer(net, x, y, lr=1e3 * x.shape[0] / lam_max, steps=300)
    assert set(hist.groupby("member").status.last()) == {"diverged"}


def test_rms_movement_of_a_known_displacement_and_its_gap_to_the_max():
    net = ntk.two_layer_relu(4, 3, seed=0)
    params = net.parameters()
    # rows move by 3, 4, 0, 0 (norms): RMS sqrt((9 + 16) / 4) = 2.5, max 4
    shift = torch.zeros_like(params[0])
    shift[0, 0], shift[1, 2] = 3.0, -4.0
    moved = net.with_parameters([params[0] + shift, *params[1:]])
    assert lazy.weight_movement_rms(net, moved).item() == 2.5
    assert lazy.weight_movement(net, moved).item() == 4.0
    # negative control: an unmoved network has RMS 0, and an ensemble gives one value per member
    assert lazy.weight_movement_rms(net, net).item() == 0.0
    pair = ntk.two_layer_relu(4, 3, seed=0, ensemble=2)
    assert lazy.weight_movement_rms(pair, pair).shape == (2,)

