"""One model of the platform, declared by a folder under `defs/models/` holding its `defs.yaml`.

Each instance builds that model's whole graph (ingestion to Bento, drift, scoring, live performance, the
promotion decision and the alias history) under its own names: asset keys prefixed by the model, its own
groups, jobs, sensors, schedules, pools and run-queue lane (`ml_platform/model_scope.py`). A spec that
cannot be read fails that model alone: it loads as one asset that names the error, and every other
model of the code location loads as usual.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ml_platform.defs.model_definitions import model_definitions
from ml_platform.lib.spec import SpecError
from ml_platform.lib.spec_inference import infer_spec, spec_yaml
from ml_platform.model_scope import ModelScope, dagster_name

SPEC_ERROR = "spec_error"
BROKEN = "ml_platform/broken:"  # the code location's metadata key per model whose spec failed


class NewModelParams(dg.Model):
    """`dg scaffold defs ml_platform.components.PlatformModel models/<name> --csv data.csv --target label`:
    a spec template inferred from a CSV (its folder becomes the landing folder), or `spec` to point at one."""

    csv: str | None = None
    target: str | None = None
    spec: str | None = None


class NewModel(dg.Scaffolder[NewModelParams]):
    @classmethod
    def get_scaffold_params(cls) -> type[NewModelParams]:
        return NewModelParams

    def scaffold(self, request: dg.ScaffoldRequest[NewModelParams]) -> None:
        params, folder = request.params, Path(request.target_path)
        if params.csv and not params.target:
            raise ValueError("name the column to predict: --target (dg) or TARGET= (make new-model)")
        folder.mkdir(parents=True, exist_ok=True)
        if params.csv:
            csv = Path(params.csv)
            spec, left_out = infer_spec(csv, dagster_name(folder.name), params.target)
            (folder / "spec.yaml").write_text(spec_yaml(spec, csv, left_out))
        dg.scaffold_component(request, {"spec": params.spec or "spec.yaml"})


@dg.scaffold_with(NewModel)
class PlatformModel(dg.Component, dg.Resolvable, dg.Model):
    """A model served and retrained by ml_platform, built from its dataset spec."""

    spec: str = Field(description="The dataset spec (YAML): a path relative to this folder, else to the project "
                                  "root, or absolute.")
    name: str = Field(default="", description="The model's name in Dagster (key prefix, jobs, groups); by default "
                                              "the folder's name.")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        folder = Path(context.path)
        model = ModelScope(str(_resolve(self.spec, folder, Path(context.project_root))),
                           dagster_name(self.name or folder.name))
        try:
            model.spec()
        except SpecError as exc:
            return broken_model(model, exc)
        return model_definitions(model)


def _resolve(spec: str, folder: Path, project_root: Path) -> Path:
    path = Path(spec)
    if path.is_absolute():
        return path
    return folder / path if (folder / path).exists() or not (project_root / path).exists() else project_root / path


def broken_model(model: ModelScope, error: Exception) -> dg.Definitions:
    """What a model whose spec cannot be read shows: one asset, named for the model, carrying the error."""
    return dg.Definitions(assets=[dg.AssetSpec(
        model.key(SPEC_ERROR), group_name=model.named("broken"), kinds={"yaml"},
        description=f"Model {model.name} is not loaded: its dataset spec cannot be used. {error}",
        metadata={"error": str(error), "spec_path": dg.MetadataValue.path(model.spec_path)})],
        metadata={f"{BROKEN}{model.name}": str(error)})


def broken_models(defs: dg.Definitions) -> dict[str, str]:
    """Model name -> why it did not load, for the models of a code location whose spec failed."""
    return {key.removeprefix(BROKEN): str(getattr(value, "value", value))
            for key, value in (defs.metadata or {}).items() if key.startswith(BROKEN)}
