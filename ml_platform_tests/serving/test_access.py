"""Who may call: the static token and JWTs (HS256 secret or a JWKS file), each refusal with its reason;
and the per-client rate limit's buckets. Real PyJWT and real keys; the served service is in
test_edge_in_production.py."""

from __future__ import annotations

import json
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from serving.access import Access, JwtPolicy, Refused
from serving.rate_limit import MAX_CALLERS, RateLimiter

SECRET = "a-long-enough-hs256-secret-for-tests-0123456789"
CLAIMS = {"iss": "https://idp.example", "aud": "ml-platform", "sub": "team-a"}
POLICY = JwtPolicy(issuer=CLAIMS["iss"], audience=CLAIMS["aud"], secret=SECRET)


def bearer(token: str) -> bytes:
    return f"Bearer {token}".encode()


def signed(key=SECRET, algorithm="HS256", headers=None, **changes) -> str:
    claims = {**CLAIMS, "exp": int(time.time()) + 300, **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm, headers=headers)


def refusal(access: Access, authorization: bytes) -> str:
    with pytest.raises(Refused) as refused:
        access.caller(authorization)
    return str(refused.value)


def test_a_valid_jwt_names_its_subject_and_the_static_token_still_works():
    access = Access("static-token", POLICY)
    assert access.caller(bearer(signed())) == "team-a"
    assert access.caller(bearer("static-token")) is None


@pytest.mark.parametrize("token, reason", [
    (lambda: signed(exp=int(time.time()) - 120), "token expired"),
    (lambda: signed(aud="someone-else"), "token not issued for audience 'ml-platform'"),
    (lambda: signed(iss="https://evil.example"), "token not issued by 'https://idp.example'"),
    (lambda: signed(key="another-secret-of-the-same-length-0123456789abc"), "token signature does not verify"),
    (lambda: signed(sub=None), "token lacks the 'sub' claim"),
    (lambda: signed(exp=None), "token lacks the 'exp' claim"),
    (lambda: "not-a-jwt", "invalid token: Not enough segments"),
])
def test_every_bad_jwt_is_refused_with_its_reason(token, reason):
    assert refusal(Access("static-token", POLICY), bearer(token())) == reason


def test_no_token_or_another_scheme_is_refused_and_without_jwt_a_wrong_token_is_just_wrong():
    assert refusal(Access(None, POLICY), b"") == "missing bearer token"
    assert refusal(Access(None, POLICY), b"Basic dXNlcjpwYXNz") == "missing bearer token"
    assert refusal(Access("static-token", None), bearer("guess")) == "wrong bearer token"
    assert not Access(None, None).required


def test_an_algorithm_the_policy_does_not_allow_is_refused():
    unsigned = jwt.encode({**CLAIMS, "exp": int(time.time()) + 60}, None, algorithm="none")
    assert refusal(Access(None, POLICY), bearer(unsigned)).startswith("invalid token")


def test_jwks_keys_are_chosen_by_key_id(tmp_path):
    keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}
    jwks = {"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"}
                     for kid, key in keys.items()]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    access = Access(None, JwtPolicy(issuer=CLAIMS["iss"], audience=CLAIMS["aud"], jwks_file=str(tmp_path / "jwks.json")))
    assert access.caller(bearer(signed(keys["k2"], "RS256", headers={"kid": "k2"}))) == "team-a"
    assert refusal(access, bearer(signed(keys["k1"], "RS256", headers={"kid": "k9"}))) == "token signed with an unknown key id 'k9'"
    assert refusal(access, bearer(signed(keys["k1"], "RS256", headers={"kid": "k2"}))) == "token signature does not verify"


def test_a_rotated_jwks_file_is_read_again_and_a_broken_one_keeps_the_keys_last_read(tmp_path):
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    path = tmp_path / "jwks.json"

    def publish(keys: dict, mtime: int) -> None:
        path.write_text(json.dumps({"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())),
                                              "kid": kid} for kid, k in keys.items()]}))
        os.utime(path, ns=(mtime, mtime))

    publish({"old": old}, 1_000_000_000)
    access = Access(None, JwtPolicy(issuer=CLAIMS["iss"], audience=CLAIMS["aud"], jwks_file=str(path),
                                    keys_check_seconds=0))
    by_old, by_new = (bearer(signed(k, "RS256", headers={"kid": kid})) for kid, k in (("old", old), ("new", new)))
    assert access.caller(by_old) == "team-a" and "unknown key id 'new'" in refusal(access, by_new)

    publish({"new": new}, 2_000_000_000)  # rotation: the old key is revoked
    assert access.caller(by_new) == "team-a" and "unknown key id 'old'" in refusal(access, by_old)

    path.write_text("{not json")
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    assert access.caller(by_new) == "team-a"


def test_a_bucket_allows_its_burst_then_says_when_to_retry_and_refills_at_the_rate():
    limiter = RateLimiter(per_second=2, burst=4)
    assert [limiter.retry_after("a", now=0.0) for _ in range(5)] == [None, None, None, None, 1]
    assert limiter.retry_after("b", now=0.0) is None, "callers have separate buckets"
    assert limiter.retry_after("a", now=0.5) is None and limiter.retry_after("a", now=0.5) == 1
    assert RateLimiter(per_second=0.1, burst=1).retry_after("c", now=0.0) is None
    slow = RateLimiter(per_second=0.1, burst=1)
    slow.retry_after("c", now=0.0)
    assert slow.retry_after("c", now=1.0) == 9


def test_workers_share_the_limit_and_the_table_of_callers_is_bounded():
    limiter = RateLimiter(per_second=10, burst=10, workers=2)
    assert (limiter.rate, limiter.burst) == (5, 5)
    for caller in range(MAX_CALLERS + 100):
        limiter.retry_after(str(caller), now=0.0)
    assert len(limiter._buckets) == MAX_CALLERS and "0" not in limiter._buckets
