"""A dataset spec that cannot work fails when it is loaded, with a message naming the file and the field."""

import pytest

from ml_platform.lib.spec import SpecError, load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC, write_spec


def test_the_default_spec_loads():
    spec = load_spec(DEFAULT_SPEC)
    assert spec.numeric_features == ["age", "income", "spending_score"]
    assert spec.categorical_features == ["gender", "occupation"]
    assert spec.target.classes == ["budget", "standard", "premium", "luxury"]
    assert [(d.name, d.kind, d.column) for d in spec.derived] == [("age_group", "bins", "age")]


@pytest.mark.parametrize("overrides, message", [
    ({"name": "Customer Segmentation!"}, r"name: Value error, must be lowercase"),
    ({"target": {"classes": ["only-one"]}}, r"target.classes: List should have at least 2 items"),
    ({"features": [{"name": "age", "type": "numeric", "min": 10, "max": 1}]}, r"features.0.numeric: .*min 10"),
    ({"features": [{"name": "age", "type": "text"}]}, r"features.0: Input tag 'text'"),
    ({"features": [{"name": "segment", "type": "numeric"}]}, r"column names appear more than once: \['segment'\]"),
    ({"thresholds": {"max_rejected_share": 1.5}}, r"thresholds.max_rejected_share: Input should be less than"),
    ({"source": {"kind": "ftp"}}, r"source: Input tag 'ftp'"),
    ({"colour": "blue"}, r"colour: Extra inputs are not permitted"),
    ({"derived": [{"name": "x", "kind": "log", "column": "height"}]}, r"derived.0.column: unknown column 'height'"),
    ({"derived": [{"name": "a", "kind": "log1p", "column": "b"}, {"name": "b", "kind": "clip", "column": "a", "min": 0}]},
     r"derived.0: cycle a -> b -> a"),
    ({"derived": [{"name": "g", "kind": "bins", "column": "age", "edges": [18, 50, 40], "labels": ["x", "y"]}]},
     r"derived.0.bins.edges: .*strictly increasing"),
    ({"derived": [{"name": "g", "kind": "bins", "column": "age", "edges": [18, 50, 90], "labels": ["young"]}]},
     r"derived.0.bins.labels: .*3 edges make 2 bins, got 1 labels"),
    ({"derived": [{"name": "g", "kind": "log", "column": "gender"}]}, r"derived.0.column: log needs a numeric column"),
    ({"derived": [{"name": "h", "kind": "timestamp_part", "column": "age", "part": "hour"}]},
     r"derived.0.column: timestamp_part needs a timestamp column"),
    ({"derived": [{"name": "age", "kind": "log", "column": "income"}]}, r"column names appear more than once: \['age'\]"),
    ({"derived": [{"name": "c", "kind": "clip", "column": "income"}]}, r"derived.0.clip: .*clip needs min, max or both"),
    ({"derived": [{"name": "e", "kind": "eval", "column": "income"}]}, r"derived.0: Input tag 'eval'"),
    ({"promotion": {"mode": "canary", "canary": {"steps": [25, 5]}}}, r"promotion.canary.steps: .*strictly increasing"),
    ({"promotion": {"mode": "canary", "canary": {"steps": [0, 50]}}}, r"promotion.canary.steps: .*above 0 and at most"),
    ({"promotion": {"mode": "canary", "canary": {"step_minutes": 0}}}, r"promotion.canary.step_minutes: .*greater than 0"),
    ({"promotion": {"mode": "shadow", "canary": {"steps": [5]}}}, r"promotion: .*canary settings are given but mode"),
    ({"promotion": {"mode": "blue-green"}}, r"promotion.mode: Input should be 'offline', 'shadow' or 'canary'"),
])
def test_an_invalid_spec_names_the_field(tmp_path, overrides, message):
    path = write_spec(tmp_path / "bad.yaml", **overrides)
    with pytest.raises(SpecError, match=message) as error:
        load_spec(path)
    assert str(path) in str(error.value)


def test_an_unreadable_spec_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(SpecError, match="broken.yaml: cannot read dataset spec"):
        load_spec(path)
