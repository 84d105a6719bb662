"""docs/examples/scaled_client.py, the client side of docs/SCALING.md, against the built binary.

The ring proxy routes on the `x-hourglass-key` placement key; a call that only has a session id
or an opaque token must find the same pod as the calls made with the owner. That holds only if
the id ends with the owner's placement key, which is what these tests pin.
"""

import importlib.util
import os
import subprocess

import pytest
from google.protobuf import duration_pb2

from hourglass.v1 import session_pb2, session_pb2_grpc, token_pb2, token_pb2_grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE = os.path.join(ROOT, "docs", "examples", "scaled_client.py")

_spec = importlib.util.spec_from_file_location("scaled_client", EXAMPLE)
scaled_client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scaled_client)

OWNERS = ["alice@example.com", "u42", "", "ünïcödé", "x" * 1000]


@pytest.mark.parametrize("owner", OWNERS[:2] + OWNERS[3:])
def test_session_ids_end_with_the_users_placement_key(server, owner):
    sessions = session_pb2_grpc.SessionServiceStub(server.channel)
    key = scaled_client.placement_key(owner)
    for _ in range(3):
        created = sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                user_id=owner, idle_timeout=duration_pb2.Duration(seconds=60)
            ),
            metadata=scaled_client.routed(key),
            timeout=5,
        )
        assert scaled_client.placement_of_id(created.session.session_id) == key


@pytest.mark.parametrize("subject", OWNERS[:2] + OWNERS[3:])
def test_opaque_tokens_end_with_the_subjects_placement_key(server, subject):
    tokens = token_pb2_grpc.TokenServiceStub(server.channel)
    issued = tokens.IssueToken(
        token_pb2.IssueTokenRequest(
            purpose="email-verify", subject=subject, ttl=duration_pb2.Duration(seconds=60)
        ),
        metadata=scaled_client.routed(scaled_client.placement_key(subject)),
        timeout=5,
    )
    assert scaled_client.placement_of_id(issued.token) == scaled_client.placement_key(subject)


def test_placement_keys_are_valid_ascii_metadata():
    # gRPC metadata values must be printable ASCII: any owner (UTF-8, empty, long) maps to
    # 4 base64url characters.
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    keys = {scaled_client.placement_key(owner) for owner in OWNERS}
    assert len(keys) == len(OWNERS)
    for key in keys:
        assert len(key) == 4 and set(key) <= alphabet


def test_the_example_runs_against_the_server(server):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        ["/usr/bin/python3", EXAMPLE, server.address],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    placement = lines[0].split()
    assert placement[0:2] == ["session", "placement"] and placement[2] == placement[4]
    assert "session found True" in lines
    assert "login allowed True remaining 4" in lines
    assert "hits 1" in lines
