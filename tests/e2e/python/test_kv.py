"""KeyValueService and AdminService.WatchEvents from Python, against the built binary.

The Redis TTL idioms as typed calls: SETEX + TTL/PTTL + PERSIST + EXPIREAT, a pipeline via Batch,
the INCR + EXPIRE counter via Increment with ttl_on_create, and a keyspace event stream.
"""

import time

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from hourglass.v1 import admin_pb2, admin_pb2_grpc, common_pb2, kv_pb2, kv_pb2_grpc


@pytest.fixture
def kv(server):
    return kv_pb2_grpc.KeyValueServiceStub(server.channel)


@pytest.fixture
def admin(server):
    return admin_pb2_grpc.AdminServiceStub(server.channel)


def seconds(n):
    return duration_pb2.Duration(seconds=n)


def test_setex_ttl_pttl_persist_expireat(kv):
    # SETEX session:1 60 alice
    assert kv.Set(kv_pb2.SetRequest(key="session:1", value=b"alice", ttl=seconds(60))).applied
    got = kv.Get(kv_pb2.GetRequest(key="session:1"))
    assert got.found and got.value == b"alice"

    # TTL / PTTL / EXPIRETIME
    ttl = kv.GetTtl(kv_pb2.GetTtlRequest(key="session:1"))
    assert ttl.state == kv_pb2.KEY_STATE_EXPIRING
    assert 58_000 <= ttl.ttl.ToMilliseconds() <= 60_000
    assert abs(ttl.expire_time.ToSeconds() - (time.time() + 60)) < 3

    # PERSIST
    assert kv.Persist(kv_pb2.PersistRequest(key="session:1")).applied
    assert kv.GetTtl(kv_pb2.GetTtlRequest(key="session:1")).state == kv_pb2.KEY_STATE_NO_EXPIRY

    # EXPIREAT now + 120 s, only if the key has no expiry (NX)
    at = timestamp_pb2.Timestamp(seconds=int(time.time()) + 120)
    assert kv.Expire(
        kv_pb2.ExpireRequest(
            key="session:1", expire_time=at, condition=kv_pb2.EXPIRE_CONDITION_IF_NO_EXPIRY
        )
    ).applied
    expire_time = kv.GetTtl(kv_pb2.GetTtlRequest(key="session:1")).expire_time
    # Converted to the monotonic clock and back: equal up to a millisecond of clock reading.
    assert abs(expire_time.ToMilliseconds() - at.ToMilliseconds()) <= 5

    # EXPIRE session:1 0 deletes it
    assert kv.Expire(kv_pb2.ExpireRequest(key="session:1", ttl=seconds(0))).applied
    assert kv.GetTtl(kv_pb2.GetTtlRequest(key="session:1")).state == kv_pb2.KEY_STATE_NOT_FOUND
    assert not kv.Get(kv_pb2.GetRequest(key="session:1")).found


def test_counter_with_ttl_on_create(kv):
    # INCR hits + EXPIRE hits 86400 NX, in one atomic step
    first = kv.Increment(
        kv_pb2.IncrementRequest(key="hits:today", delta=1, ttl_on_create=seconds(86400))
    )
    second = kv.Increment(
        kv_pb2.IncrementRequest(key="hits:today", delta=1, ttl_on_create=seconds(86400))
    )
    assert (first.value, second.value) == (1, 2)
    assert first.HasField("expire_time")
    # The TTL was set once, at creation (equal up to a millisecond of clock reading).
    assert abs(second.expire_time.ToMilliseconds() - first.expire_time.ToMilliseconds()) <= 5
    assert kv.Get(kv_pb2.GetRequest(key="hits:today")).value == b"2"

    kv.Set(kv_pb2.SetRequest(key="name", value=b"alice"))
    with pytest.raises(grpc.RpcError) as error:
        kv.Increment(kv_pb2.IncrementRequest(key="name", delta=1))
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert kv.Get(kv_pb2.GetRequest(key="name")).value == b"alice"


def test_pipeline_via_batch(kv):
    response = kv.Batch(
        kv_pb2.BatchRequest(
            ops=[
                kv_pb2.BatchOp(set=kv_pb2.SetRequest(key="a", value=b"1")),
                kv_pb2.BatchOp(get=kv_pb2.GetRequest(key="a")),
                kv_pb2.BatchOp(increment=kv_pb2.IncrementRequest(key="a", delta=1)),
                kv_pb2.BatchOp(set=kv_pb2.SetRequest(key="", value=b"x")),
                kv_pb2.BatchOp(get_ttl=kv_pb2.GetTtlRequest(key="a")),
            ]
        )
    )
    results = response.results
    assert [r.WhichOneof("result") for r in results] == [
        "set", "get", "increment", "error", "get_ttl",
    ]
    assert results[0].set.applied
    assert results[1].get.value == b"1"
    assert results[2].increment.value == 2
    assert results[3].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert results[3].error.message == "key: required"
    assert results[4].get_ttl.state == kv_pb2.KEY_STATE_NO_EXPIRY


def test_invalid_arguments_name_the_field(kv):
    with pytest.raises(grpc.RpcError) as error:
        kv.Set(kv_pb2.SetRequest(key="k" * 2048, value=b"v"))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "key: 2048 bytes exceeds max 1024"
    with pytest.raises(grpc.RpcError) as error:
        kv.Set(kv_pb2.SetRequest(key="k", value=b"v", ttl=seconds(0)))
    assert error.value.details() == "ttl: must be > 0"


def test_watch_events_sees_a_deletion(kv, admin):
    stream = admin.WatchEvents(
        admin_pb2.WatchEventsRequest(spaces=[common_pb2.SPACE_KV]), timeout=20
    )
    stream.initial_metadata()  # headers arrive once the subscription is live
    kv.Set(kv_pb2.SetRequest(key="doomed", value=b"1"))
    kv.Delete(kv_pb2.DeleteRequest(keys=["doomed"]))
    message = next(stream)
    assert message.event.space == common_pb2.SPACE_KV
    assert message.event.kind == admin_pb2.EVENT_KIND_DELETED
    assert message.event.key == "doomed"
    assert message.dropped == 0
    assert abs(message.event.time.ToSeconds() - time.time()) < 5
    stream.cancel()
