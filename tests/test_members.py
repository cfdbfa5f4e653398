"""approx.members: flat parameter rows and per-member data, round trips and column order."""
from __future__ import annotations

import torch

from approx import Network
from approx.jacobian import parameter_slices
from approx.members import flatten, member_data, unflatten


def test_flatten_round_trips_in_jacobian_column_order():
    for ensemble in (None, 3):
        net = Network.random([2, 4, 3], "tanh", seed=0, ensemble=ensemble)
        theta = flatten(net)
        assert theta.shape == ((ensemble or 1), net.n_params)
        back = unflatten(net, theta)
        assert back.ensemble == ensemble
        assert all(torch.equal(p, q) for p, q in zip(net.parameters(), back.parameters()))
        w1 = net.parameters()[0] if ensemble is None else net.parameters()[0][0]
        assert torch.equal(theta[0, parameter_slices(net)[0]], w1.flatten())  # row-major W1
        # negative control: a column-major W1 is another row
        assert not torch.equal(theta[0, parameter_slices(net)[0]], w1.T.flatten())


def test_some_members_and_their_data():
    net = Network.random([2, 4, 1], "tanh", seed=0, ensemble=4)
    members = torch.tensor([1, 3])
    sub = unflatten(net, flatten(net)[members])
    assert sub.ensemble == 2 and torch.equal(sub.parameters()[2][1], net.parameters()[2][3])
    x, y = torch.randn(4, 5, 2, dtype=torch.float64), torch.randn(4, 5, 1, dtype=torch.float64)
    xs, ys = member_data(x, y, members, single=False)
    assert torch.equal(xs, x[members]) and torch.equal(ys, y[members])
    shared, ys = member_data(x[0], y, members, single=False)
    assert shared is x[0] or torch.equal(shared, x[0])
