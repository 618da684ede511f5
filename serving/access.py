"""Who is calling: the static bearer token, or a JWT checked for signature, issuer, audience and expiry.

Both may be configured at once (a team migrating from the shared token to its identity provider keeps
old clients working). A JWT is verified with PyJWT against an HS256 secret or a JWKS file mounted from
a Secret (RS256/ES256 keys, chosen by the token's `kid`), never both (a JWKS beside a secret would be
ignored, so that is an error at start); a refused token gets a 401 that says why.
The JWKS file is read again when it changes (checked at most every `keys_check_seconds`), so keys
rotate and revoke without a rollout. Revocation fails closed: a JWKS file emptied, deleted or no longer
parsing refuses every JWT from the next check on (keeping the keys last read would keep a revoked key
valid), and a token must name its `kid` when the JWKS holds several keys, each of which must have one.
A JWT's subject keys the rate limit; holders of the shared static token are told apart by address.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
JWKS_ALGORITHMS = ["RS256", "ES256"]
logger = logging.getLogger("ml_platform.serving")


class Refused(Exception):
    """The bearer credential is missing or not acceptable; the message is the 401's reason."""


@dataclass(frozen=True)
class JwtPolicy:
    issuer: str
    audience: str
    secret: str | None = None
    jwks_file: str | None = None
    leeway_seconds: float = 30
    keys_check_seconds: float = 5

    def __post_init__(self) -> None:
        if bool(self.secret) == bool(self.jwks_file):
            raise ValueError("JWT verification needs exactly one of an HS256 secret and a JWKS file "
                             f"({'both are' if self.secret else 'neither is'} set)")

    def keys(self) -> dict[str | None, tuple[object, list[str]]]:
        """Signing keys by `kid`: the HS256 secret under None, each JWKS key under its own id."""
        if self.secret:
            return {None: (self.secret, ["HS256"])}
        text = Path(self.jwks_file).read_text()
        if not text.strip():
            raise ValueError("the file is empty")
        keys = jwt.PyJWKSet.from_dict(json.loads(text)).keys  # a set of no keys raises
        if len(keys) > 1 and any(key.key_id is None for key in keys):
            raise ValueError("a JWKS of several keys needs a kid on each: a key without one would match any token")
        return {key.key_id: (key.key, JWKS_ALGORITHMS) for key in keys}


class Access:
    def __init__(self, static_token: str | None, policy: JwtPolicy | None):
        self._static = f"Bearer {static_token}".encode() if static_token else None
        self._policy = policy
        self._keys = policy.keys() if policy else {}  # a JWKS that does not load stops the service at start
        self._keys_unusable: str | None = None  # why, once a reread JWKS file no longer loads
        self._keys_version = self._jwks_version()
        self._keys_checked = time.monotonic()

    @property
    def required(self) -> bool:
        return self._static is not None or self._policy is not None

    def caller(self, authorization: bytes) -> str | None:
        """The JWT's subject, None for the static token, or `Refused` with the reason."""
        if self._static is not None and hmac.compare_digest(authorization, self._static):
            return None
        scheme, _, credential = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not credential:
            raise Refused("missing bearer token")
        if self._policy is None:
            raise Refused("wrong bearer token")
        return self._verified_subject(credential.strip())

    def _jwks_version(self) -> int | None:
        """The JWKS file's modification time, or None without one (or while it is missing)."""
        if self._policy is None or not self._policy.jwks_file:
            return None
        try:
            return os.stat(self._policy.jwks_file).st_mtime_ns
        except OSError:
            return None

    def _reread_changed_keys(self) -> None:
        now = time.monotonic()
        if now - self._keys_checked < self._policy.keys_check_seconds:
            return
        self._keys_checked, version = now, self._jwks_version()
        if version == self._keys_version:
            return
        self._keys_version = version
        try:
            self._keys, self._keys_unusable = self._policy.keys(), None
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            reason = "it is gone" if version is None else str(exc)
            self._keys, self._keys_unusable = {}, f"the JWKS file does not load ({reason})"
            logger.error(f"refusing every JWT: {self._policy.jwks_file} does not load: {reason}")

    def _verified_subject(self, token: str) -> str:
        policy = self._policy
        if policy.jwks_file:
            self._reread_changed_keys()
        if self._keys_unusable:
            raise Refused(f"no JWT can be verified: {self._keys_unusable}")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key, algorithms = self._key_for(kid)
            claims = jwt.decode(token, key, algorithms=algorithms, audience=policy.audience, issuer=policy.issuer,
                                leeway=policy.leeway_seconds, options={"require": REQUIRED_CLAIMS})
        except jwt.ExpiredSignatureError:
            raise Refused("token expired") from None
        except jwt.InvalidAudienceError:
            raise Refused(f"token not issued for audience {policy.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise Refused(f"token not issued by {policy.issuer!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Refused(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise Refused("token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise Refused(f"invalid token: {exc}") from None
        return str(claims["sub"])

    def _key_for(self, kid: str | None) -> tuple[object, list[str]]:
        """The secret; or the JWKS key the token names, the only one when it names none."""
        if self._policy.secret:
            return self._keys[None]
        if kid is None:
            if len(self._keys) != 1:
                raise Refused("token names no key id (kid) and the JWKS holds several keys")
            return next(iter(self._keys.values()))
        if kid not in self._keys:
            raise Refused(f"token signed with an unknown key id {kid!r}")
        return self._keys[kid]
