"""The dataset is configuration: one YAML file describes the data, the task and the thresholds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ml_platform.lib.derived_spec import Derived, evaluation_order

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericFeature(_Strict):
    name: str
    type: Literal["numeric"] = "numeric"
    min: float | None = None
    max: float | None = None
    integer: bool = False
    nullable: bool = False

    @model_validator(mode="after")
    def _range_is_ordered(self) -> NumericFeature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} is greater than max {self.max}")
        return self


class CategoricalFeature(_Strict):
    name: str
    type: Literal["categorical"] = "categorical"
    categories: list[str] = Field(min_length=1)
    nullable: bool = False


class TimestampFeature(_Strict):
    """An ISO 8601 instant (naive means UTC); the model sees only the parts that `derived` takes from it."""

    name: str
    type: Literal["timestamp"] = "timestamp"
    nullable: bool = False


Feature = Annotated[Union[NumericFeature, CategoricalFeature, TimestampFeature], Field(discriminator="type")]


class Target(_Strict):
    name: str
    classes: list[str] = Field(min_length=2)


class GeneratorSource(_Strict):
    """Batches made by the seeded generator (see `ml_platform.lib.generator`)."""

    kind: Literal["generator"] = "generator"
    generator: str = "customer_segmentation"
    batches: int = Field(default=3, ge=1)
    rows_per_batch: int = Field(default=2000, ge=10)
    corrupt_share: float = Field(default=0.02, ge=0, le=1)
    seed: int = 7


class FolderSource(_Strict):
    """The user's own CSV/Parquet files; each file is one batch."""

    kind: Literal["folder"] = "folder"
    path: str
    pattern: str = "*.csv"


class Thresholds(_Strict):
    max_rejected_share: float = Field(default=0.2, ge=0, le=1)
    metric: Literal["accuracy", "f1_macro", "f1_weighted", "roc_auc"] = "f1_macro"
    min_metric: float = Field(default=0.6, ge=0, le=1)
    promotion_tolerance: float = Field(default=0.01, ge=0, le=1)
    drift_p_value: float = Field(default=0.05, gt=0, lt=1)
    drift_min_effect: float = Field(default=0.1, ge=0)
    drift_share: float = Field(default=0.3, gt=0, le=1)


class Training(_Strict):
    test_size: float = Field(default=0.25, gt=0, lt=1)
    window_batches: int = Field(default=20, ge=1)
    # The window's row budget: newest batches are taken while they fit; a single newest batch larger than
    # the budget is sampled down to it (seeded). Bounds a retrain's memory and fit time whatever lands.
    window_rows: int = Field(default=1_000_000, ge=100)
    # The training sample's row budget: above it, each batch of the window gives its share of the rows
    # (stratified by the target, seeded), so a month of batches is represented at a bounded fit cost.
    sample_rows: int = Field(default=500_000, ge=100)
    cv_folds: int = Field(default=3, ge=2)
    # At most this many fits at once; by default the CPUs the pod's limit grants (`ml_platform/lib/cpus.py`).
    cpus: int | None = Field(default=None, ge=1)
    seed: int = 42
    # When the scheduled retrain looks for data the champion has not seen (UTC cron; Mondays 06:00).
    retrain_cron: str = Field(default="0 6 * * 1", pattern=r"^\S+( \S+){4}$")


class Canary(_Strict):
    """In canary mode the challenger answers `steps[0]` percent of clients (sticky per client id), one
    step more every `step_minutes` while the live comparison holds; it is promoted only once the last
    step has held that long (`ml_platform/lib/canary.py`)."""

    steps: list[float] = Field(default=[5, 25, 50], min_length=1)
    step_minutes: float = Field(default=30, gt=0)

    @field_validator("steps")
    @classmethod
    def _steps_rise_within_a_hundred(cls, steps: list[float]) -> list[float]:
        if any(not 0 < step <= 100 for step in steps):
            raise ValueError(f"each step is a percent of traffic above 0 and at most 100, got {steps}")
        if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
            raise ValueError(f"steps must be strictly increasing, got {steps}")
        return steps


class Promotion(_Strict):
    """`offline`: a candidate that passes the gate becomes champion. `shadow`: it becomes `challenger`,
    answers beside the champion on live traffic, and `promotion_decision` promotes or reverts it on
    the labelled records (`ml_platform/lib/live_comparison.py` states the test). `canary`: as shadow,
    and a growing share of clients get the challenger's answer (`canary`)."""

    mode: Literal["offline", "shadow", "canary"] = "offline"
    min_labelled: int = Field(default=200, ge=10)
    tolerance: float = Field(default=0.01, ge=0, le=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    max_hours: float = Field(default=72, gt=0)
    max_error_ratio: float = Field(default=0.01, ge=0, le=1)
    max_p99_ms: float = Field(default=100, gt=0)  # the serving SLO (deploy/monitoring: LatencyP99OverSLO)
    canary: Canary = Canary()

    @model_validator(mode="after")
    def _canary_only_in_canary_mode(self) -> Promotion:
        if self.canary != Canary() and self.mode != "canary":  # defaults pass: a dumped spec loads again
            raise ValueError(f"canary settings are given but mode is {self.mode!r}: set mode: canary or drop them")
        return self

    @property
    def live(self) -> bool:
        """Whether a candidate that passes the offline gate must prove itself on live traffic first."""
        return self.mode != "offline"


class DatasetSpec(_Strict):
    name: str
    description: str = ""
    target: Target
    features: list[Feature] = Field(min_length=1)
    derived: list[Derived] = []
    source: Annotated[Union[GeneratorSource, FolderSource], Field(discriminator="kind")]
    thresholds: Thresholds = Thresholds()
    training: Training = Training()
    promotion: Promotion = Promotion()
    max_file_bytes: int = Field(default=512 * 1024 * 1024, ge=1)

    @field_validator("name")
    @classmethod
    def _name_is_a_slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits, '-' or '_' (it names the model)")
        return value

    @model_validator(mode="after")
    def _columns_are_distinct(self) -> DatasetSpec:
        names = [f.name for f in self.features] + [self.target.name] + [d.name for d in self.derived]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"column names appear more than once: {duplicated}")
        evaluation_order(self.derived, {f.name: f.type for f in self.features})
        return self

    @property
    def landing_pattern(self) -> str:
        """Which files in the landing folder are batches: a folder source's glob, else every file."""
        return self.source.pattern if isinstance(self.source, FolderSource) else "*"

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == "categorical"]

    @property
    def timestamp_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == "timestamp"]

    @property
    def columns(self) -> list[str]:
        return [*self.feature_names, self.target.name]


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names the file and the field."""


def load_spec(path: str | Path) -> DatasetSpec:
    """Read and validate a spec; a folder source's relative path is resolved against the spec file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read dataset spec: {exc}") from exc
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" if err["loc"] else err["msg"].removeprefix(
                "Value error, ") for err in exc.errors()
        )
        raise SpecError(f"{path}: invalid dataset spec: {problems}") from exc
    if isinstance(spec.source, FolderSource) and not Path(spec.source.path).is_absolute():
        folder = (path.parent / spec.source.path).resolve()
        spec = spec.model_copy(update={"source": spec.source.model_copy(update={"path": str(folder)})})
    return spec
