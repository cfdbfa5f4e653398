"""Experiment configurations from presets and ``--set key=value`` overrides, checked by type.

A Config is a frozen dataclass with a type on every field. Its value is built in four layers,
each overriding the last:

    Config defaults  <-  PRESETS[preset]  <-  --seed / --device  <-  --set key=value ...

"default" is the Config's own defaults (a module's PRESETS may leave it out or give {}).

A Config may group fields per part of its study: a field whose type is itself a frozen
dataclass (a *group*, nested to any depth) is set field by field with a dotted key,
``--set radial.dims=2,8``, which keeps the group's other fields. A preset sets a group with an
instance of it, ``{"radial": Radial(dims=(2,))}`` (the fields it leaves out take the group's own
defaults), and ``--set`` then overrides single fields on top. Text from the command line is
parsed by the field's type:

    int                  "12", "-3", "1e4" (a float that is a whole number)
    float                "0.1", "1e-3", "inf"
    bool                 true / false / 1 / 0  (any case)
    str                  as given
    Literal[...]         one of the listed values
    tuple[T, ...]        comma-separated T's: "2,4,8" (one value "8" gives (8,), "" gives ())
    tuple[T1, T2]        exactly that many comma-separated values
    Optional[T], T|None  "none" gives None, anything else is parsed as T

Every failure is a ValueError naming the key, the bad value and what is allowed; a Config's own
``__post_init__`` checks (ValueError; the experiments use approx.checks) are reported the same way.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

__all__ = ["PRESET_NAMES", "field_types", "is_group", "settable_keys", "flat_values", "replace_key",
           "parse_value", "parse_assignment", "build_config", "type_name"]

PRESET_NAMES = ("smoke", "default", "full")
TRUE_WORDS, FALSE_WORDS = ("true", "1"), ("false", "0")


def field_types(config_class: type) -> dict[str, Any]:
    """Field name -> resolved type annotation (works with ``from __future__ import annotations``)."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def is_group(tp: Any) -> bool:
    """Is this field type a group of fields (a dataclass), set with dotted keys?"""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def settable_keys(config_class: type, prefix: str = "") -> dict[str, Any]:
    """Every key ``--set`` accepts -> its type, in field order: a group's fields as GROUP.FIELD."""
    keys: dict[str, Any] = {}
    for name, tp in field_types(config_class).items():
        if is_group(tp):
            keys.update(settable_keys(tp, f"{prefix}{name}."))
        else:
            keys[prefix + name] = tp
    return keys


def flat_values(config: dict, prefix: str = "") -> dict[str, Any]:
    """A Config as ``dataclasses.asdict`` (or its JSON record) gives it, flattened to the dotted
    keys of ``settable_keys``: {"radial": {"dims": [2]}} -> {"radial.dims": [2]}."""
    flat: dict[str, Any] = {}
    for name, value in config.items():
        if isinstance(value, dict):
            flat.update(flat_values(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def replace_key(config: Any, key: str, value: Any) -> Any:
    """``config`` with the field at the dotted ``key`` replaced (``radial.dims``: in its group),
    checked again by the groups and the Config on the way up, like ``dataclasses.replace``."""
    name, _, rest = key.partition(".")
    if rest:
        value = replace_key(getattr(config, name), rest, value)
    return dataclasses.replace(config, **{name: value})


def type_name(tp: Any) -> str:
    """A readable name for an annotation: int, tuple[int, ...], float | None, ..."""
    return tp.__name__ if isinstance(tp, type) and not typing.get_args(tp) else str(tp).replace("typing.", "")


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _parse_scalar(text: str, tp: Any) -> Any:
    if tp is bool:
        word = text.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError("expected true/false/1/0")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)  # "1e4" is a whole number written as a float
        except ValueError:
            number = float("nan")
        if number.is_integer():
            return int(number)
        raise ValueError("expected an integer")
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if tp is str:
        return text
    if typing.get_origin(tp) is typing.Literal:
        for choice in typing.get_args(tp):
            if str(choice) == text:
                return choice
        raise ValueError(f"expected one of {', '.join(str(c) for c in typing.get_args(tp))}")
    raise ValueError(f"cannot be set from the command line (type {type_name(tp)})")


def _parse(text: str, tp: Any) -> Any:
    optional, inner = _is_optional(tp)
    if optional:
        return None if text.strip().lower() == "none" else _parse(text, inner)
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        items = [] if text.strip() == "" else [s.strip() for s in text.split(",")]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_scalar(s, args[0]) for s in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values")
        return tuple(_parse_scalar(s, a) for s, a in zip(items, args))
    return _parse_scalar(text, tp)


def parse_value(key: str, text: str, tp: Any) -> Any:
    """Parse ``text`` for the field ``key`` of type ``tp``; ValueError names what is allowed."""
    try:
        return _parse(text, tp)
    except ValueError as err:
        raise ValueError(f"bad value {text!r} for {key} ({type_name(tp)}): {err}") from None


def parse_assignment(text: str) -> tuple[str, str]:
    """'key=value' -> (key, value)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set expects key=value; got {text!r}")
    return key.strip(), value


def _unknown_key(name: str, key: str, config_class: type) -> ValueError:
    """The error for a ``--set`` key that names no settable field. It lists the keys allowed
    in the deepest group the key walks into (all keys when it names none)."""
    keys = settable_keys(config_class)
    prefix, group_class = "", config_class
    for part in key.split("."):
        tp = field_types(group_class).get(part)
        if not is_group(tp):
            break
        prefix, group_class = f"{prefix}{part}.", tp
    if not prefix:
        return ValueError(f"unknown key {key!r} for {name}; allowed: {', '.join(keys)}")
    group = prefix.removesuffix(".")
    inside = ", ".join(k for k in keys if k.startswith(prefix))
    if key == group:
        return ValueError(f"{key!r} of {name} is a group of fields, set one at a time; allowed: {inside}")
    return ValueError(f"unknown key {key!r} for {name}; allowed in {group}: {inside}")


def _group_default(config_class: type, field_name: str) -> Any:
    """The default value of a group field (None when the field has none)."""
    field = next(f for f in dataclasses.fields(config_class) if f.name == field_name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _with_overrides(group: str, config_class: type, base: Any, overrides: dict[str, Any]) -> Any:
    """``base`` (an instance of the group ``config_class``, or None) with ``overrides`` applied;
    an override of a nested group is itself a dict of overrides. ``group`` is its dotted name."""
    if base is not None and not isinstance(base, config_class):  # approx.checks.group's wording
        raise ValueError(f"{group} must be {config_class.__name__}(...) (its fields are set as {group}.FIELD), "
                         f"got {base!r}")
    values = {}
    for key, value in overrides.items():
        if isinstance(value, dict):
            inner = getattr(base, key) if base is not None else _group_default(config_class, key)
            value = _with_overrides(f"{group}.{key}", field_types(config_class)[key], inner, value)
        values[key] = value
    return dataclasses.replace(base, **values) if base is not None else config_class(**values)


def build_config(name: str, module: Any, preset: str = "default", *,
                 fields_from_flags: dict[str, Any] | None = None,
                 assignments: list[str] | tuple[str, ...] = ()) -> Any:
    """The module's Config with the preset, the flag fields (seed/device, applied when the
    Config has them) and the ``key=value`` assignments applied, in that order. A dotted key
    sets one field of a group, on top of the group the preset gave (or the default one)."""
    config_class = module.Config
    types_by_field = field_types(config_class)
    keys = settable_keys(config_class)
    presets = dict(getattr(module, "PRESETS", {}))
    presets.setdefault("default", {})
    if preset not in presets:
        allowed = [p for p in PRESET_NAMES if p in presets] + sorted(set(presets) - set(PRESET_NAMES))
        raise ValueError(f"unknown preset {preset!r} for {name}; allowed: {', '.join(allowed)}")
    values: dict[str, Any] = {}
    for key, value in presets[preset].items():
        if key not in types_by_field:
            raise ValueError(f"preset {preset!r} of {name} sets unknown field {key!r}; "
                             f"allowed: {', '.join(types_by_field)}")
        values[key] = value
    for key, value in (fields_from_flags or {}).items():
        if key in types_by_field and value is not None:
            values[key] = value
    groups: dict[str, dict] = {}  # group field -> {sub-field: value, or a nested group's dict}
    for text in assignments:
        key, raw = parse_assignment(text)
        if key not in keys:
            raise _unknown_key(name, key, config_class)
        value = parse_value(key, raw, keys[key])
        *path, last = key.split(".")
        if not path:
            values[key] = value
            continue
        node = groups
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    try:
        for group, overrides in groups.items():
            base = values[group] if group in values else _group_default(config_class, group)
            values[group] = _with_overrides(group, types_by_field[group], base, overrides)
        return config_class(**values)
    except ValueError as err:
        raise ValueError(f"invalid configuration for {name}: {err}") from None
