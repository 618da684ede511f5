"""A dataset spec that cannot work fails when it is loaded, with a message naming the file and the field."""

import pytest

from ml_platform.lib.spec import SpecError, load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC, write_spec


def test_the_default_spec_loads():
    spec = load_spec(DEFAULT_SPEC)
    assert spec.numeric_features == ["age", "income", "spending_score"]
    assert spec.categorical_features == ["gender", "occupation"]
    assert spec.target.classes == ["budget", "standard", "premium", "luxury"]


@pytest.mark.parametrize("overrides, message", [
    ({"name": "Customer Segmentation!"}, r"name: Value error, must be lowercase"),
    ({"target": {"classes": ["only-one"]}}, r"target.classes: List should have at least 2 items"),
    ({"features": [{"name": "age", "type": "numeric", "min": 10, "max": 1}]}, r"features.0.numeric: .*min 10"),
    ({"features": [{"name": "age", "type": "text"}]}, r"features.0: Input tag 'text'"),
    ({"features": [{"name": "segment", "type": "numeric"}]}, r"column names appear more than once: \['segment'\]"),
    ({"thresholds": {"max_rejected_share": 1.5}}, r"thresholds.max_rejected_share: Input should be less than"),
    ({"source": {"kind": "ftp"}}, r"source: Input tag 'ftp'"),
    ({"colour": "blue"}, r"colour: Extra inputs are not permitted"),
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
