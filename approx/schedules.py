"""Learning-rate schedules: the multiplier lr(t) / lr(0) as a pure function of the step.

Every schedule is a function ``factor(t, total) -> float`` of the step t = 0, 1, ..., total - 1
and the number of steps ``total``; the training loop uses eta_t = eta * factor(t, total), so a
schedule never touches optimizer state and two runs with the same schedule see the same rates.

    constant:  1
    step:      gamma ** floor(t / step_size)       (gamma = 0.1, step_size = max(1, total // 3))
    cosine:    (1 + cos(pi t / total)) / 2          (Loshchilov & Hutter 2017, SGDR, one cycle,
                                                     no restarts, decaying to 0 at t = total)
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["SCHEDULES", "constant", "step", "cosine", "get", "names"]

Schedule = Callable[[int, int], float]


def constant(t: int, total: int) -> float:
    """1 at every step."""
    return 1.0


def step(t: int, total: int, step_size: int | None = None, gamma: float = 0.1) -> float:
    """gamma ** floor(t / step_size): divide the rate by 1/gamma every step_size steps."""
    size = max(1, total // 3) if step_size is None else step_size
    return gamma ** (t // size)


def cosine(t: int, total: int) -> float:
    """(1 + cos(pi t / total)) / 2: from 1 at t = 0 smoothly down to 0 at t = total."""
    if total <= 0:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))


SCHEDULES: dict[str, Schedule] = {"constant": constant, "step": step, "cosine": cosine}


def names() -> list[str]:
    return list(SCHEDULES)


def get(schedule: str | Schedule) -> Schedule:
    """The schedule called ``schedule`` (or a callable (t, total) -> factor, returned as is)."""
    if callable(schedule):
        return schedule
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(
            f"unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULES)} "
            "or a callable (t, total) -> factor"
        )
    return SCHEDULES[schedule]
