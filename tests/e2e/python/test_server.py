"""The server binary from Python: health, flags, environment, signals."""

import signal

from grpc_health.v1 import health_pb2, health_pb2_grpc
from hourglass.v1 import admin_pb2, admin_pb2_grpc

from conftest import RunningServer, run_binary

SERVICES = [
    "hourglass.v1.KeyValueService",
    "hourglass.v1.SessionService",
    "hourglass.v1.TokenService",
    "hourglass.v1.RateLimitService",
    "envoy.service.ratelimit.v3.RateLimitService",
    "hourglass.v1.CacheService",
    "hourglass.v1.AdminService",
]


def health(channel, service=""):
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_health_serving_overall_and_per_service(server):
    assert health(server.channel) == health_pb2.HealthCheckResponse.SERVING
    for name in SERVICES:
        assert health(server.channel, name) == health_pb2.HealthCheckResponse.SERVING, name


def test_sigterm_drains_and_exits_zero():
    running = RunningServer()
    assert running.stop(signal.SIGTERM) == 0
    assert any("draining" in line for line in running.log)


def test_sigint_exits_zero():
    running = RunningServer()
    assert running.stop(signal.SIGINT) == 0


def test_help_lists_every_flag():
    result = run_binary(["--help"])
    text = result.stdout + result.stderr
    for flag in [
        "listen", "metrics_listen", "maxmemory", "eviction_policy", "shards", "max_key_bytes",
        "max_value_bytes", "max_ttl", "max_batch_items", "shutdown_grace", "handshake_timeout",
        "ratelimit_config", "log_level", "log_format",
    ]:
        assert f"--{flag}" in text, flag
    assert "HOURGLASS_" in text


def test_bad_flag_value_names_flag_and_form():
    result = run_binary(["--maxmemory=lots"])
    assert result.returncode != 0
    assert "maxmemory" in result.stderr and "256mb" in result.stderr


def test_bad_policy_names_accepted_values():
    result = run_binary(["--eviction_policy=lru"])
    assert result.returncode != 0
    assert "eviction_policy" in result.stderr and "allkeys-lru" in result.stderr
    assert "allkeys-tinylfu" in result.stderr


def test_tinylfu_policy_in_both_spellings():
    for spelling in ["allkeys-tinylfu", "ALLKEYS_TINYLFU"]:
        running = RunningServer(args=[f"--eviction_policy={spelling}"])
        try:
            assert "policy allkeys-tinylfu" in "".join(running.log), spelling
            admin = admin_pb2_grpc.AdminServiceStub(running.channel)
            config = admin.GetConfig(admin_pb2.GetConfigRequest(), timeout=5)
            assert config.eviction_policy == admin_pb2.EVICTION_POLICY_ALLKEYS_TINYLFU, spelling
        finally:
            assert running.stop() == 0


def test_shards_must_be_power_of_two():
    result = run_binary(["--shards=3"])
    assert result.returncode != 0
    assert "--shards" in result.stderr and "power of two" in result.stderr


def test_environment_sets_flags_and_command_line_wins():
    result = run_binary([], env={"HOURGLASS_SHARDS": "3"})
    assert result.returncode != 0 and "--shards" in result.stderr
    # The command line wins over the environment: a valid --shards overrides the bad variable.
    running = RunningServer(args=["--shards=8"], env={"HOURGLASS_SHARDS": "3"})
    try:
        assert "8 shards" in "".join(running.log)
    finally:
        assert running.stop() == 0


def test_sizes_and_percent_memory():
    running = RunningServer(
        args=["--maxmemory=50%", "--eviction_policy=ALLKEYS_LRU", "--max_value_bytes=64kb"]
    )
    try:
        assert "policy allkeys-lru" in "".join(running.log)
        assert health(running.channel) == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop()


def test_max_ttl_beyond_what_the_store_holds_names_the_flag():
    result = run_binary(["--max_ttl=200000h"])
    assert result.returncode != 0
    assert "--max_ttl" in result.stderr and "152709h" in result.stderr
