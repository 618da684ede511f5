"""Who may do what in the MLflow registry, and the idempotent step that makes the server say so.

The registry decides what every Bento serves, so MLflow runs its `basic-auth` app with
`default_permission = NO_PERMISSIONS`: an identity reads and writes only what a role grants it.

- `serving` (the Bentos) reads registered models, their versions, aliases and tags, and nothing else;
  the DENY on experiments also keeps it from creating one.
- `pipeline` (the Dagster code server, its run and step pods) creates runs and logs to experiments,
  registers model versions, tags them and moves and removes aliases.

Training and promotion share one identity because MLflow cannot tell them apart: registering a
version (CreateModelVersion) and moving an alias (SetRegisteredModelAlias) both need `update` on the
registered model, and removing an alias needs `delete`, which only MANAGE has. A separate training
identity could still point `champion` at what it registered (deploy/README.md says more).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlflow.server.auth.client import AuthServiceClient
from mlflow.utils.rest_utils import MlflowHostCreds, http_request, verify_rest_response

WORKSPACE = "default"  # where roles live while MLflow's workspaces are off (they are here)


@dataclass(frozen=True)
class Grant:
    resource_type: str
    pattern: str
    permission: str


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)  # never in a log line or a test failure


GRANTS: dict[str, tuple[Grant, ...]] = {
    "serving": (Grant("registered_model", "*", "READ"), Grant("experiment", "*", "DENY")),
    "pipeline": (Grant("experiment", "*", "EDIT"), Grant("registered_model", "*", "MANAGE")),
}


def role_name(kind: str) -> str:
    return f"ml-platform-{kind}"


class AdminClient(AuthServiceClient):
    """MLflow's auth client with the admin's credentials given, not read from MLFLOW_TRACKING_*."""

    def __init__(self, tracking_uri: str, admin: Credentials):
        super().__init__(tracking_uri)
        self.creds = MlflowHostCreds(tracking_uri, username=admin.username, password=admin.password)

    def _request(self, endpoint, method, *, expected_status: int = 200, **kwargs):
        response = verify_rest_response(http_request(self.creds, endpoint, method, **kwargs), endpoint,
                                        expected_status=expected_status)
        return response.json() if response.status_code != 204 and response.content else {}


def ensure_user(client: AdminClient, identity: Credentials) -> str:
    """Creates the user, or sets its password to the given one (a rotated Secret takes effect here)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_user(identity.username)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_user(identity.username, identity.password)
        return "created"
    client.update_user_password(identity.username, identity.password)
    return "password set"


def ensure_role(client: AdminClient, kind: str) -> int:
    """The kind's role holding exactly its grants: missing ones added, changed ones updated, others removed."""
    name = role_name(kind)
    role = next((r for r in client.list_roles(WORKSPACE) if r.name == name), None)
    if role is None:
        role = client.create_role(WORKSPACE, name, description=f"ml_platform {kind} identity")
    wanted = {(g.resource_type, g.pattern): g.permission for g in GRANTS[kind]}
    for held in client.list_role_permissions(role.id):
        permission = wanted.pop((held.resource_type, held.resource_pattern), None)
        if permission is None:
            client.remove_role_permission(held.id)
        elif held.permission != permission:
            client.update_role_permission(held.id, permission)
    for (resource_type, pattern), permission in wanted.items():
        client.add_role_permission(role.id, resource_type, pattern, permission)
    return role.id


def ensure_only_role(client: AdminClient, username: str, role_id: int) -> None:
    """The user holds this role and no other named role (its per-user grants, e.g. MANAGE on an experiment
    it created, are MLflow's own and stay)."""
    held = {r.id: r for r in client.list_user_roles(username)}
    for other in held.values():
        if other.id != role_id and not other.name.startswith("__user_"):
            client.unassign_role(username, other.id)
    if role_id not in held:
        client.assign_role(username, role_id)


def ensure_registered_model(client: AdminClient, name: str) -> None:
    """Created by the admin, so no identity owns it by having created it first (a creator gets MANAGE)."""
    from mlflow.exceptions import MlflowException

    try:
        client._request("/api/2.0/mlflow/registered-models/create", "POST", json={"name": name})
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def provision(tracking_uri: str, admin: Credentials, identities: Mapping[str, Credentials],
              registered_models: Iterable[str] = ()) -> dict[str, str]:
    """Makes the server hold each identity (kind -> credentials) with its role alone; returns what was done."""
    unknown = set(identities) - set(GRANTS)
    if unknown:
        raise ValueError(f"unknown identity kinds {sorted(unknown)}; known: {sorted(GRANTS)}")
    client, done = AdminClient(tracking_uri, admin), {}
    for kind, identity in identities.items():
        done[identity.username] = ensure_user(client, identity)
        ensure_only_role(client, identity.username, ensure_role(client, kind))
    for name in registered_models:
        ensure_registered_model(client, name)
    return done
