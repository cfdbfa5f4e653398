"""approx.run.configs: a Config is built in layers (defaults, preset, flags, ``--set``), each value
parsed by its field's type; a Config's groups of fields (nested frozen dataclasses) are set with
dotted keys, ``--set radial.dims=2,8``, on top of the group a preset gives; unknown sub-keys name
the keys allowed there; point keys and the JSON record follow the nesting."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Optional

import pytest

from approx import checks
from approx.run.configs import build_config, flat_values, parse_value, replace_key, settable_keys
from approx.run.store import canonical_json, point_key


@dataclass(frozen=True)
class Toy:
    steps: int = 10
    lr: float = 0.1
    seed: int = 0


TOY = SimpleNamespace(Config=Toy, PRESETS={"smoke": {"steps": 2, "lr": 0.5}, "full": {"steps": 100}})


def test_layers_apply_in_order_defaults_preset_flags_set():
    assert build_config("toy", TOY) == Toy()
    assert build_config("toy", TOY, "smoke") == Toy(steps=2, lr=0.5)
    assert build_config("toy", TOY, "smoke", fields_from_flags={"seed": 4}) == Toy(2, 0.5, 4)
    assert build_config("toy", TOY, "smoke", fields_from_flags={"seed": 4},
                        assignments=["lr=0.25", "seed=9"]) == Toy(2, 0.25, 9)


def test_flags_for_fields_a_config_lacks_are_ignored():
    # `approx reproduce --device cpu` reaches every experiment, with or without a device field
    assert build_config("toy", TOY, fields_from_flags={"device": "cpu", "seed": None}) == Toy()


def test_a_preset_that_sets_an_unknown_field_is_reported():
    bad = SimpleNamespace(Config=Toy, PRESETS={"smoke": {"stepz": 1}})
    with pytest.raises(ValueError, match="preset 'smoke' of toy sets unknown field 'stepz'; allowed: steps, lr, seed"):
        build_config("toy", bad, "smoke")


@pytest.mark.parametrize("text,tp,value", [
    ("1e4", int, 10_000), ("-3", int, -3), ("inf", float, float("inf")), ("0", bool, False),
    ("True", bool, True), ("", tuple[int, ...], ()), ("7", tuple[int, ...], (7,)),
    ("a, b", tuple[str, ...], ("a", "b")), ("None", Optional[float], None), ("0.5", float | None, 0.5),
    ("none", str, "none"),  # only Optional fields turn "none" into None
])
def test_values_parse_by_field_type(text, tp, value):
    assert parse_value("k", text, tp) == value and type(parse_value("k", text, tp)) is type(value)


@dataclass(frozen=True)
class Inner:
    depth: int = 1                       # a group inside a group
    rates: tuple[float, ...] = (0.1,)

    def __post_init__(self):
        checks.integer("radial.inner.depth", self.depth, low=1, high=8)
        checks.numbers("radial.inner.rates", self.rates, low=0, low_open=True)


@dataclass(frozen=True)
class Radial:
    dims: tuple[int, ...] = (2, 8)       # the part's own fields ...
    steps: int = 10                      # ... one named like a top-level field
    inner: Inner = Inner()

    def __post_init__(self):
        checks.integers("radial.dims", self.dims, low=1, high=64)
        checks.integer("radial.steps", self.steps, low=1, high=1000)
        checks.group("radial.inner", self.inner, Inner)


@dataclass(frozen=True)
class Grouped:
    radial: Radial = Radial()
    steps: int = 5
    seed: int = 0

    def __post_init__(self):
        checks.group("radial", self.radial, Radial)
        checks.integer("steps", self.steps, low=1, high=1000)


GROUPED = SimpleNamespace(Config=Grouped, PRESETS={"smoke": {"radial": Radial(dims=(2,)), "steps": 1}})


def _build(*assignments: str, preset: str = "default", **flags) -> Grouped:
    return build_config("grouped", GROUPED, preset, fields_from_flags=flags, assignments=list(assignments))


def test_settable_keys_are_dotted_in_field_order():
    assert list(settable_keys(Grouped)) == ["radial.dims", "radial.steps", "radial.inner.depth",
                                            "radial.inner.rates", "steps", "seed"]
    assert settable_keys(Grouped)["radial.dims"] == tuple[int, ...]


def test_a_dotted_key_sets_one_field_of_its_group_and_keeps_the_others():
    assert _build("radial.dims=2,8,32") == Grouped(radial=Radial(dims=(2, 8, 32)))
    # radial.steps and the top-level steps are different fields
    assert _build("radial.steps=7") == Grouped(radial=Radial(steps=7), steps=5)
    assert _build("steps=7") == Grouped(radial=Radial(steps=10), steps=7)
    assert _build("radial.inner.depth=3", "radial.inner.rates=0.5,1") == Grouped(
        radial=Radial(inner=Inner(depth=3, rates=(0.5, 1.0))))
    # assignments to one group accumulate; a later one to the same key wins
    assert _build("radial.dims=4", "radial.steps=2", "radial.dims=16") == Grouped(radial=Radial(dims=(16,), steps=2))
    # negative control: without assignments, the defaults
    assert _build() == Grouped()


def test_replace_key_replaces_one_field_by_its_dotted_key_and_checks_again():
    cfg = Grouped()
    assert replace_key(cfg, "radial.inner.depth", 4) == Grouped(radial=Radial(inner=Inner(depth=4)))
    assert replace_key(cfg, "steps", 2) == Grouped(steps=2)
    with pytest.raises(ValueError, match=r"^radial.inner.depth must be an integer in \[1, 8\], got 0$"):
        replace_key(cfg, "radial.inner.depth", 0)
    with pytest.raises(ValueError, match=r"^radial must be Radial\(\.\.\.\)"):
        replace_key(cfg, "radial", None)
    assert cfg == Grouped()  # control: the original is untouched (frozen)


def test_a_preset_sets_a_group_and_dotted_keys_override_single_fields_on_top():
    assert _build(preset="smoke") == Grouped(radial=Radial(dims=(2,)), steps=1)
    cfg = _build("radial.steps=7", "radial.inner.depth=2", preset="smoke", seed=3)
    assert cfg == Grouped(radial=Radial(dims=(2,), steps=7, inner=Inner(depth=2)), steps=1, seed=3)
    assert cfg.radial.dims == (2,)  # the preset's value survives a sibling's override
    assert _build("radial.steps=7").radial.dims == (2, 8)  # control: without the preset, the default


@pytest.mark.parametrize("key,expected", [
    ("radial.dimz=2", "unknown key 'radial.dimz' for grouped; allowed in radial: radial.dims, radial.steps, "
                      "radial.inner.depth, radial.inner.rates"),
    ("radial.inner.width=2", "unknown key 'radial.inner.width' for grouped; allowed in radial.inner: "
                             "radial.inner.depth, radial.inner.rates"),
    ("radial=2", "'radial' of grouped is a group of fields, set one at a time; allowed: radial.dims, "
                 "radial.steps, radial.inner.depth, radial.inner.rates"),
    ("radial.inner=2", "'radial.inner' of grouped is a group of fields, set one at a time; allowed: "
                       "radial.inner.depth, radial.inner.rates"),
    ("steps.x=2", "unknown key 'steps.x' for grouped; allowed: radial.dims, radial.steps, radial.inner.depth, "
                  "radial.inner.rates, steps, seed"),
    ("dims=2", "unknown key 'dims' for grouped; allowed: radial.dims, radial.steps"),
    ("radial.dims=a", "bad value 'a' for radial.dims (tuple[int, ...]): expected an integer"),
    ("radial.dims=0", "invalid configuration for grouped: every entry of radial.dims must be an integer in [1, 64], "
                      "got 0"),
    ("radial.inner.depth=9", "invalid configuration for grouped: radial.inner.depth must be an integer in [1, 8], "
                             "got 9"),
])
def test_bad_dotted_keys_and_values_name_what_is_allowed(key, expected):
    with pytest.raises(ValueError) as caught:
        _build(key)
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_a_group_must_be_given_as_its_class():
    # a preset giving a dict (or anything but the group) is refused by the Config's check ...
    bad = SimpleNamespace(Config=Grouped, PRESETS={"smoke": {"radial": {"dims": (2,)}}})
    with pytest.raises(ValueError, match=r"^invalid configuration for grouped: radial must be Radial\(\.\.\.\) "
                                         r"\(its fields are set as radial.FIELD\), got \{'dims': \(2,\)\}$"):
        build_config("grouped", bad, "smoke")
    # ... and by build_config itself when a dotted key would replace one of its fields
    with pytest.raises(ValueError, match=r"^invalid configuration for grouped: radial must be Radial\(\.\.\.\)"):
        build_config("grouped", bad, "smoke", assignments=["radial.steps=2"])
    with pytest.raises(ValueError, match=r"radial.inner must be Inner\(\.\.\.\)"):
        Radial(inner=None)
    assert build_config("grouped", GROUPED, "smoke").radial == Radial(dims=(2,))  # control


def test_point_keys_and_the_record_follow_the_nesting():
    by_flags = _build("radial.dims=2", "radial.steps=3", "steps=1")
    by_hand = Grouped(radial=Radial(dims=(2,), steps=3), steps=1)
    point = {"part": "radial", "d": 2}
    key = point_key("grouped", dataclasses.asdict(by_flags), point)
    assert key == point_key("grouped", dataclasses.asdict(by_hand), point)  # stable: same Config, same key
    # negative controls: one nested field, or the nesting level of a field, changes the key
    assert key != point_key("grouped", dataclasses.asdict(_build("radial.dims=3", "radial.steps=3", "steps=1")), point)
    assert key != point_key("grouped", flat_values(dataclasses.asdict(by_hand)), point)
    # the JSON record holds the groups as objects; flattened, the keys are those --set takes
    record = json.loads(canonical_json(dataclasses.asdict(by_hand)))
    assert record["radial"] == {"dims": [2], "steps": 3, "inner": {"depth": 1, "rates": [0.1]}}
    assert flat_values(record) == {"radial.dims": [2], "radial.steps": 3, "radial.inner.depth": 1,
                                   "radial.inner.rates": [0.1], "steps": 1, "seed": 0}
    assert list(flat_values(dataclasses.asdict(by_hand))) == list(settable_keys(Grouped))  # same order too
