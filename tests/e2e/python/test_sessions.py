"""SessionService from Python, against the built binary.

The seed's get_or_extend_session flow (sliding sessions capped by an absolute lifetime), log in
with rotation, "log out everywhere else", and the session key WatchEvents shows.
"""

import hashlib
import threading
import time

import grpc
import pytest
from google.protobuf import duration_pb2

from hourglass.v1 import admin_pb2, admin_pb2_grpc, common_pb2, session_pb2, session_pb2_grpc


@pytest.fixture
def sessions(server):
    return session_pb2_grpc.SessionServiceStub(server.channel)


def millis(n):
    return duration_pb2.Duration(seconds=n // 1000, nanos=(n % 1000) * 1_000_000)


def get_or_extend_session(sessions, session_id, user_id, idle_ms, absolute_ms):
    """The seed's helper: the live session, its idle deadline slid; else a new one."""
    if session_id:
        got = sessions.GetSession(session_pb2.GetSessionRequest(session_id=session_id, touch=True))
        if got.found:
            return got.session, False
    created = sessions.CreateSession(
        session_pb2.CreateSessionRequest(
            user_id=user_id,
            labels={"device": "pytest"},
            idle_timeout=millis(idle_ms),
            absolute_timeout=millis(absolute_ms),
        )
    )
    return created.session, True


def test_get_or_extend_session_slides_until_idle_or_absolute(sessions):
    session, new = get_or_extend_session(sessions, None, "u42", idle_ms=1000, absolute_ms=2500)
    assert new
    first_id = session.session_id
    assert len(first_id) == 47
    create_ms = session.create_time.ToMilliseconds()
    assert session.absolute_expire_time.ToMilliseconds() - create_ms == 2500

    # Activity every 0.5 s keeps it alive past its first idle deadline...
    for _ in range(3):
        time.sleep(0.5)
        session, new = get_or_extend_session(sessions, first_id, "u42", 1000, 2500)
        assert not new and session.session_id == first_id
        assert session.expire_time.ToMilliseconds() <= session.absolute_expire_time.ToMilliseconds()
    # ...but never past the absolute deadline (t = 2.5 s), whatever the activity.
    time.sleep(1.2)
    session, new = get_or_extend_session(sessions, first_id, "u42", 1000, 2500)
    assert new and session.session_id != first_id

    # An idle gap longer than the idle timeout ends it too.
    second_id = session.session_id
    time.sleep(1.1)
    got = sessions.GetSession(session_pb2.GetSessionRequest(session_id=second_id, touch=True))
    assert not got.found
    assert not got.HasField("session")


def test_login_rotates_and_logout_everywhere_else(sessions):
    def create(device):
        return sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                user_id="alice",
                data={"cart": b"\x00\x01"},
                labels={"device": device},
                idle_timeout=millis(60_000),
                max_sessions_per_user=3,
            )
        ).session

    anonymous = create("laptop")
    # Log in: new id against session fixation; the old one is dead at once.
    logged_in = sessions.RotateSession(
        session_pb2.RotateSessionRequest(session_id=anonymous.session_id)
    ).session
    assert logged_in.session_id != anonymous.session_id
    assert logged_in.data["cart"] == b"\x00\x01"
    assert not sessions.GetSession(
        session_pb2.GetSessionRequest(session_id=anonymous.session_id)
    ).found
    with pytest.raises(grpc.RpcError) as error:
        sessions.RotateSession(session_pb2.RotateSessionRequest(session_id=anonymous.session_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

    phone = create("phone")
    tablet = create("tablet")
    create("tv")  # a fourth: the oldest (the rotated laptop session) makes room
    listed = sessions.ListUserSessions(session_pb2.ListUserSessionsRequest(user_id="alice"))
    assert [s.labels["device"] for s in listed.sessions] == ["tv", "tablet", "phone"]

    updated = sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session_id=phone.session_id, data={"theme": b"dark"}, remove_keys=["cart"]
        )
    ).session
    assert dict(updated.data) == {"theme": b"dark"}

    deleted = sessions.DeleteUserSessions(
        session_pb2.DeleteUserSessionsRequest(user_id="alice", except_session_id=tablet.session_id)
    )
    assert deleted.deleted == 2
    listed = sessions.ListUserSessions(session_pb2.ListUserSessionsRequest(user_id="alice"))
    assert [s.session_id for s in listed.sessions] == [tablet.session_id]
    assert sessions.DeleteSession(
        session_pb2.DeleteSessionRequest(session_id=tablet.session_id)
    ).deleted


def test_bad_requests_name_the_field(sessions):
    with pytest.raises(grpc.RpcError) as error:
        sessions.CreateSession(session_pb2.CreateSessionRequest(user_id="u"))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "idle_timeout" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        sessions.GetSession(session_pb2.GetSessionRequest(session_id=""))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "session_id" in error.value.details()
    # A malformed id is simply not found.
    assert not sessions.GetSession(session_pb2.GetSessionRequest(session_id="garbage")).found


def test_watch_events_show_user_and_id_hash_only(server, sessions):
    admin = admin_pb2_grpc.AdminServiceStub(server.channel)
    stream = admin.WatchEvents(
        admin_pb2.WatchEventsRequest(spaces=[common_pb2.SPACE_SESSION]), timeout=20
    )
    received = []

    def read():
        for response in stream:
            received.append(response.event)
            return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)  # let the subscription start
    session = sessions.CreateSession(
        session_pb2.CreateSessionRequest(user_id="u42", idle_timeout=millis(200))
    ).session
    reader.join(timeout=10)
    stream.cancel()
    assert len(received) == 1
    event = received[0]
    assert event.kind == admin_pb2.EVENT_KIND_EXPIRED
    digest = hashlib.sha256(session.session_id.encode()).hexdigest()[:16]
    assert event.key == "u42:" + digest
    assert session.session_id not in event.key
