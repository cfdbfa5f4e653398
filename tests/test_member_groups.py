"""approx.member_groups: slices cover the members once, in order; the default group fits the
cache; each group gets views of its members' inputs and shared data whole; join puts groups side
by side. The function called on each group is a plain one here (the compiled step's groups are
tested in tests/test_compiled_step.py and tests/test_compiled_scan.py)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from approx.member_groups import (CACHE_BYTES, call_in_groups, check_members_per_call, default_members_per_call,
                                  join, member_slices)
from approx.network import Network


def test_slices_cover_every_member_once_in_order():
    assert member_slices(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert member_slices(3, 8) == [slice(0, 3)]
    assert member_slices(4, 4) == [slice(0, 4)]
    assert member_slices(1, 1) == [slice(0, 1)]
    covered = [i for part in member_slices(1000, 64) for i in range(1000)[part]]
    assert covered == list(range(1000))


def _net(ensemble, width, dtype=torch.float32, device="cpu"):
    # default_members_per_call reads only these attributes (a stand-in for a CUDA network here)
    return SimpleNamespace(ensemble=ensemble, sizes=[1, width, width, 1], dtype=dtype,
                           device=torch.device(device))


def test_the_default_group_is_the_largest_power_of_two_whose_activations_fit_the_cache():
    assert CACHE_BYTES == 2**20
    # width 64, 64 points, float32: 16 KiB a member, so 64 members fill 1 MiB exactly (fit: <=)
    assert default_members_per_call(_net(1024, 64), 64) == 64
    assert default_members_per_call(_net(64, 64), 64) == 64  # all fit: one group of E
    assert default_members_per_call(_net(65, 64), 64) == 64
    assert default_members_per_call(_net(100, 64), 64) == 64  # not a power of two: the largest below
    assert default_members_per_call(_net(1024, 64, torch.float64), 64) == 32  # twice the bytes
    assert default_members_per_call(_net(1024, 64), 65) == 32  # one point more: 64 no longer fit
    assert default_members_per_call(_net(48, 64), 64) == 48  # fits: all 48, no power of two needed
    # the widest layer sets the size: [1, 64, 16, 1] is sized as width 64
    assert default_members_per_call(SimpleNamespace(ensemble=1024, sizes=[1, 64, 16, 1], dtype=torch.float32,
                                                    device=torch.device("cpu")), 64) == 64
    assert default_members_per_call(_net(1024, 2048), 256) == 1  # not even one fits: one at a time
    assert default_members_per_call(_net(None, 2048), 256) == 1  # a single network
    assert default_members_per_call(_net(None, 16), 64) == 1  # one that fits: not 2, nor E


def test_on_a_gpu_the_whole_ensemble_is_one_group():
    assert default_members_per_call(_net(1024, 64, device="cuda"), 64) == 1024
    assert default_members_per_call(_net(1024, 64, device="cpu"), 64) == 64  # the control


def test_a_real_network_is_sized_like_its_stand_in():
    net = Network.random([1, 64, 64, 1], "tanh", seed=0, ensemble=128, dtype=torch.float32)
    assert default_members_per_call(net, 64) == 64
    assert default_members_per_call(net.to(dtype=torch.float64), 64) == 32


@pytest.mark.parametrize("good", [None, 1, 7])
def test_members_per_call_accepts_none_and_positive_integers(good):
    assert check_members_per_call(good) is good


@pytest.mark.parametrize("bad", [0, -2, 2.0, True, "4"])
def test_members_per_call_refuses_anything_else_naming_it(bad):
    with pytest.raises(ValueError, match=rf"members_per_call must be an integer >= 1 or None, got {bad!r}"):
        check_members_per_call(bad)


def _inputs(members, shared_data):
    params = [torch.arange(members * 2.0).reshape(members, 2), torch.arange(members * 1.0).reshape(members, 1)]
    buffers = {"m": [torch.arange(members * 3.0).reshape(members, 3)]}
    x = torch.randn(4, 1) if shared_data else torch.randn(members, 4, 1)
    return params, buffers, x, x.clone(), torch.arange(members * 1.0) / 10, torch.tensor([0.5])


def _recording(seen):
    """function_of that records each group's inputs and returns a step-like output of them."""
    def function_of(group_inputs):
        def step(params, buffers, x, y, rate, scalars):
            seen.append((params, buffers, x, y, rate, scalars))
            return rate * 2, [p + 1 for p in params], {k: [b - 1 for b in v] for k, v in buffers.items()}
        return step
    return function_of


@pytest.mark.parametrize("shared_data", [True, False])
def test_each_group_gets_views_of_its_members_and_the_joined_output_is_the_whole_step(shared_data):
    inputs = _inputs(5, shared_data)
    params, buffers, x, y, rate, scalars = inputs
    seen = []
    outputs = call_in_groups(_recording(seen), inputs, 2, graphs=False)
    assert len(outputs) == len(seen) == 3  # groups of 2, 2 and 1
    for (p, b, gx, gy, r, s), part in zip(seen, member_slices(5, 2)):
        assert torch.equal(p[0], params[0][part]) and torch.equal(p[1], params[1][part])
        assert p[0].untyped_storage().data_ptr() == params[0].untyped_storage().data_ptr()  # a view
        assert torch.equal(b["m"][0], buffers["m"][0][part])
        assert torch.equal(r, rate[part]) and s is scalars
        if shared_data:
            assert gx is x and gy is y  # shared data goes whole to every group
        else:
            assert torch.equal(gx, x[part]) and torch.equal(gy, y[part])
    value, new_params, new_buffers = join(outputs)
    assert torch.equal(value, rate * 2)
    assert torch.equal(new_params[0], params[0] + 1) and torch.equal(new_params[1], params[1] + 1)
    assert torch.equal(new_buffers["m"][0], buffers["m"][0] - 1)


def test_one_group_gets_the_tensors_themselves():
    inputs = _inputs(4, shared_data=False)
    seen = []
    call_in_groups(_recording(seen), inputs, 4, graphs=False)
    (params, buffers, x, y, rate, _), = seen
    assert params[0] is inputs[0][0] and buffers["m"][0] is inputs[1]["m"][0]
    assert x is inputs[2] and y is inputs[3] and rate is inputs[4]


def test_function_of_is_asked_for_each_groups_own_shapes():
    asked = []

    def function_of(group_inputs):
        asked.append(group_inputs[0][0].shape[0])
        return lambda *args: (args[4], args[0], args[1])
    call_in_groups(function_of, _inputs(5, True), 2, graphs=False)
    assert asked == [2, 2, 1]


def test_with_graphs_every_output_is_a_copy_that_a_later_replay_cannot_overwrite():
    # a CUDA graph replay writes into the same output tensors each time; stand in for it with a
    # step that returns one fixed set of tensors, overwritten by every call
    inputs = _inputs(4, shared_data=True)
    fixed = (torch.zeros(2), [torch.zeros(2, 2), torch.zeros(2, 1)], {"m": [torch.zeros(2, 3)]})

    def function_of(group_inputs):
        def replay(params, buffers, x, y, rate, scalars):
            fixed[0].copy_(rate)
            for out, p in zip(fixed[1], params):
                out.copy_(p)
            fixed[2]["m"][0].copy_(buffers["m"][0])
            return fixed
        return replay
    copied = join(call_in_groups(function_of, inputs, 2, graphs=True))
    assert torch.equal(copied[0], inputs[4]) and torch.equal(copied[1][0], inputs[0][0])
    assert torch.equal(copied[1][1], inputs[0][1]) and torch.equal(copied[2]["m"][0], inputs[1]["m"][0])
    # the control: without the copies both groups' outputs are the last replay's tensors
    overwritten = call_in_groups(function_of, inputs, 2, graphs=False)
    assert overwritten[0][0] is overwritten[1][0]
    assert not torch.equal(join(overwritten)[0], inputs[4])


def test_join_concatenates_tensors_lists_and_dicts_along_the_members():
    a = (torch.zeros(2), [torch.zeros(2, 3)], {"m": [torch.zeros(2, 1)]})
    b = (torch.ones(1), [torch.ones(1, 3)], {"m": [torch.ones(1, 1)]})
    value, params, buffers = join([a, b])
    assert value.tolist() == [0.0, 0.0, 1.0]
    assert params[0].shape == (3, 3) and params[0][2].tolist() == [1.0, 1.0, 1.0]
    assert buffers["m"][0].flatten().tolist() == [0.0, 0.0, 1.0]
    assert isinstance(join([a, b]), tuple) and isinstance(params, list)  # each container kept
    assert join([a]) is a  # one group: as it is, no copy
    with pytest.raises(TypeError, match="cannot join outputs of type int"):
        join([1, 2])
