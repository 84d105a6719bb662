"""RateLimitService and Envoy's ShouldRateLimit from Python, against the built binary.

The first as an application calls it (login throttling, a token bucket, an all-or-nothing
quota over several keys); the second as Envoy's rate limit filter does, with descriptors from a
YAML file given by --ratelimit_config, reloaded on SIGHUP.
"""

import signal
import time

import grpc
import pytest
from google.protobuf import duration_pb2, wrappers_pb2

from conftest import RunningServer, run_binary
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2 as descriptor_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from hourglass.v1 import ratelimit_pb2, ratelimit_pb2_grpc

CONFIG = """\
domain: edge
descriptors:
  - key: remote_address
    rate_limit:
      unit: hour
      requests_per_unit: 3
  - key: path
    value: /login
    rate_limit: {unit: hour, requests_per_unit: 1, name: login}
  - key: generic
    rate_limit: {unlimited: true}
  - key: tier
    value: free
    descriptors:
      - key: user
        rate_limit: {unit: day, requests_per_unit: 100}
"""


@pytest.fixture
def limits(server):
    return ratelimit_pb2_grpc.RateLimitServiceStub(server.channel)


def ms(duration):
    return duration.seconds * 1000 + duration.nanos // 1_000_000


def stay_clear_of_hour_boundary():
    """Envoy windows align to wall-clock hours: keep a test's calls inside one window."""
    to_boundary = 3600 - time.time() % 3600
    if to_boundary < 10:
        time.sleep(to_boundary + 0.05)


# ---- RateLimitService ----


def test_login_throttling_fixed_window(limits):
    check = ratelimit_pb2.CheckRateLimitRequest(
        key="login:10.0.0.1", limit=5, period=duration_pb2.Duration(seconds=60)
    )
    first = limits.CheckRateLimit(check, timeout=5)
    assert first.allowed and first.limit == 5 and first.remaining == 4
    assert ms(first.reset_after) == 60_000 and ms(first.retry_after) == 0
    for _ in range(4):
        assert limits.CheckRateLimit(check, timeout=5).allowed
    denied = limits.CheckRateLimit(check, timeout=5)
    assert not denied.allowed and denied.remaining == 0
    assert 55_000 < ms(denied.retry_after) <= 60_000
    # hits 0 peeks (an explicit 0, not the unset default of 1).
    peek = ratelimit_pb2.CheckRateLimitRequest(
        key="login:10.0.0.2", limit=5, period=duration_pb2.Duration(seconds=60), hits=0
    )
    assert limits.CheckRateLimit(peek, timeout=5).remaining == 5
    assert limits.CheckRateLimit(peek, timeout=5).remaining == 5


def test_token_bucket_burst_and_refill(limits):
    check = ratelimit_pb2.CheckRateLimitRequest(
        key="api:client-7",
        limit=10,
        period=duration_pb2.Duration(seconds=1),
        burst=5,
        hits=5,
        algorithm=ratelimit_pb2.RATE_LIMIT_ALGORITHM_TOKEN_BUCKET,
    )
    burst = limits.CheckRateLimit(check, timeout=5)
    assert burst.allowed and burst.limit == 5 and burst.remaining == 0
    assert ms(burst.reset_after) == 500
    check.hits = 1
    denied = limits.CheckRateLimit(check, timeout=5)
    assert not denied.allowed and 0 < ms(denied.retry_after) <= 100
    time.sleep(ms(denied.retry_after) / 1000 + 0.02)
    assert limits.CheckRateLimit(check, timeout=5).allowed


def test_all_or_nothing_quota_over_two_keys(limits):
    def batch(org_hits):
        return ratelimit_pb2.CheckRateLimitsRequest(
            all_or_nothing=True,
            checks=[
                ratelimit_pb2.RateLimitCheck(
                    key="user:42", limit=100, period=duration_pb2.Duration(seconds=60)
                ),
                ratelimit_pb2.RateLimitCheck(
                    key="org:7",
                    limit=3,
                    period=duration_pb2.Duration(seconds=60),
                    hits=org_hits,
                    algorithm=ratelimit_pb2.RATE_LIMIT_ALGORITHM_SLIDING_WINDOW,
                ),
            ],
        )

    taken = limits.CheckRateLimits(batch(2), timeout=5).results
    assert [r.allowed for r in taken] == [True, True]
    assert [r.remaining for r in taken] == [99, 1]
    refused = limits.CheckRateLimits(batch(2), timeout=5).results
    assert [r.allowed for r in refused] == [False, False]
    assert [r.remaining for r in refused] == [99, 1]  # nothing was taken
    assert ms(refused[0].retry_after) == 0 and ms(refused[1].retry_after) > 0


def test_invalid_checks_are_invalid_argument(limits):
    with pytest.raises(grpc.RpcError) as error:
        limits.CheckRateLimit(
            ratelimit_pb2.CheckRateLimitRequest(
                key="k", limit=0, period=duration_pb2.Duration(seconds=1)
            ),
            timeout=5,
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "limit: must be > 0"
    with pytest.raises(grpc.RpcError) as error:
        limits.CheckRateLimits(
            ratelimit_pb2.CheckRateLimitsRequest(
                checks=[ratelimit_pb2.RateLimitCheck(key="k", limit=1)]
            ),
            timeout=5,
        )
    assert error.value.details() == "checks[0].period: required"


def test_reset(limits):
    check = ratelimit_pb2.CheckRateLimitRequest(
        key="r", limit=1, period=duration_pb2.Duration(seconds=60)
    )
    assert limits.CheckRateLimit(check, timeout=5).allowed
    assert not limits.CheckRateLimit(check, timeout=5).allowed
    assert limits.ResetRateLimit(ratelimit_pb2.ResetRateLimitRequest(key="r"), timeout=5).reset
    assert limits.CheckRateLimit(check, timeout=5).allowed


# ---- Envoy ShouldRateLimit ----


def descriptor(*entries, hits_addend=None, limit=None):
    message = descriptor_pb2.RateLimitDescriptor(
        entries=[descriptor_pb2.RateLimitDescriptor.Entry(key=k, value=v) for k, v in entries]
    )
    if hits_addend is not None:
        message.hits_addend.CopyFrom(wrappers_pb2.UInt64Value(value=hits_addend))
    if limit is not None:
        message.limit.CopyFrom(limit)
    return message


@pytest.fixture
def envoy(tmp_path):
    stay_clear_of_hour_boundary()
    path = tmp_path / "limits.yaml"
    path.write_text(CONFIG)
    running = RunningServer(args=[f"--ratelimit_config={path}"])
    running.config_path = path
    running.rls = rls_pb2_grpc.RateLimitServiceStub(running.channel)
    yield running
    if not running.process.stdout.closed:  # a test may have stopped it to read the log
        running.stop()


def should(envoy, *descriptors, domain="edge", hits_addend=0):
    return envoy.rls.ShouldRateLimit(
        rls_pb2.RateLimitRequest(domain=domain, descriptors=descriptors, hits_addend=hits_addend),
        timeout=5,
    )


def test_should_rate_limit_like_envoy(envoy):
    ip = descriptor(("remote_address", "192.0.2.1"))
    login = descriptor(("path", "/login"))
    user = descriptor(("tier", "free"), ("user", "alice"))
    first = should(envoy, ip, login, user, descriptor(("generic", "x")), descriptor(("other", "y")))
    assert first.overall_code == rls_pb2.RateLimitResponse.OK
    assert [s.code for s in first.statuses] == [rls_pb2.RateLimitResponse.OK] * 5
    assert first.statuses[0].current_limit.requests_per_unit == 3
    assert first.statuses[0].current_limit.unit == rls_pb2.RateLimitResponse.RateLimit.HOUR
    assert first.statuses[0].limit_remaining == 2
    assert 0 < first.statuses[0].duration_until_reset.seconds <= 3600
    assert first.statuses[1].current_limit.name == "login"
    assert first.statuses[2].current_limit.unit == rls_pb2.RateLimitResponse.RateLimit.DAY
    assert first.statuses[2].limit_remaining == 99
    assert first.statuses[3].limit_remaining == 4294967295  # unlimited
    assert not first.statuses[4].HasField("current_limit")  # unmatched

    second = should(envoy, ip, login)
    assert second.overall_code == rls_pb2.RateLimitResponse.OVER_LIMIT
    assert second.statuses[0].code == rls_pb2.RateLimitResponse.OK
    assert second.statuses[1].code == rls_pb2.RateLimitResponse.OVER_LIMIT

    # hits_addend: the request's for all, a descriptor's own wins (0 = check only).
    assert should(envoy, ip, hits_addend=1).statuses[0].limit_remaining == 0
    check_only = should(envoy, descriptor(("remote_address", "192.0.2.1"), hits_addend=0))
    assert check_only.overall_code == rls_pb2.RateLimitResponse.OK
    unknown = should(envoy, ip, login, domain="nobody")
    assert unknown.overall_code == rls_pb2.RateLimitResponse.OK
    assert len(unknown.statuses) == 2


def test_sighup_reloads_keeping_counters_and_refuses_a_bad_file(envoy):
    ip = descriptor(("remote_address", "198.51.100.7"))
    assert should(envoy, ip).statuses[0].limit_remaining == 2
    envoy.config_path.write_text(CONFIG.replace("requests_per_unit: 3", "requests_per_unit: 10"))
    envoy.process.send_signal(signal.SIGHUP)
    peek = descriptor(("remote_address", "198.51.100.7"), hits_addend=0)
    deadline = time.monotonic() + 10
    while should(envoy, peek).statuses[0].current_limit.requests_per_unit != 10:
        assert time.monotonic() < deadline, "the reload did not happen"
        time.sleep(0.05)
    assert should(envoy, ip).statuses[0].limit_remaining == 8  # the first hit still counts

    envoy.config_path.write_text(CONFIG.replace("unit: hour", "unit: fortnight"))
    envoy.process.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert should(envoy, peek).statuses[0].current_limit.requests_per_unit == 10
    envoy.stop()
    log = "".join(envoy.log)
    assert "not reloaded, keeping the previous one" in log
    assert f"{envoy.config_path}:5:" in log


def test_bad_config_stops_start_up_naming_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("requests_per_unit: 3", "requests_per_unit: -3"))
    result = run_binary(
        [f"--ratelimit_config={path}", "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"]
    )
    assert result.returncode != 0
    assert f"{path}:6:" in result.stdout + result.stderr
