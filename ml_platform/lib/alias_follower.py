"""Follow MLflow registry aliases (`champion`, optionally a shadow such as `challenger`) from a service.

Promotion and `make rollback` only move an alias; every running service notices on its next poll,
loads the version the alias now names and hands it over, so neither needs to know about the other.
A model is identified by (version, sha256): the version's `model_sha256` registry tag, read with the
alias in one call, so a registry whose "v1" holds other bytes (a fresh registry, a re-registration)
is a different model and is loaded. A model comes from the BentoML store only if the store holds that
tag with the same registry sha256 recorded at promotion (a Bento's own model, on the machine that
promoted it); otherwise, or when the stored one is another registry's, from MLflow's artifact store,
checked against the registry's sha256 (a Bento pod whose image carries an older model). Both paths
build with skops only. On the same poll each role is told the canary share its loaded model is
tagged with (`ml_platform/lib/canary.py`), 0 while it loads. A service reads the aliases in a child
process (`alias_watch.py`), so the registry client's CPU stays off the worker's GIL; loads stay here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ml_platform.lib import model_store
from ml_platform.lib.canary import share_of
from ml_platform.lib.served_model import ServedModel, from_registry, from_store
from ml_platform.lib.spec import DatasetSpec

logger = logging.getLogger(__name__)
MAX_RETRY_SECONDS = 60.0
Identity = tuple[str, str]  # (version, the registry's model_sha256)


@dataclass(frozen=True)
class _Failure:
    identity: Identity | None
    delay: float
    retry_at: float


class AliasFollower:
    def __init__(self, tracking_uri: str, spec: DatasetSpec, bentoml_home: str, roles: dict[str, str],
                 on_load: Callable[[str, ServedModel | None], None],
                 on_failure: Callable[[str, str, Exception], None],
                 on_settled: Callable[[str], None] = lambda role: None,
                 interval_seconds: float = 5.0, serving: dict[str, Identity] | None = None,
                 on_share: Callable[[str, float], None] = lambda role, percent: None, watch_in_child: bool = False):
        """`roles` maps a role ("champion", "shadow") to the alias it follows; `serving`, the identity
        (version, sha256) each role already serves. `on_failure` is told once per refused model;
        `on_settled` when the alias names the served model again (a rollback); `on_share`, after every
        poll, the canary share of the model each role serves. `watch_in_child`: the background polls read the
        aliases in a child process (`alias_watch.py`) rather than on this process's thread."""
        from ml_platform.lib.registry import Registry

        self.registry = Registry(tracking_uri, spec.name)
        self.spec, self.home, self.roles, self.interval = spec, bentoml_home, roles, interval_seconds
        self.on_load, self.on_failure, self.on_settled, self.on_share = on_load, on_failure, on_settled, on_share
        self.identities: dict[str, Identity | None] = dict(serving or {})
        self._failed: dict[str, _Failure] = {}
        self.watch_in_child, self._watch = watch_in_child, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.close()

    def poll(self, read: dict[str, list] | None = None) -> None:
        """Load whatever each alias names now (`read`: alias -> [version, tags], else asked here), if that
        differs from what is loaded.

        A model that failed is retried with a doubling delay (up to a minute), so a repaired
        artifact is picked up without a restart and a broken one does not cost a load every poll."""
        from ml_platform.lib.registry import MODEL_SHA256_TAG

        for role, alias in self.roles.items():
            version, tags = read[alias] if read is not None else self.registry.alias_tags(alias)
            named = None if version is None else (version, tags.get(MODEL_SHA256_TAG, ""))
            self._follow(role, alias, named, tags)
            serves_it = named is not None and self.identities.get(role) == named
            self.on_share(role, share_of(tags) if serves_it else 0.0)

    def _follow(self, role: str, alias: str, named: Identity | None, tags: dict[str, str]) -> None:
        if role in self.identities and named == self.identities[role]:
            if self._failed.pop(role, None) is not None:
                self.on_settled(role)
            return
        failed = self._failed.get(role)
        retrying = failed is not None and failed.identity == named
        if retrying and time.monotonic() < failed.retry_at:
            return
        version = None if named is None else named[0]
        try:
            self.on_load(role, None if named is None else self._load(role, named, tags))
        except Exception as exc:
            if not retrying:
                logger.warning(f"{role}: cannot serve v{version} named by alias {alias!r}: {exc}")
                self.on_failure(role, version or "", exc)
            delay = min(failed.delay * 2, MAX_RETRY_SECONDS) if retrying else self.interval
            self._failed[role] = _Failure(named, delay, time.monotonic() + delay)
            return
        self._failed.pop(role, None)
        logger.info(f"{role}: alias {alias!r} names v{version} (sha256 {named[1] if named else ''}); now serving it")
        self.identities[role] = named

    def _load(self, role: str, named: Identity, tags: dict[str, str]) -> ServedModel:
        version, sha = named
        stored = model_store.find(self.home, model_store.tag_for(self.spec.name, version))
        if stored is not None:
            recorded = model_store.registry_sha256(stored)
            if sha and recorded == sha:
                return from_store(stored)
            logger.warning(f"{role}: {stored.tag} in the BentoML store is not the registry's v{version} (it was "
                           f"promoted from sha256 {recorded or 'unrecorded'}, the registry names {sha or 'none'}); "
                           f"loading v{version} from the artifact store instead")
        return from_registry(self.registry, version, tags, self.spec)

    def _run(self) -> None:
        if not self.watch_in_child:
            while not self._stop.wait(self.interval):
                self._poll_logged()
            return
        from ml_platform.lib.alias_watch import AliasWatch

        while not self._stop.is_set():
            self._watch = AliasWatch(self.registry.tracking_uri, self.spec.name, sorted(set(self.roles.values())),
                                     self.interval)
            for line in self._watch:
                if self._stop.is_set():
                    break
                if "error" in line:
                    logger.warning(f"alias poll failed, will retry: {line['error']}")
                    continue
                self._poll_logged(line["aliases"])
            self._watch.close()
            if not self._stop.wait(self.interval):
                logger.warning("the alias watcher process ended; starting another")

    def _poll_logged(self, read: dict[str, list] | None = None) -> None:
        try:
            self.poll(read)
        except Exception as exc:
            logger.warning(f"alias poll failed, will retry: {exc}")
