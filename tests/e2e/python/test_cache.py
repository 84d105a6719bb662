"""CacheService from Python: the seed's get_cached_feed, done on the server.

The seed's Redis version had a thundering herd (every caller that missed recomputed the feed)
and a stale-set race (a slow recomputation could overwrite a newer invalidation):

    def get_cached_feed(user_id):
        cached = r.get(f"feed:{user_id}")
        if cached:
            return json.loads(cached)
        feed = compute_feed(user_id)
        r.setex(f"feed:{user_id}", 300, json.dumps(feed))
        return feed

Against CacheService, one caller per lease window recomputes, the others serve the stale
value (or wait briefly on a cold key), and a Fill under a lease that an Invalidate overtook
is refused.
"""

import json
import threading
import time

import grpc
import pytest
from google.protobuf import duration_pb2

from hourglass.v1 import cache_pb2, cache_pb2_grpc


def ms(value):
    duration = duration_pb2.Duration()
    duration.FromMilliseconds(value)
    return duration


def get_cached_feed(cache, user_id, compute_feed, fresh_ms=30_000, stale_ms=300_000,
                    lease_ms=10_000, wait_s=0.02, attempts=250):
    """The feed of `user_id`, computed by at most one caller per lease window."""
    key = f"feed:{user_id}"
    for _ in range(attempts):
        found = cache.Lookup(cache_pb2.LookupRequest(key=key, lease_ttl=ms(lease_ms)), timeout=5)
        if found.revalidate:
            feed = compute_feed(user_id)
            cache.Fill(cache_pb2.FillRequest(
                key=key, value=json.dumps(feed).encode(), fresh_for=ms(fresh_ms),
                stale_for=ms(stale_ms), tags=[f"user:{user_id}"], lease_id=found.lease_id),
                timeout=5)
            return feed
        if found.state in (cache_pb2.CACHE_STATE_FRESH, cache_pb2.CACHE_STATE_STALE):
            return json.loads(found.value)
        time.sleep(wait_s)  # a cold key someone else is computing
    return compute_feed(user_id)  # the revalidator vanished and its lease has not run out yet


class FeedSource:
    """A slow feed computation that counts its calls."""

    def __init__(self, delay_s=0.0):
        self.delay_s = delay_s
        self.calls = 0
        self.version = 1
        self._lock = threading.Lock()

    def __call__(self, user_id):
        with self._lock:
            self.calls += 1
            version = self.version
        time.sleep(self.delay_s)
        return {"user": user_id, "posts": [f"post-{version}"]}


def run_concurrently(count, fn):
    results = [None] * count
    barrier = threading.Barrier(count)

    def worker(i):
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def cache(server):
    return cache_pb2_grpc.CacheServiceStub(server.channel)


def test_cold_feed_is_computed_once_for_many_callers(cache):
    source = FeedSource(delay_s=0.3)
    feeds = run_concurrently(20, lambda: get_cached_feed(cache, 42, source))
    assert source.calls == 1
    assert all(feed == {"user": 42, "posts": ["post-1"]} for feed in feeds)


def test_stale_feed_is_served_while_one_caller_recomputes(cache):
    source = FeedSource()
    get_cached_feed(cache, 7, source, fresh_ms=50)
    time.sleep(0.1)  # past fresh_for, inside stale_for
    source.delay_s = 0.5
    source.version = 2
    started = time.monotonic()
    feeds = run_concurrently(10, lambda: (get_cached_feed(cache, 7, source, fresh_ms=50),
                                          time.monotonic() - started))
    assert source.calls == 2  # the first fill, then exactly one revalidation
    fresh = [f for f, _ in feeds if f["posts"] == ["post-2"]]
    stale = [(f, took) for f, took in feeds if f["posts"] == ["post-1"]]
    assert len(fresh) == 1 and len(stale) == 9
    assert all(took < 0.4 for _, took in stale)  # nobody waited for the recomputation
    found = cache.Lookup(cache_pb2.LookupRequest(key="feed:7"), timeout=5)
    assert found.state == cache_pb2.CACHE_STATE_FRESH
    assert json.loads(found.value)["posts"] == ["post-2"]


def test_invalidation_beats_a_slow_recomputation(cache):
    """The stale-set race: the user posts while their old feed is being computed."""
    lookup = cache.Lookup(cache_pb2.LookupRequest(key="feed:9"), timeout=5)
    assert lookup.revalidate
    old_feed = json.dumps({"user": 9, "posts": ["before the post"]}).encode()
    # ... meanwhile the user posts, and the writer invalidates everything tagged with them:
    invalidated = cache.Invalidate(cache_pb2.InvalidateRequest(tags=["user:9"]), timeout=5)
    assert invalidated.invalidated == 0  # nothing was cached yet
    filled = cache.Fill(cache_pb2.FillRequest(
        key="feed:9", value=old_feed, fresh_for=ms(30_000), tags=["user:9"],
        lease_id=lookup.lease_id), timeout=5)
    assert not filled.applied
    # The refused lease is cleared: the next reader recomputes at once, from the new data.
    source = FeedSource()
    source.version = 2
    started = time.monotonic()
    assert get_cached_feed(cache, 9, source) == {"user": 9, "posts": ["post-2"]}
    assert source.calls == 1 and time.monotonic() - started < 2


def test_invalidate_by_tag_and_key_counts_entries(cache):
    for user in (1, 2):
        get_cached_feed(cache, user, FeedSource())
    cache.Fill(cache_pb2.FillRequest(key="banner", value=b"hi", fresh_for=ms(60_000)), timeout=5)
    removed = cache.Invalidate(
        cache_pb2.InvalidateRequest(keys=["banner", "banner", "absent"], tags=["user:1", "user:2"]),
        timeout=5)
    assert removed.invalidated == 3
    for key in ("feed:1", "feed:2", "banner"):
        found = cache.Lookup(cache_pb2.LookupRequest(key=key), timeout=5)
        assert found.state == cache_pb2.CACHE_STATE_MISS


def test_bad_requests_name_the_field(cache):
    with pytest.raises(grpc.RpcError) as error:
        cache.Fill(cache_pb2.FillRequest(key="k", value=b"v"), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fresh_for" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        cache.Lookup(cache_pb2.LookupRequest(key="k", lease_ttl=ms(0)), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "lease_ttl" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        cache.Invalidate(cache_pb2.InvalidateRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
