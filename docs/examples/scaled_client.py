"""A Python client of hourglass behind the ring proxy (docs/SCALING.md).

With several hourglass pods, each key lives on one pod, and the proxy (deploy/envoy/
ring-hash.yaml) picks that pod by hashing the `x-hourglass-key` metadata of each call. The value
is the call's placement key: the first 4 characters of base64url(SHA-256(owner)), where the
owner is whatever groups the data (a user id, a token subject, a KV key). hourglass ends the
session ids and opaque tokens it issues for an owner with those same 4 characters, so a call
that only has an id finds the right pod from the id itself.

Works the same against a single hourglass (the header is then simply ignored):

    /usr/bin/python3 docs/examples/scaled_client.py 127.0.0.1:50051

Stubs: `make test` generates them into build/tests/e2e/py (or set HG_PY_GEN).
"""

import base64
import hashlib
import os
import sys

HEADER = "x-hourglass-key"


def placement_key(owner):
    """The placement key of everything `owner` owns: base64url of SHA-256(owner)[0:3]."""
    digest = hashlib.sha256(owner.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest[:3]).decode("ascii")


def placement_of_id(routed_id):
    """The placement key inside a session id or opaque token: its last 4 characters."""
    return routed_id[-4:]


def routed(placement):
    """Call metadata that sends a call to the pod owning `placement`."""
    return ((HEADER, placement),)


def main(address):
    sys.path.insert(0, os.environ.get("HG_PY_GEN", "build/tests/e2e/py"))
    import grpc
    from google.protobuf import duration_pb2

    from hourglass.v1 import (
        kv_pb2,
        kv_pb2_grpc,
        ratelimit_pb2,
        ratelimit_pb2_grpc,
        session_pb2,
        session_pb2_grpc,
    )

    with grpc.insecure_channel(address) as channel:
        sessions = session_pb2_grpc.SessionServiceStub(channel)
        limits = ratelimit_pb2_grpc.RateLimitServiceStub(channel)
        kv = kv_pb2_grpc.KeyValueServiceStub(channel)
        user = "alice@example.com"

        # Everything of one user goes to the user's pod: sessions, their index, the user's limits.
        created = sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                user_id=user, idle_timeout=duration_pb2.Duration(seconds=1800)
            ),
            metadata=routed(placement_key(user)),
            timeout=5,
        )
        session_id = created.session.session_id
        print("session placement", placement_of_id(session_id), "user", placement_key(user))

        # Later, with only the id from a cookie: the id carries its placement.
        got = sessions.GetSession(
            session_pb2.GetSessionRequest(session_id=session_id, touch=True),
            metadata=routed(placement_of_id(session_id)),
            timeout=5,
        )
        print("session found", got.found)

        login = limits.CheckRateLimit(
            ratelimit_pb2.CheckRateLimitRequest(
                key="login:" + user, limit=5, period=duration_pb2.Duration(seconds=60)
            ),
            metadata=routed(placement_key(user)),
            timeout=5,
        )
        print("login allowed", login.allowed, "remaining", login.remaining)

        # A key with no owner is its own owner.
        hits = kv.Increment(
            kv_pb2.IncrementRequest(
                key="hits:/home", delta=1, ttl_on_create=duration_pb2.Duration(seconds=60)
            ),
            metadata=routed(placement_key("hits:/home")),
            timeout=5,
        )
        print("hits", hits.value)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
