"""TokenService from Python, against the built binary.

The seed's email-verification flow (issue, verify, consume once, a second consume is USED_UP,
racing clicks get exactly one success), a login OTP with its attempt limit, and revocation after
a password change.
"""

import concurrent.futures
import time

import grpc
import pytest
from google.protobuf import duration_pb2

from hourglass.v1 import token_pb2, token_pb2_grpc


@pytest.fixture
def tokens(server):
    return token_pb2_grpc.TokenServiceStub(server.channel)


def seconds(n):
    return duration_pb2.Duration(seconds=n)


def test_email_verification_token_is_used_exactly_once(tokens):
    issued = tokens.IssueToken(
        token_pb2.IssueTokenRequest(
            purpose="email-verify", subject="u42", payload=b"alice@example.com", ttl=seconds(86400)
        )
    )
    assert len(issued.token) == 47
    assert abs(issued.expire_time.ToSeconds() - (time.time() + 86400)) < 5

    # The link is opened: check it without using it (twice, it stays valid).
    for _ in range(2):
        verified = tokens.VerifyToken(
            token_pb2.VerifyTokenRequest(purpose="email-verify", token=issued.token)
        )
        assert verified.valid and verified.reason == token_pb2.TOKEN_REASON_OK
        assert verified.subject == "u42" and verified.payload == b"alice@example.com"
        assert verified.remaining_uses == 1

    # Another purpose never accepts it.
    wrong = tokens.ConsumeToken(
        token_pb2.ConsumeTokenRequest(purpose="password-reset", token=issued.token)
    )
    assert not wrong.valid and wrong.reason == token_pb2.TOKEN_REASON_PURPOSE_MISMATCH

    consumed = tokens.ConsumeToken(
        token_pb2.ConsumeTokenRequest(purpose="email-verify", token=issued.token)
    )
    assert consumed.valid and consumed.remaining_uses == 0
    assert consumed.payload == b"alice@example.com"

    again = tokens.ConsumeToken(
        token_pb2.ConsumeTokenRequest(purpose="email-verify", token=issued.token)
    )
    assert not again.valid
    assert again.reason == token_pb2.TOKEN_REASON_USED_UP
    assert again.payload == b""


def test_racing_clicks_verify_the_email_once(tokens):
    issued = tokens.IssueToken(
        token_pb2.IssueTokenRequest(purpose="email-verify", subject="u7", ttl=seconds(60))
    )
    request = token_pb2.ConsumeTokenRequest(purpose="email-verify", token=issued.token)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: tokens.ConsumeToken(request), range(32)))
    assert sum(1 for r in results if r.valid) == 1
    assert all(r.reason == token_pb2.TOKEN_REASON_USED_UP for r in results if not r.valid)


def test_malformed_tokens_are_just_not_found(tokens):
    for token in ["x", "A" * 46, "A" * 48, "!" * 47, "A" * 5000]:
        response = tokens.VerifyToken(token_pb2.VerifyTokenRequest(purpose="p", token=token))
        assert not response.valid and response.reason == token_pb2.TOKEN_REASON_NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        tokens.VerifyToken(token_pb2.VerifyTokenRequest(purpose="p", token=""))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "token" in error.value.details()


def test_login_otp_dies_after_max_attempts(tokens):
    issued = tokens.IssueToken(
        token_pb2.IssueTokenRequest(
            purpose="login-otp",
            subject="u42",
            ttl=seconds(300),
            format=token_pb2.TOKEN_FORMAT_NUMERIC,
            max_attempts=3,
        )
    )
    code = issued.token
    assert len(code) == 6 and code.isdigit()
    wrong = ("0" if code[0] != "0" else "1") + code[1:]
    for _ in range(3):
        response = tokens.VerifyToken(
            token_pb2.VerifyTokenRequest(purpose="login-otp", subject="u42", token=wrong)
        )
        assert response.reason == token_pb2.TOKEN_REASON_WRONG_CODE
    dead = tokens.ConsumeToken(
        token_pb2.ConsumeTokenRequest(purpose="login-otp", subject="u42", token=code)
    )
    assert not dead.valid and dead.reason == token_pb2.TOKEN_REASON_TOO_MANY_ATTEMPTS

    # A new code replaces the dead one.
    fresh = tokens.IssueToken(
        token_pb2.IssueTokenRequest(
            purpose="login-otp", subject="u42", ttl=seconds(300),
            format=token_pb2.TOKEN_FORMAT_NUMERIC, digits=8,
        )
    )
    assert len(fresh.token) == 8
    assert tokens.ConsumeToken(
        token_pb2.ConsumeTokenRequest(purpose="login-otp", subject="u42", token=fresh.token)
    ).valid


def test_password_change_revokes_the_subjects_tokens(tokens):
    def issue(purpose):
        return tokens.IssueToken(
            token_pb2.IssueTokenRequest(purpose=purpose, subject="bob", ttl=seconds(600))
        ).token

    reset_a = issue("password-reset")
    reset_b = issue("password-reset")
    verify = issue("email-verify")
    revoked = tokens.RevokeSubjectTokens(
        token_pb2.RevokeSubjectTokensRequest(subject="bob", purpose="password-reset")
    )
    assert revoked.revoked == 2
    for token in (reset_a, reset_b):
        response = tokens.ConsumeToken(
            token_pb2.ConsumeTokenRequest(purpose="password-reset", token=token)
        )
        assert response.reason == token_pb2.TOKEN_REASON_NOT_FOUND
    assert tokens.RevokeToken(
        token_pb2.RevokeTokenRequest(purpose="email-verify", token=verify)
    ).revoked
    assert not tokens.VerifyToken(
        token_pb2.VerifyTokenRequest(purpose="email-verify", token=verify)
    ).valid
