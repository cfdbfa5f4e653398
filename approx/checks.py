"""Checks of user input, one wording everywhere: each helper returns the value it accepts or
raises ValueError naming the field, the bad value and what is allowed.

    integer("steps", 0, low=1, high=10**7)
    ValueError: steps must be an integer in [1, 10000000], got 0

Every experiment's Config checks each of its fields with these in ``__post_init__``, so that a
bad value costs no work (the CLI prints the message as one line and exits with 2); library
functions use them for their arguments too.

Two Python facts the helpers guard against:
  * ``bool`` is a subclass of ``int`` (True == 1), so ``steps=True`` would pass a plain
    ``isinstance(value, int)``; booleans are refused wherever a number is asked for.
  * nan compares false with everything, so ``not value > 0`` catches it but ``value < 0`` does
    not; ``number`` refuses nan always, and inf unless ``finite=False``.
Values are also refused by type (a string where a number belongs) with the same ValueError,
never the TypeError a comparison would raise.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable

__all__ = ["SEED_LIMIT", "integer", "number", "flag", "choice", "sequence", "integers", "numbers",
           "choices", "seed", "product_at_most", "group"]

# torch.manual_seed and torch.Generator.manual_seed accept [-2**63, 2**64) ("Overflow when
# unpacking long long" above it, on torch 2.13 and 2.14), numpy.random.default_rng any integer
# >= 0, numpy.random.seed [0, 2**32) (approx.device.seed_everything passes it seed % 2**32).
# Experiments derive further seeds from cfg.seed, the largest being cfg.seed * 100_003 + index
# (gradcheck); with cfg.seed < 2**32 every derived seed stays below 2**50, inside every range above.
SEED_LIMIT = 2**32


def _is_integer(value: Any) -> bool:
    # Integral covers int and numpy integers; bool (and numpy.bool_) are not integers here
    return isinstance(value, Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def _interval(low, high, low_open: bool = False, high_open: bool = False) -> str:
    """">= 1", "<= 5", "in [1, 65536]", "in (0, 1)" for the given bounds (None: unbounded)."""
    if low is None and high is None:
        return ""
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def integer(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int if it is an integer (not a bool) with low <= value <= high."""
    if not _is_integer(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {_interval(low, high)}".rstrip() + f", got {value!r}")
    return int(value)


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """``value`` as a float if it is a real number (not a bool, never nan; not inf when
    ``finite``) within the bounds; ``low_open`` / ``high_open`` exclude the bound itself."""
    ok = _is_number(value) and not math.isnan(value) and (math.isfinite(value) or not finite)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        kind = "a finite number" if finite else "a number"
        raise ValueError(f"{name} must be {kind} {_interval(low, high, low_open, high_open)}".rstrip()
                         + f", got {value!r}")
    return float(value)


def flag(name: str, value: Any) -> bool:
    """``value`` if it is True or False (1, 0 and "yes" are refused: a typo, not a choice)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def choice(name: str, value: Any, allowed: Iterable) -> Any:
    """``value`` if it is one of ``allowed`` (compared with ==; the message lists them all)."""
    allowed = list(allowed)
    if isinstance(value, bool) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def group(name: str, value: Any, group_class: type) -> Any:
    """``value`` if it is a ``group_class``: a Config's group of fields (a frozen dataclass whose
    own ``__post_init__`` checks them), which the command line sets as NAME.FIELD."""
    if not isinstance(value, group_class):
        raise ValueError(f"{name} must be {group_class.__name__}(...) (its fields are set as {name}.FIELD), "
                         f"got {value!r}")
    return value


def sequence(name: str, values: Any, *, min_len: int = 1, distinct: bool = True, what: str = "values") -> tuple:
    """``values`` as a tuple if it is a tuple or list of at least ``min_len`` items, all
    different when ``distinct`` (a repeated width would repeat a sweep point). ``what`` names
    the items in the message ("widths >= 2", "target names: sin1, gaussian, ...")."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (tuple, list)):
        raise ValueError(f"{name} must be a tuple of {what}, got {values!r}")
    values = tuple(values)
    if len(values) < min_len:
        count = "at least one" if min_len == 1 else f"at least {min_len}"
        raise ValueError(f"{name} needs {count} of {what}, got {values!r}")
    if distinct:
        seen = set()
        for v in values:
            if _hashable(v) in seen:
                raise ValueError(f"{name} must not repeat a value, got {v!r} twice in {values!r}")
            seen.add(_hashable(v))
    return values


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def integers(name: str, values: Any, *, low: int | None = None, high: int | None = None,
             min_len: int = 1, distinct: bool = True) -> tuple[int, ...]:
    """A tuple of integers, each low <= v <= high (see ``sequence`` for min_len, distinct)."""
    values = sequence(name, values, min_len=min_len, distinct=distinct,
                      what=f"integers {_interval(low, high)}".rstrip())
    return tuple(integer(f"every entry of {name}", v, low=low, high=high) for v in values)


def numbers(name: str, values: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, min_len: int = 1,
               distinct: bool = True) -> tuple[float, ...]:
    """A tuple of finite numbers within the bounds (see ``number`` and ``sequence``)."""
    interval = _interval(low, high, low_open, high_open)
    values = sequence(name, values, min_len=min_len, distinct=distinct,
                      what=f"finite numbers {interval}".rstrip())
    return tuple(number(f"every entry of {name}", v, low=low, high=high, low_open=low_open,
                        high_open=high_open) for v in values)


def choices(name: str, values: Any, allowed: Iterable, *, min_len: int = 1, distinct: bool = True) -> tuple:
    """A tuple of items of ``allowed``; an empty tuple (when min_len >= 1) lists the allowed ones."""
    allowed = list(allowed)
    values = sequence(name, values, min_len=min_len, distinct=distinct,
                      what=", ".join(map(str, allowed)))
    for v in values:
        if isinstance(v, bool) or v not in allowed:
            raise ValueError(f"unknown entry {v!r} in {name}; allowed: {', '.join(map(str, allowed))}")
    return values


def seed(value: Any, name: str = "seed") -> int:
    """A seed: an integer in [0, SEED_LIMIT) = [0, 2**32) (why that range: see SEED_LIMIT)."""
    if not _is_integer(value) or not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**32 - 1] = [0, {SEED_LIMIT - 1}], got {value!r}")
    return int(value)


def product_at_most(what: str, factors: dict[str, int], high: int) -> int:
    """The product of ``factors`` (label -> size) if it is at most ``high``.

    For sizes that are each in range but multiply into one tensor (members x batch x width
    numbers of a hidden activation, say): the message shows every factor, so the user sees
    which one to lower."""
    total = math.prod(factors.values())
    if total > high:
        terms = " x ".join(f"{label} {size}" for label, size in factors.items())
        raise ValueError(f"{what} would be {terms} = {total}, more than the {high} allowed; lower one of them")
    return total
