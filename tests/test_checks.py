"""approx.checks: every helper accepts what it should (the negative controls) and refuses the
rest with a ValueError naming the field, the bad value and the allowed range."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from approx import checks


def test_integer_accepts_ints_and_numpy_ints_in_range():
    assert checks.integer("n", 1, low=1, high=3) == 1
    assert checks.integer("n", 3, low=1, high=3) == 3
    value = checks.integer("n", np.int64(2), low=1)
    assert value == 2 and type(value) is int


@pytest.mark.parametrize("bad", [0, 4, True, False, 2.0, "2", None, np.bool_(True)])
def test_integer_refuses_out_of_range_bools_floats_and_text(bad):
    with pytest.raises(ValueError, match=rf"^n must be an integer in \[1, 3\], got {re.escape(repr(bad))}$"):
        checks.integer("n", bad, low=1, high=3)


def test_integer_message_with_one_bound():
    with pytest.raises(ValueError, match=r"^k must be an integer >= 1, got 0$"):
        checks.integer("k", 0, low=1)
    with pytest.raises(ValueError, match=r"^k must be an integer <= 5, got 6$"):
        checks.integer("k", 6, high=5)


def test_number_bounds_open_and_closed():
    assert checks.number("lr", 1e-3, low=0, low_open=True) == 1e-3
    assert checks.number("p", 0.0, low=0, high=1) == 0.0 and checks.number("p", 1, low=0, high=1) == 1.0
    assert checks.number("x", math.inf, finite=False) == math.inf  # negative control for finite=True
    assert checks.number("x", np.float32(0.5)) == 0.5
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got 0.0$"):
        checks.number("lr", 0.0, low=0, low_open=True)
    with pytest.raises(ValueError, match=r"^beta2 must be a finite number in \[0, 1\), got 1.0$"):
        checks.number("beta2", 1.0, low=0, high=1, high_open=True)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "0.1", None, torch.tensor(0.1)])
def test_number_refuses_nan_inf_bools_and_non_numbers(bad):
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got "):
        checks.number("lr", bad, low=0, low_open=True)


def test_nan_is_refused_even_when_infinity_is_allowed():
    with pytest.raises(ValueError, match="lr must be a number > 0, got nan"):
        checks.number("lr", math.nan, low=0, low_open=True, finite=False)


def test_flag_takes_only_true_and_false():
    assert checks.flag("mean_field", True) is True and checks.flag("mean_field", False) is False
    for bad in (1, 0, "true", None):
        with pytest.raises(ValueError, match=f"mean_field must be True or False, got {bad!r}"):
            checks.flag("mean_field", bad)


def test_choice_lists_what_is_allowed():
    assert checks.choice("engine", "autograd", ("backprop", "autograd")) == "autograd"
    with pytest.raises(ValueError, match=r"^unknown engine 'jax'; allowed: backprop, autograd$"):
        checks.choice("engine", "jax", ("backprop", "autograd"))


def test_group_takes_only_an_instance_of_its_class():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Radial:
        dims: tuple[int, ...] = (2,)

    radial = Radial()
    assert checks.group("radial", radial, Radial) is radial
    for bad in ({"dims": (2,)}, None, (2,)):
        with pytest.raises(ValueError, match=r"^radial must be Radial\(\.\.\.\) \(its fields are set as "
                                             rf"radial.FIELD\), got {re.escape(repr(bad))}$"):
            checks.group("radial", bad, Radial)


def test_sequences_refuse_empty_repeated_and_non_tuples():
    assert checks.integers("widths", (2, 4), low=2, high=8) == (2, 4)
    assert checks.integers("widths", [2, 4], low=2) == (2, 4)  # a list is accepted as a tuple
    assert checks.integers("sizes", (1, 8, 8, 1), low=1, distinct=False) == (1, 8, 8, 1)
    assert checks.integers("batches", (), low=1, min_len=0) == ()
    with pytest.raises(ValueError, match=r"^widths needs at least one of integers in \[2, 8\], got \(\)$"):
        checks.integers("widths", (), low=2, high=8)
    with pytest.raises(ValueError, match=r"widths needs at least 2 of"):
        checks.integers("widths", (4,), low=2, min_len=2)
    with pytest.raises(ValueError, match=r"^widths must not repeat a value, got 4 twice in \(4, 4\)$"):
        checks.integers("widths", (4, 4), low=2)
    with pytest.raises(ValueError, match=r"^every entry of widths must be an integer in \[2, 8\], got 1000000000$"):
        checks.integers("widths", (2, 10**9), low=2, high=8)
    with pytest.raises(ValueError, match=r"^widths must be a tuple of integers >= 2, got '24'$"):
        checks.integers("widths", "24", low=2)  # a string is iterable, but not a tuple of ints


def test_numbers_and_choices():
    assert checks.numbers("lrs", (0.1, 0.2), low=0, low_open=True) == (0.1, 0.2)
    with pytest.raises(ValueError, match=r"^every entry of lrs must be a finite number > 0, got nan$"):
        checks.numbers("lrs", (0.1, math.nan), low=0, low_open=True)
    assert checks.choices("engines", ("autograd",), ("backprop", "autograd")) == ("autograd",)
    with pytest.raises(ValueError, match=r"^engines needs at least one of backprop, autograd, got \(\)$"):
        checks.choices("engines", (), ("backprop", "autograd"))
    with pytest.raises(ValueError, match=r"^unknown entry 'jax' in engines; allowed: backprop, autograd$"):
        checks.choices("engines", ("jax",), ("backprop", "autograd"))


def test_seed_range_is_what_torch_and_numpy_accept_with_room_for_derived_seeds():
    top = checks.SEED_LIMIT - 1
    assert checks.seed(0) == 0 and checks.seed(top) == top
    # what the range promises: the seed, and the largest seed an experiment derives from it,
    # are accepted by torch and numpy
    torch.Generator().manual_seed(top * 100_003 + 10**6)
    np.random.default_rng(top * 100_003 + 10**6)
    np.random.seed(top)
    for bad in (-1, checks.SEED_LIMIT, 2**70, True, 1.0, "1"):
        with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*32 - 1\] = "
                                             r"\[0, 4294967295\], got "):
            checks.seed(bad)


def test_product_at_most_names_every_factor():
    factors = {"members": 4, "batch_size": 8, "max(widths)": 16}
    assert checks.product_at_most("one hidden activation", factors, 512) == 512
    with pytest.raises(ValueError, match=r"^one hidden activation would be members 4 x batch_size 8 x "
                                         r"max\(widths\) 16 = 512, more than the 511 allowed; lower one of them$"):
        checks.product_at_most("one hidden activation", factors, 511)
