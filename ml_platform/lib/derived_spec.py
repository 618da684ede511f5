"""Derived features as declarations: each names a column it reads and an operation from a closed list.

A spec states what to compute, never code, so a YAML file can carry no `eval` and every derivation is
one the features function knows how to compute identically in training and in serving. What can be
checked without data is checked at load: unknown columns, cycles, bins whose edges or labels cannot work.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bins(_Strict):
    """`labels[i]` for values in (edges[i], edges[i+1]]; the first bin includes its lower edge too.

    Right-closed as `pandas.cut(..., include_lowest=True)`, the seed tutorial's call. A value outside the
    edges or missing is null, which the model's imputer fills as it fills any missing category."""

    name: str
    kind: Literal["bins"]
    column: str
    edges: list[float] = Field(min_length=2)
    labels: list[str]

    @field_validator("edges")
    @classmethod
    def _edges_increase(cls, edges: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"edges must be strictly increasing, got {edges}")
        return edges

    @field_validator("labels")
    @classmethod
    def _one_label_per_bin(cls, labels: list[str], info: ValidationInfo) -> list[str]:
        edges = info.data.get("edges")
        if edges is not None and len(labels) != len(edges) - 1:
            raise ValueError(f"{len(edges)} edges make {len(edges) - 1} bins, got {len(labels)} labels")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct, got {labels}")
        return labels

    @property
    def inputs(self) -> list[str]:
        return [self.column]


class Log(_Strict):
    """Natural log (`log`) or log(1 + x) (`log1p`); a value outside the domain (log of 0) is null."""

    name: str
    kind: Literal["log", "log1p"]
    column: str

    @property
    def inputs(self) -> list[str]:
        return [self.column]


class Ratio(_Strict):
    """numerator / denominator; a zero denominator gives null, never infinity."""

    name: str
    kind: Literal["ratio"]
    numerator: str
    denominator: str

    @property
    def inputs(self) -> list[str]:
        return [self.numerator, self.denominator]


class Clip(_Strict):
    """The column limited to [min, max] (either may be omitted, not both)."""

    name: str
    kind: Literal["clip"]
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds_make_sense(self) -> Clip:
        if self.min is None and self.max is None:
            raise ValueError("clip needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    @property
    def inputs(self) -> list[str]:
        return [self.column]


class TimestampPart(_Strict):
    """The hour (0-23), weekday (0 = Monday) or month (1-12) of a timestamp column, in UTC."""

    name: str
    kind: Literal["timestamp_part"]
    column: str
    part: Literal["hour", "weekday", "month"]

    @property
    def inputs(self) -> list[str]:
        return [self.column]


Derived = Annotated[Union[Bins, Log, Ratio, Clip, TimestampPart], Field(discriminator="kind")]


def evaluation_order(derived: list[Derived], columns: dict[str, str]) -> list[int]:
    """Indexes of `derived` so that each comes after what it reads; `columns` maps raw names to types.

    Raises ValueError naming the field (`derived.<i>.<field>`) for an unknown column, a column of the
    wrong type, or a cycle."""
    produced = {d.name: i for i, d in enumerate(derived)}
    for i, d in enumerate(derived):
        for field in ("column", "numerator", "denominator"):
            source = getattr(d, field, None)
            if source is not None and source not in columns and source not in produced:
                raise ValueError(f"derived.{i}.{field}: unknown column {source!r}")
            wanted = "timestamp" if d.kind == "timestamp_part" else "numeric"
            found = columns.get(source) or (output_type(derived[produced[source]]) if source else None)
            if source is not None and found != wanted:
                raise ValueError(f"derived.{i}.{field}: {d.kind} needs a {wanted} column, {source!r} is {found}")
    order: list[int] = []
    state: dict[int, str] = {}
    for i in range(len(derived)):
        _visit(i, [], derived, produced, state, order)
    return order


def _visit(i: int, path: list[str], derived: list[Derived], produced: dict[str, int], state: dict[int, str],
           order: list[int]) -> None:
    """Depth-first, inputs before `i`. A module function, not a closure: a nested function that calls
    itself is a reference cycle, and this runs on every served batch."""
    if state.get(i) == "done":
        return
    if state.get(i) == "visiting":
        raise ValueError(f"derived.{i}: cycle {' -> '.join([*path, derived[i].name])}")
    state[i] = "visiting"
    for source in derived[i].inputs:
        if source in produced:
            _visit(produced[source], [*path, derived[i].name], derived, produced, state, order)
    state[i] = "done"
    order.append(i)


def output_type(derived: Derived) -> str:
    return "categorical" if derived.kind == "bins" else "numeric"
