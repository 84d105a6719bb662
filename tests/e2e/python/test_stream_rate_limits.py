"""RateLimitService.StreamRateLimits from Python, as a gateway or sidecar uses it.

One long-lived stream carries every check of the process: each request has a client-chosen id and
its answer comes back with that id, so a caller can have many checks in flight on one stream. A bad
check gets its own error answer; the stream stays open.
"""

import queue
import threading

import grpc
from google.protobuf import duration_pb2

from hourglass.v1 import ratelimit_pb2, ratelimit_pb2_grpc


def check(request_id, key, limit, seconds=60):
    return ratelimit_pb2.StreamRateLimitsRequest(
        id=request_id,
        check=ratelimit_pb2.RateLimitCheck(
            key=key, limit=limit, period=duration_pb2.Duration(seconds=seconds)))


def test_a_gateway_streams_checks_and_matches_answers_by_id(server):
    stub = ratelimit_pb2_grpc.RateLimitServiceStub(server.channel)
    # Requests come from a queue the gateway feeds; None ends the stream.
    outgoing = queue.Queue()
    answers = stub.StreamRateLimits(iter(outgoing.get, None), timeout=10)
    for i in range(5):
        outgoing.put(check(100 + i, "api:client-7", limit=3))
    outgoing.put(ratelimit_pb2.StreamRateLimitsRequest(id=999))  # no check: refused alone
    outgoing.put(check(105, "api:client-8", limit=3))
    outgoing.put(None)
    got = {answer.id: answer for answer in answers}
    assert [got[100 + i].result.allowed for i in range(5)] == [True, True, True, False, False]
    assert got[102].result.remaining == 0
    assert got[103].result.retry_after.seconds > 0
    assert got[999].WhichOneof("outcome") == "error"
    assert got[999].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "check" in got[999].error.message
    assert got[105].result.allowed and got[105].result.remaining == 2


def test_many_checks_in_flight_from_several_threads_share_one_stream(server):
    stub = ratelimit_pb2_grpc.RateLimitServiceStub(server.channel)
    outgoing = queue.Queue()
    answers = stub.StreamRateLimits(iter(outgoing.get, None), timeout=20)
    lock = threading.Lock()
    next_id = [0]

    def worker():
        for _ in range(100):
            with lock:
                next_id[0] += 1
                outgoing.put(check(next_id[0], "api:shared", limit=250))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outgoing.put(None)
    results = list(answers)
    assert sorted(a.id for a in results) == list(range(1, 401))
    assert sum(a.result.allowed for a in results) == 250
