"""approx.engine_inputs: both engines refuse the same bad (x, y) with the same ValueError, before
any work, and accept the same good ones."""
from __future__ import annotations

import pytest
import torch

from approx import Network, autograd, backprop
from approx.engine_inputs import check_batch

ENGINES = {"backprop": backprop.loss_and_grad, "autograd": autograd.loss_and_grad}
F64 = dict(dtype=torch.float64)


def _single():
    return Network.random([2, 4, 1], "tanh", seed=0)


def _ensemble():
    return Network.random([2, 4, 1], "tanh", seed=0, ensemble=3)


def _xy(batch=5):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, 2, generator=gen, **F64), torch.randn(batch, 1, generator=gen, **F64)


X, Y = _xy()

BAD = [  # (network, x, y, the message both engines give)
    (_single, X[:, :1], Y, "input must have shape (batch, 2); got (5, 1)"),
    (_single, X[:, 0], Y, "input must have shape (batch, 2); got (5,)"),
    (_single, X.tolist(), Y, "input must have shape (batch, 2); got list"),
    (_single, X.float(), Y, "x must be torch.float64 on cpu like the network; got torch.float32 on cpu"),
    (_single, X, Y.float(), "y must be a tensor of dtype torch.float64 on cpu; got torch.float32 on cpu"),
    (_single, X, Y.numpy(), "y must be a tensor of dtype torch.float64 on cpu; got ndarray"),
    (_single, X, Y[:3], "y of shape (3, 1) does not match the output (5, 1)"),
    (_single, X, torch.zeros(5, 2, **F64), "y of shape (5, 2) does not match the output (5, 1)"),
    (_single, X[:0], Y[:0], "x holds an empty batch (shape (0, 2)); need at least 1 point"),
    (_ensemble, X.expand(2, -1, -1), Y, "input has 2 data sets for an ensemble of 3"),
    (_ensemble, X[:0].expand(3, -1, -1), Y[:0], "x holds an empty batch (shape (3, 0, 2)); need at least 1 point"),
    (_ensemble, X, Y.expand(4, -1, -1), "y of shape (4, 5, 1) does not match the output (3, 5, 1)"),
    (_ensemble, X, Y.half(), "y must be a tensor of dtype torch.float64 on cpu; got torch.float16 on cpu"),
]


@pytest.mark.parametrize("make, x, y, message", BAD, ids=[case[-1][:40] for case in BAD])
def test_both_engines_refuse_bad_input_with_one_message(make, x, y, message):
    net = make()
    texts = []
    for name, loss_and_grad in ENGINES.items():
        with pytest.raises(ValueError) as caught:
            loss_and_grad(net, x, y)
        texts.append(str(caught.value))
    assert texts == [message, message]


GOOD = [  # (network, x, y): shapes both engines accept, broadcasting y where it broadcasts
    (_single, X, Y),
    (_single, X, Y[:1]),  # one target row for every point
    (_ensemble, X, Y),  # one data set shared by the members
    (_ensemble, X.expand(3, -1, -1), Y),  # a data set per member, shared targets
    (_ensemble, X, Y.expand(3, -1, -1)),  # shared inputs, targets per member
]


@pytest.mark.parametrize("make, x, y", GOOD)
def test_both_engines_accept_good_input_and_agree(make, x, y):
    # negative control of the test above: the check refuses only what it should, and both
    # engines then give the same loss (to rounding: different summation orders)
    net = make()
    values = [torch.as_tensor(loss_and_grad(net, x, y)[0]) for loss_and_grad in ENGINES.values()]
    assert torch.isfinite(values[0]).all()
    assert torch.allclose(values[0], values[1], rtol=1e-12, atol=0)
    expanded = check_batch(net, x, y)
    assert expanded.shape == ((3,) if net.ensemble else ()) + (5, 1)

