"""approx.member_groups: slices cover the members once, in order; join puts groups side by side."""
from __future__ import annotations

import pytest
import torch

from approx.member_groups import join, member_slices


def test_slices_cover_every_member_once_in_order():
    assert member_slices(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert member_slices(3, 8) == [slice(0, 3)]
    covered = [i for part in member_slices(1000, 64) for i in range(1000)[part]]
    assert covered == list(range(1000))


def test_join_concatenates_tensors_lists_and_dicts_along_the_members():
    a = (torch.zeros(2), [torch.zeros(2, 3)], {"m": [torch.zeros(2, 1)]})
    b = (torch.ones(1), [torch.ones(1, 3)], {"m": [torch.ones(1, 1)]})
    value, params, buffers = join([a, b])
    assert value.tolist() == [0.0, 0.0, 1.0]
    assert params[0].shape == (3, 3) and params[0][2].tolist() == [1.0, 1.0, 1.0]
    assert buffers["m"][0].flatten().tolist() == [0.0, 0.0, 1.0]
    assert join([a]) is a  # one group: as it is, no copy
    with pytest.raises(TypeError, match="cannot join outputs of type int"):
        join([1, 2])
