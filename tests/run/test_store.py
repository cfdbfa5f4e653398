"""approx.run.store, the per-point store: stable keys, exact round trips, corruption detected."""
from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from approx.run.store import PointStore, StoreError, frame_from_record, frame_to_record, point_key


def test_point_key_is_sha256_of_canonical_json():
    # the documented format, written out by hand: sorted keys, no spaces, tuples as lists
    canonical = '{"config":{"lr":0.1,"seed":0,"sizes":[1,2]},"experiment":"counting","point":{"size":1}}'
    expected = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    assert point_key("counting", {"sizes": (1, 2), "seed": 0, "lr": 0.1}, {"size": 1}) == expected
    assert expected == "f8edb0a550be6caa6054"  # frozen: changing the format orphans users' stores
    assert point_key("counting", {"seed": 0, "lr": 0.1, "sizes": [1, 2]}, {"size": 1}) == expected


@pytest.mark.parametrize("change", [
    ("other", {"sizes": [1, 2], "seed": 0, "lr": 0.1}, {"size": 1}),
    ("counting", {"sizes": [1, 2], "seed": 1, "lr": 0.1}, {"size": 1}),
    ("counting", {"sizes": [1, 2], "seed": 0, "lr": 0.1 + 1e-16}, {"size": 1}),
    ("counting", {"sizes": [1, 2], "seed": 0, "lr": 0.1, "device": "cuda"}, {"size": 1}),
    ("counting", {"sizes": [1, 2], "seed": 0, "lr": 0.1}, {"size": 2}),
    ("counting", {"sizes": [1, 2], "seed": 0, "lr": 0.1}, None),
])
def test_point_key_changes_with_every_part(change):
    assert point_key(*change) != point_key("counting", {"sizes": [1, 2], "seed": 0, "lr": 0.1}, {"size": 1})


def test_point_key_rejects_values_that_are_not_json():
    with pytest.raises(TypeError, match="JSON"):
        point_key("counting", {}, {"size": object()})


def _awkward_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "f64": [0.1, 1 / 3, -0.0, math.nan, math.inf, -math.inf, 5e-324],
        "f32": np.array([0.1, 1 / 3, 2.5, 1e-40, np.nan, 7.0, -1.0], dtype=np.float32),
        "i64": np.array([0, -1, 2**62, 3, 4, 5, 6], dtype=np.int64),
        "flag": [True, False, True, True, False, False, True],
        "name": ["a", "b,c", "", 'q"q', "é", "x y", "z"],
    })


def test_frames_round_trip_exactly_dtypes_included(tmp_path):
    store, frame = PointStore(tmp_path), _awkward_frame()
    store.save("k1", {"size": 1}, frame, {"pid": 1})
    back = store.load("k1")
    assert list(back.dtypes) == list(frame.dtypes)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert np.signbit(back["f64"].iloc[2])  # -0.0 stays negative
    assert back.to_csv(index=False) == frame.to_csv(index=False)
    altered = frame.assign(f64=frame["f64"] * (1 + 2**-52))  # negative control: one ulp differs
    assert altered.to_csv(index=False) != back.to_csv(index=False)


def test_an_empty_frame_round_trips(tmp_path):
    store = PointStore(tmp_path)
    store.save("k", {}, pd.DataFrame({"a": pd.Series([], dtype="float64")}))
    assert list(store.load("k").columns) == ["a"] and len(store.load("k")) == 0


def test_missing_points_load_as_none(tmp_path):
    assert PointStore(tmp_path / "nothing").load("abc") is None
    assert PointStore(tmp_path / "nothing").keys() == []


@pytest.mark.parametrize("damage", ["truncate", "not_json", "other_key", "bad_lengths", "wrong_format"])
def test_corrupt_points_raise_store_error_naming_the_file(tmp_path, damage):
    store = PointStore(tmp_path)
    store.save("k1", {"size": 1}, _awkward_frame())
    path = store.path("k1")
    record = json.loads(path.read_text())
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-40])
    elif damage == "not_json":
        path.write_text("hello")
    elif damage == "other_key":
        store.save("k2", {"size": 2}, _awkward_frame())
        os.replace(store.path("k2"), path)  # a file under the wrong name
    elif damage == "bad_lengths":
        record["frame"]["values"][0].pop()
        path.write_text(json.dumps(record))
    else:
        record["format"] = "something-else/9"
        path.write_text(json.dumps(record))
    with pytest.raises(StoreError, match=f"corrupt stored point {path}"):
        store.load("k1")


def test_keys_ignore_and_remove_temporaries_and_clear_forgets_everything(tmp_path):
    store = PointStore(tmp_path / "s")
    store.save("b", {}, _awkward_frame())
    store.save("a", {}, _awkward_frame())
    leftover = store.directory / ".c.json.x1y2.tmp"  # what a SIGKILL mid-write leaves
    leftover.write_text("{")
    assert store.keys() == ["a", "b"]
    store.remove_temporaries()
    assert not leftover.exists() and store.keys() == ["a", "b"]
    store.clear()
    assert store.keys() == [] and not store.directory.exists()


def test_nullable_columns_round_trip_through_json():
    frame = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"),
                          "ok": pd.array([True, None], dtype="boolean")})
    back = frame_from_record(json.loads(json.dumps(frame_to_record(frame))))
    pd.testing.assert_frame_equal(back, frame)
    # control: a different missing pattern is a different frame
    other = frame.assign(n=pd.array([None, 1], dtype="Int64"))
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(back, other)


@pytest.mark.parametrize("record", [
    {"columns": ["a", "b"], "dtypes": ["int64"], "values": [[1], [2]]},           # a dtype missing
    {"columns": ["a", "b"], "dtypes": ["int64", "int64"], "values": [[1], [2, 3]]},  # ragged values
])
def test_a_record_whose_parts_disagree_is_rejected(record):
    """A stored record with a column short of a dtype or of values is refused, not padded with
    NaN or cut silently."""
    with pytest.raises(ValueError) as err:
        frame_from_record(record)
    assert str(err.value) == "columns, dtypes and values disagree in length"
    # negative control: the same record made consistent reads back
    fixed = {"columns": ["a", "b"], "dtypes": ["int64", "int64"], "values": [[1], [2]]}
    assert frame_from_record(fixed).to_dict("list") == {"a": [1], "b": [2]}
