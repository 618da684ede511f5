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
from serving.client_address import client_address, trusted_networks
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


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(keys: dict) -> str:
    """A JWKS document of public keys, by kid (None: a key without one)."""
    return json.dumps({"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "use": "sig",
                                 **({"kid": kid} if kid is not None else {})} for kid, key in keys.items()]})


def jwks_access(path, text: str, **policy) -> Access:
    path.write_text(text)
    return Access(None, JwtPolicy(issuer=CLAIMS["iss"], audience=CLAIMS["aud"], jwks_file=str(path), **policy))


def test_jwks_keys_are_chosen_by_key_id_which_a_token_must_name_among_several(tmp_path):
    keys = {kid: rsa_key() for kid in ("k1", "k2")}
    access = jwks_access(tmp_path / "jwks.json", jwks(keys))
    assert access.caller(bearer(signed(keys["k2"], "RS256", headers={"kid": "k2"}))) == "team-a"
    assert refusal(access, bearer(signed(keys["k1"], "RS256", headers={"kid": "k9"}))) == "token signed with an unknown key id 'k9'"
    assert refusal(access, bearer(signed(keys["k1"], "RS256", headers={"kid": "k2"}))) == "token signature does not verify"
    assert refusal(access, bearer(signed(keys["k1"], "RS256"))) == \
        "token names no key id (kid) and the JWKS holds several keys"


def test_a_single_jwks_key_verifies_tokens_that_name_no_kid_and_a_key_without_kid_cannot_match_any_token(tmp_path):
    only = rsa_key()
    access = jwks_access(tmp_path / "one.json", jwks({None: only}))
    assert access.caller(bearer(signed(only, "RS256"))) == "team-a"
    assert "unknown key id 'k1'" in refusal(access, bearer(signed(only, "RS256", headers={"kid": "k1"})))
    with pytest.raises(ValueError, match="needs a kid on each"):
        jwks_access(tmp_path / "several.json", jwks({"k1": rsa_key(), None: only}))


def test_a_secret_and_a_jwks_file_together_or_neither_are_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="exactly one of an HS256 secret and a JWKS file \\(both are set\\)"):
        JwtPolicy(issuer=CLAIMS["iss"], audience=CLAIMS["aud"], secret=SECRET, jwks_file=str(tmp_path / "jwks.json"))
    with pytest.raises(ValueError, match="neither is set"):
        JwtPolicy(issuer=CLAIMS["iss"], audience=CLAIMS["aud"])


@pytest.mark.parametrize("broken", ["emptied", "deleted", "unparsable", "no keys"])
def test_a_rotated_jwks_file_is_read_again_and_a_broken_one_refuses_every_jwt(tmp_path, broken):
    """Revocation fails closed: keeping the keys last read would keep a revoked key valid."""
    old, new = rsa_key(), rsa_key()
    path = tmp_path / "jwks.json"

    def publish(text: str, mtime: int) -> None:
        path.write_text(text)
        os.utime(path, ns=(mtime, mtime))

    access = jwks_access(path, jwks({"old": old}), keys_check_seconds=0)
    by_old, by_new = (bearer(signed(k, "RS256", headers={"kid": kid})) for kid, k in (("old", old), ("new", new)))
    assert access.caller(by_old) == "team-a" and "unknown key id 'new'" in refusal(access, by_new)

    publish(jwks({"new": new}), 2_000_000_000)  # rotation: the old key is revoked
    assert access.caller(by_new) == "team-a" and "unknown key id 'old'" in refusal(access, by_old)

    if broken == "deleted":
        path.unlink()
    else:
        publish({"emptied": "", "unparsable": "{not json", "no keys": '{"keys": []}'}[broken], 3_000_000_000)
    for token in (by_new, by_old):
        assert refusal(access, token).startswith("no JWT can be verified: the JWKS file does not load (")
    if broken == "deleted":
        assert refusal(access, by_new).endswith("(it is gone)")

    publish(jwks({"new": new}), 4_000_000_000)  # mended: verifying again, without a restart
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


PROXIES = trusted_networks("10.0.0.0/8, 192.168.1.7")


@pytest.mark.parametrize("peer, forwarded_for, client", [
    ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # a direct caller's header is not believed
    ("10.1.2.3", "198.51.100.1", "198.51.100.1"),  # the ingress vouches for its client
    ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what the client wrote itself is left of it
    ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # two trusted hops
    ("10.1.2.3", "not-an-address", "10.1.2.3"),
    ("10.1.2.3", "", "10.1.2.3"),
    ("192.168.1.7", "2001:db8::1", "2001:db8::1"),
])
def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(peer, forwarded_for, client):
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_a_spoofed_forwarded_for_cannot_take_another_callers_bucket_or_escape_its_own():
    limiter = RateLimiter(per_second=1, burst=2)
    direct = [limiter.retry_after(client_address("203.0.113.5", f"198.51.100.{n}", PROXIES)) for n in range(3)]
    assert direct[:2] == [None, None] and direct[2] is not None, "changing the header does not refill the bucket"
    behind = [limiter.retry_after(client_address("10.1.2.3", f"198.51.100.{n}", PROXIES)) for n in range(3)]
    assert behind == [None, None, None], "behind the ingress each client has a bucket of its own"


def test_a_trusted_proxy_setting_that_is_not_a_network_stops_the_service():
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not an address or a CIDR"):
        trusted_networks("10.0.0.0/8,10.0.0.0/33")
