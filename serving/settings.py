"""Every knob of the service, read from the environment in this one place."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from upath import UPath

from ml_platform.lib.inference_log_upload import MAX_SECONDS_ON_OBJECT_STORE, SPOOL_ENV
from ml_platform.lib.registry import CHALLENGER
from ml_platform.lib.storage import STORAGE_ENV, is_remote, storage_path
from serving.access import JwtPolicy
from serving.client_address import trusted_networks

SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    model_tag: str
    bentoml_home: str
    tracking_uri: str | None
    reload_seconds: float
    shadow_alias: str | None
    api_token: str | None
    log_dir: UPath  # a folder, or s3://... (then written through a local spool)
    log_max_bytes: int
    log_max_seconds: float
    log_lease_seconds: float
    max_body_bytes: int
    code_version: str
    access_log: bool
    workers: int
    jwt: JwtPolicy | None = None
    rate_limit_per_second: float = 0.0
    rate_limit_burst: float = 0.0
    trusted_proxies: tuple = ()  # networks whose X-Forwarded-For is believed (serving/client_address.py)
    log_format: str = "text"
    log_spool: str | None = None  # on an object store: the local folder records are written to before upload
    bentoml_patches: bool = True  # serving/bentoml_hot_path.py; off: BentoML's public API only, slower (serving/README)
    alias_watch_in_child: bool = True  # the registry read in a child process, off the worker's GIL (alias_watch.py)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            model_tag=env("ML_PLATFORM_MODEL_TAG") or built_for_model_tag() or "customer-segmentation:latest",
            bentoml_home=env("BENTOML_HOME", str(Path.home() / "bentoml")),
            tracking_uri=env("MLFLOW_TRACKING_URI") or None,
            reload_seconds=float(env("ML_PLATFORM_RELOAD_SECONDS", "5")),
            shadow_alias=env("ML_PLATFORM_SHADOW_ALIAS", CHALLENGER) or None,
            api_token=env("ML_PLATFORM_API_TOKEN") or _read_secret(env("ML_PLATFORM_API_TOKEN_FILE")),
            log_dir=inference_log_dir(),
            log_max_bytes=int(env("ML_PLATFORM_INFERENCE_LOG_MAX_BYTES", str(64 * 1024 * 1024))),
            log_max_seconds=float(env("ML_PLATFORM_INFERENCE_LOG_MAX_SECONDS") or (
                MAX_SECONDS_ON_OBJECT_STORE if is_remote(inference_log_dir()) else 300)),
            log_lease_seconds=float(env("ML_PLATFORM_INFERENCE_LOG_LEASE_SECONDS", "60")),
            max_body_bytes=int(env("ML_PLATFORM_MAX_BODY_BYTES", str(256 * 1024))),
            code_version=env("ML_PLATFORM_CODE_VERSION") or source_digest(),
            access_log=_switch("ML_PLATFORM_ACCESS_LOG", default=False),
            workers=int(env("ML_PLATFORM_SERVICE_WORKERS", "1")),
            jwt=_jwt_policy(),
            rate_limit_per_second=float(env("ML_PLATFORM_RATE_LIMIT_PER_SECOND", "0")),
            rate_limit_burst=float(env("ML_PLATFORM_RATE_LIMIT_BURST", "0")),
            trusted_proxies=trusted_networks(env("ML_PLATFORM_TRUSTED_PROXIES", "")),
            log_format=env("ML_PLATFORM_LOG_FORMAT", "text").lower(),
            log_spool=env(SPOOL_ENV) or None,
            bentoml_patches=_switch("ML_PLATFORM_BENTOML_PATCHES", default=True),
            alias_watch_in_child=_switch("ML_PLATFORM_ALIAS_WATCH_PROCESS", default=True),
        )


def inference_log_dir() -> UPath:
    """`ML_PLATFORM_INFERENCE_LOG_DIR`, else `inference_log/` under the storage root (a folder or s3://)."""
    env = os.environ.get
    explicit = env("ML_PLATFORM_INFERENCE_LOG_DIR")
    return storage_path(explicit) if explicit else storage_path(env(STORAGE_ENV) or "data") / "inference_log"


def _jwt_policy() -> JwtPolicy | None:
    """JWTs are accepted once a secret or a JWKS file is set; issuer and audience are then required."""
    env = os.environ.get
    secret = env("ML_PLATFORM_JWT_SECRET") or _read_secret(env("ML_PLATFORM_JWT_SECRET_FILE"))
    jwks_file = env("ML_PLATFORM_JWT_JWKS_FILE") or None
    if not secret and not jwks_file:
        return None
    missing = [name for name in ("ML_PLATFORM_JWT_ISSUER", "ML_PLATFORM_JWT_AUDIENCE") if not env(name)]
    if missing:
        raise ValueError(f"JWT verification is configured but {' and '.join(missing)} not set")
    return JwtPolicy(issuer=env("ML_PLATFORM_JWT_ISSUER"), audience=env("ML_PLATFORM_JWT_AUDIENCE"),
                     secret=secret, jwks_file=jwks_file)


def built_for_model_tag() -> str | None:
    """Inside a built Bento (code under `<bento>/src`), the model its manifest says it was built for.

    The `bento` asset labels each Bento with `model_tag`, so `bentoml serve <Bento>` and a container
    built from it serve their own model with no setting; None when running from a checkout."""
    import yaml

    manifest = SOURCE_ROOT.parent / "bento.yaml"
    if SOURCE_ROOT.name != "src" or not manifest.is_file():
        return None
    return (yaml.safe_load(manifest.read_text()).get("labels") or {}).get("model_tag")


def source_digest() -> str:
    """A short hash of the code the service runs: the same in a checkout and in the built Bento."""
    digest = hashlib.sha256()
    for path in sorted([*SOURCE_ROOT.glob("serving/*.py"), *SOURCE_ROOT.glob("ml_platform/lib/*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _switch(name: str, default: bool) -> bool:
    """An on/off setting: one that is on by default stays on unless set to 0, false or no; one that is
    off stays off unless set to 1, true or yes."""
    value = os.environ.get(name, "").lower()
    return value not in ("0", "false", "no") if default else value in ("1", "true", "yes")


def _read_secret(path: str | None) -> str | None:
    """A token mounted as a file (a Kubernetes Secret volume), so it never sits in the environment."""
    if not path:
        return None
    token = Path(path).read_text().strip()
    if not token:
        raise ValueError(f"{path} is empty: refusing to serve without the token it should hold")
    return token
