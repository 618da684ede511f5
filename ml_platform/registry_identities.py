"""Create or update the MLflow registry's identities and their roles (`ml_platform.lib.registry_identities`).

    python -m ml_platform.registry_identities [--wait SECONDS]

On Kubernetes the Job `mlflow-identities` (deploy/k8s/base/mlflow-identities.yaml) runs it after every
`kubectl apply`; it is idempotent, and a password changed in an identity's Secret takes effect here.
It reads MLFLOW_TRACKING_URI, the admin's MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, and for
each kind in GRANTS ML_PLATFORM_REGISTRY_<KIND>_USERNAME and _PASSWORD. The registered model of every
model the code location declares (or of ML_PLATFORM_DATASET's spec) is created by the admin, so no
identity can take the name first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import httpx

from ml_platform.lib.registry_identities import GRANTS, Credentials, provision, role_name


def identity_variables(kind: str) -> tuple[str, str]:
    prefix = f"ML_PLATFORM_REGISTRY_{kind.upper()}"
    return f"{prefix}_USERNAME", f"{prefix}_PASSWORD"


def wait_until_healthy(tracking_uri: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Provision the MLflow registry's identities.")
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the server (default 300)")
    args = parser.parse_args(argv)
    names = ["MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
             *[name for kind in GRANTS for name in identity_variables(kind)]]
    if missing := [name for name in names if not os.environ.get(name)]:
        print(f"Set {missing}: the admin's credentials and each identity's, from their Secrets.", file=sys.stderr)
        return 2
    uri = os.environ["MLFLOW_TRACKING_URI"]
    if not wait_until_healthy(uri, args.wait):
        print(f"{uri} did not answer /health within {args.wait:g} s", file=sys.stderr)
        return 1
    admin = Credentials(os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
    identities = {kind: Credentials(*(os.environ[name] for name in identity_variables(kind))) for kind in GRANTS}
    from ml_platform.definitions import environment_models

    models = [model.spec().name for model in environment_models()]
    done = provision(uri, admin, identities, models)
    for kind, identity in identities.items():
        print(f"{identity.username}: {done[identity.username]}, role {role_name(kind)}")
    print(f"registered models held by the admin: {models or 'none named'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
