"""approx.schedules: each schedule's multiplier at known steps, cosine's monotone decay, lookup by
name or callable, and an unknown name listing the allowed ones."""
from __future__ import annotations

import pytest

from approx import schedules


def test_schedules():
    assert [schedules.constant(t, 10) for t in (0, 5, 9)] == [1.0, 1.0, 1.0]
    # step: divide by 10 every total // 3 = 3 steps
    assert [schedules.step(t, 10) for t in (0, 2, 3, 5, 6, 9)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.001])
    assert schedules.step(7, 100, step_size=5, gamma=0.5) == 0.5
    cos = schedules.get("cosine")
    assert cos(0, 100) == 1.0 and cos(50, 100) == pytest.approx(0.5) and cos(100, 100) == pytest.approx(0.0)
    assert all(cos(t, 100) >= cos(t + 1, 100) for t in range(100))  # monotone decay
    custom = lambda t, total: 1.0 / (1 + t)  # noqa: E731
    assert schedules.get(custom) is custom
    with pytest.raises(ValueError, match="unknown schedule 'linear'; allowed: constant, step, cosine"):
        schedules.get("linear")
