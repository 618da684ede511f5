"""The MLflow model registry, reduced to what the platform needs: versions and the `champion` alias.

Promotion moves the alias in one registry call, so two retrains finishing together cannot leave a
half-set champion: the last call wins and each call is whole.
"""

from __future__ import annotations

from typing import Any

CHAMPION = "champion"


class Registry:
    def __init__(self, tracking_uri: str, model_name: str):
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion_version(self) -> str | None:
        """The version the alias points at, or None before the first promotion."""
        return self.alias_version(CHAMPION)

    def alias_version(self, alias: str) -> str | None:
        """The version `alias` names, or None if it names none."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def set_champion(self, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, CHAMPION, version)

    def restore_champion(self, version: str | None) -> None:
        """Put the alias back where it was (used when a promotion fails after moving it)."""
        if version is None:
            if self.champion_version() is not None:
                self.client.delete_registered_model_alias(self.model_name, CHAMPION)
        else:
            self.set_champion(version)

    def version_tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.model_name, version).tags)

    def tag_version(self, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, version, key, str(value))

    def load_model(self, version: str) -> Any:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
