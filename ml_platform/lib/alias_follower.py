"""Follow MLflow registry aliases (`champion`, optionally a shadow such as `challenger`) from a service.

Promotion and `make rollback` only move an alias; every running service notices on its next poll,
loads the version the alias now names and hands it over, so neither needs to know about the other.
The champion must come from the BentoML store (checksum-verified, exactly what promotion approved);
a shadow model may also come straight from the MLflow registry, since it was never promoted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ml_platform.lib import model_store
from ml_platform.lib.served_model import ServedModel, from_store, single_threaded
from ml_platform.lib.spec import DatasetSpec

logger = logging.getLogger(__name__)


class AliasFollower:
    def __init__(self, tracking_uri: str, spec: DatasetSpec, bentoml_home: str, roles: dict[str, str],
                 on_load: Callable[[str, ServedModel | None], None],
                 on_failure: Callable[[str, str, Exception], None], interval_seconds: float = 5.0):
        """`roles` maps a role ("champion", "shadow") to the alias it follows."""
        from ml_platform.lib.registry import Registry

        self.registry = Registry(tracking_uri, spec.name)
        self.spec, self.home, self.roles, self.interval = spec, bentoml_home, roles, interval_seconds
        self.on_load, self.on_failure = on_load, on_failure
        self.versions: dict[str, str | None] = {}
        self._reported: dict[str, str | None] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll(self) -> None:
        """Load whatever each alias names now, if that differs from what is loaded."""
        for role, alias in self.roles.items():
            version = self.alias_version(alias)
            if role in self.versions and version == self.versions[role]:
                continue
            try:
                self.on_load(role, None if version is None else self._load(role, version))
            except Exception as exc:
                if self._reported.get(role) != version:
                    logger.warning(f"{role}: cannot serve v{version} named by alias {alias!r}: {exc}")
                    self.on_failure(role, str(version), exc)
                self._reported[role] = version
                continue
            logger.info(f"{role}: alias {alias!r} names v{version}; now serving it")
            self.versions[role] = version

    def alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.registry.client.get_model_version_by_alias(self.spec.name, alias).version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def _load(self, role: str, version: str) -> ServedModel:
        stored = model_store.find(self.home, model_store.tag_for(self.spec.name, version))
        if stored is not None:
            return from_store(stored)
        if role == "champion":
            raise LookupError(f"v{version} is not in the BentoML store at {self.home} (yet)")
        tags = self.registry.version_tags(version)
        return ServedModel(single_threaded(self.registry.load_model(version)), version,
                           tags.get("data_version", ""), self.spec, source=f"models:/{self.spec.name}/{version}")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception as exc:
                logger.warning(f"alias poll failed, will retry: {exc}")
