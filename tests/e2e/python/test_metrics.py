"""Prometheus metrics of the built binary (shared/API.md, "Metrics").

- a real scrape of /metrics, after calls to every service, passes `promtool check metrics` with
  no finding, carries go-grpc-prometheus's series and our own, and no key, id, token, subject or
  descriptor value;
- a real Prometheus server on loopback scrapes hourglass and answers a query for its series,
  and evaluates every expression of the Grafana dashboard;
- deploy/grafana/hourglass.json only references metrics the server exports;
- deploy/prometheus/alerts.yaml passes `promtool check rules` and `promtool test rules`
  (deploy/prometheus/alerts_test.yaml) with a firing case for every alert.
"""

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import duration_pb2

from conftest import RunningServer, run_binary
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2 as descriptor_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hourglass.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    cache_pb2,
    cache_pb2_grpc,
    common_pb2,
    kv_pb2,
    kv_pb2_grpc,
    ratelimit_pb2,
    ratelimit_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "deploy" / "grafana" / "hourglass.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
ALERTS_TEST = REPO / "deploy" / "prometheus" / "alerts_test.yaml"

GRPC_CODES = {
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
}
MAXMEMORY = 64 << 20

# What the calls below send that must never show up in /metrics.
SECRET_VALUES = [
    "metrics-key-1", "carol@example.com", "reset-password", "subject-dave", "198.51.100.7",
    "feed:metrics", "tag-metrics", "descriptor-user-erin",
]

ENVOY_CONFIG = """\
domain: edge
descriptors:
  - key: remote_address
    rate_limit: {unit: hour, requests_per_unit: 1}
  - key: user
    shadow_mode: true
    rate_limit: {unit: hour, requests_per_unit: 1}
"""


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} not found: install Debian's `prometheus` package (make deps)"
    return path


def seconds(n):
    return duration_pb2.Duration(seconds=n)


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """(name, labels dict, value) of every sample line."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"unparsable line: {line!r}"
        labels = dict(LABEL.findall(match.group(2) or ""))
        samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def value(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    found = [v for n, l, v in samples if n == name and labels.items() <= l.items()]
    assert found, f"no sample {name}{labels}"
    return sum(found)


def exported_names(text):
    """Every series name /metrics can produce (histograms: _bucket, _sum, _count)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind in ("histogram", "summary"):
                names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def exercise_every_service(server):
    """At least one call to every service (and a failure), unary and streaming."""
    channel = server.channel
    kv = kv_pb2_grpc.KeyValueServiceStub(channel)
    kv.Set(kv_pb2.SetRequest(key="metrics-key-1", value=b"v", ttl=seconds(60)), timeout=5)
    assert kv.Get(kv_pb2.GetRequest(key="metrics-key-1"), timeout=5).found
    assert not kv.Get(kv_pb2.GetRequest(key="metrics-key-2"), timeout=5).found
    with pytest.raises(grpc.RpcError) as error:
        kv.Get(kv_pb2.GetRequest(key=""), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    sessions = session_pb2_grpc.SessionServiceStub(channel)
    session = sessions.CreateSession(
        session_pb2.CreateSessionRequest(user_id="carol@example.com", idle_timeout=seconds(60)),
        timeout=5,
    ).session
    sessions.GetSession(session_pb2.GetSessionRequest(session_id=session.session_id), timeout=5)

    tokens = token_pb2_grpc.TokenServiceStub(channel)
    issued = tokens.IssueToken(
        token_pb2.IssueTokenRequest(purpose="reset-password", subject="subject-dave",
                                    ttl=seconds(60)),
        timeout=5,
    )
    consume = token_pb2.ConsumeTokenRequest(purpose="reset-password", token=issued.token)
    assert tokens.ConsumeToken(consume, timeout=5).valid
    assert not tokens.ConsumeToken(consume, timeout=5).valid

    limits = ratelimit_pb2_grpc.RateLimitServiceStub(channel)
    check = ratelimit_pb2.CheckRateLimitRequest(key="198.51.100.7", limit=1, period=seconds(60))
    assert limits.CheckRateLimit(check, timeout=5).allowed
    assert not limits.CheckRateLimit(check, timeout=5).allowed

    rls = rls_pb2_grpc.RateLimitServiceStub(channel)
    request = rls_pb2.RateLimitRequest(domain="edge", descriptors=[
        descriptor_pb2.RateLimitDescriptor(entries=[
            descriptor_pb2.RateLimitDescriptor.Entry(key="user", value="descriptor-user-erin")])])
    for _ in range(2):
        assert rls.ShouldRateLimit(request, timeout=5).overall_code == rls_pb2.RateLimitResponse.OK
    request.domain = "not-configured"
    rls.ShouldRateLimit(request, timeout=5)

    cache = cache_pb2_grpc.CacheServiceStub(channel)
    miss = cache.Lookup(cache_pb2.LookupRequest(key="feed:metrics"), timeout=5)
    assert miss.state == cache_pb2.CACHE_STATE_MISS
    cache.Fill(cache_pb2.FillRequest(key="feed:metrics", value=b"[]", fresh_for=seconds(60),
                                     tags=["tag-metrics"], lease_id=miss.lease_id), timeout=5)
    assert (cache.Lookup(cache_pb2.LookupRequest(key="feed:metrics"), timeout=5).state
            == cache_pb2.CACHE_STATE_FRESH)
    cache.Invalidate(cache_pb2.InvalidateRequest(tags=["tag-metrics"]), timeout=5)

    admin = admin_pb2_grpc.AdminServiceStub(channel)
    admin.GetStats(admin_pb2.GetStatsRequest(), timeout=5)
    # A server stream: one event, then the client cancels.
    stream = admin.WatchEvents(admin_pb2.WatchEventsRequest(spaces=[common_pb2.SPACE_KV]),
                               timeout=20)
    stream.initial_metadata()  # subscribed
    kv.Delete(kv_pb2.DeleteRequest(keys=["metrics-key-1"]), timeout=5)
    assert next(stream).event.kind == admin_pb2.EVENT_KIND_DELETED
    stream.cancel()

    health = health_pb2_grpc.HealthStub(channel)
    health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    # Reflection (bidi), without grpcio-reflection: ServerReflectionRequest{list_services: ""}.
    reflect = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
    replies = list(reflect(iter([b"\x3a\x00"]), timeout=5))
    assert b"hourglass.v1.KeyValueService" in replies[0]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """(text, parsed samples) of one scrape after exercise_every_service."""
    config = tmp_path_factory.mktemp("metrics") / "limits.yaml"
    config.write_text(ENVOY_CONFIG)
    running = RunningServer(args=[f"--ratelimit_config={config}", f"--maxmemory={MAXMEMORY}"])
    try:
        assert running.metrics_port, "no 'serving metrics on port N' line: " + "".join(running.log)
        exercise_every_service(running)
        # The cancelled stream ends on the server shortly after the client gives up on it.
        deadline = time.monotonic() + 10
        while True:
            text = scrape(running.metrics_port)
            samples = parse(text)
            in_flight = value(samples, "grpc_server_started_total", grpc_method="WatchEvents") - \
                value(samples, "grpc_server_handled_total", grpc_method="WatchEvents")
            if in_flight == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        assert running.stop() == 0
    return text, samples


# ---- the scrape ----


def test_scrape_passes_promtool_check_metrics(scraped):
    text, _ = scraped
    result = subprocess.run([tool("promtool"), "check", "metrics"], input=text,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr)


def test_grpc_series_follow_go_grpc_prometheus(scraped):
    _, samples = scraped
    kv = dict(grpc_service="hourglass.v1.KeyValueService", grpc_type="unary")
    assert value(samples, "grpc_server_started_total", grpc_method="Set", **kv) == 1
    assert value(samples, "grpc_server_msg_received_total", grpc_method="Set", **kv) == 1
    assert value(samples, "grpc_server_msg_sent_total", grpc_method="Set", **kv) == 1
    assert value(samples, "grpc_server_handled_total", grpc_method="Set", grpc_code="OK", **kv) == 1
    assert value(samples, "grpc_server_handled_total", grpc_method="Get", grpc_code="OK", **kv) == 2
    assert value(samples, "grpc_server_handled_total", grpc_method="Get",
                 grpc_code="InvalidArgument", **kv) == 1
    assert value(samples, "grpc_server_msg_sent_total", grpc_method="Get", **kv) == 2
    assert value(samples, "grpc_server_handling_seconds_count", grpc_method="Get", **kv) == 3
    assert value(samples, "grpc_server_handling_seconds_bucket", grpc_method="Get", le="+Inf",
                 **kv) == 3
    buckets = sorted(float(l["le"]) for n, l, _ in samples
                     if n == "grpc_server_handling_seconds_bucket" and l["grpc_method"] == "Get")
    assert buckets[0] == 0.00005 and buckets[-2] == 1.0

    watch = dict(grpc_service="hourglass.v1.AdminService", grpc_method="WatchEvents",
                 grpc_type="server_stream")
    assert value(samples, "grpc_server_started_total", **watch) == 1
    assert value(samples, "grpc_server_msg_received_total", **watch) == 1
    assert value(samples, "grpc_server_msg_sent_total", **watch) == 1
    assert value(samples, "grpc_server_handled_total", grpc_code="Canceled", **watch) == 1
    assert value(samples, "grpc_server_started_total", grpc_service="grpc.health.v1.Health",
                 grpc_method="Check", grpc_type="unary") == 1
    assert value(samples, "grpc_server_started_total", grpc_method="ServerReflectionInfo",
                 grpc_type="bidi_stream") == 1
    assert value(samples, "grpc_server_handled_total", grpc_method="ShouldRateLimit",
                 grpc_service="envoy.service.ratelimit.v3.RateLimitService", grpc_code="OK") == 3

    for name, labels, _ in samples:
        if name.startswith("grpc_server_"):
            assert labels["grpc_type"] in {"unary", "client_stream", "server_stream",
                                           "bidi_stream"}
        if name == "grpc_server_handled_total":
            assert labels["grpc_code"] in GRPC_CODES
    # Every method has every code from the start, as go-grpc-prometheus's InitializeMetrics.
    codes = {l["grpc_code"] for n, l, _ in samples
             if n == "grpc_server_handled_total" and l["grpc_method"] == "Fill"}
    assert codes == GRPC_CODES


def test_store_and_domain_series(scraped):
    _, samples = scraped
    assert value(samples, "hourglass_memory_max_bytes") == MAXMEMORY
    assert 0 < value(samples, "hourglass_memory_used_bytes") < MAXMEMORY
    assert value(samples, "hourglass_process_resident_memory_bytes") > 1 << 20
    assert value(samples, "hourglass_keys", space="session") == 1
    assert value(samples, "hourglass_keys_with_expiry", space="session") == 1
    assert value(samples, "hourglass_sessions_active") == 1
    assert value(samples, "hourglass_keyspace_hits_total") >= 1
    assert value(samples, "hourglass_keyspace_misses_total") >= 1
    for name in ("hourglass_expired_keys_total", "hourglass_evicted_keys_total",
                 "hourglass_rejected_writes_total", "hourglass_expiry_lateness_seconds_count"):
        assert value(samples, name) >= 0
    assert value(samples, "hourglass_sessions_created_total") == 1
    assert value(samples, "hourglass_tokens_issued_total", format="opaque") == 1
    assert value(samples, "hourglass_tokens_consumed_total") == 1
    assert value(samples, "hourglass_tokens_rejected_total", operation="consume",
                 reason="used_up") == 1
    assert value(samples, "hourglass_rate_limit_decisions_total", algorithm="fixed_window",
                 result="allowed") == 1
    assert value(samples, "hourglass_rate_limit_decisions_total", algorithm="fixed_window",
                 result="denied") == 1
    assert value(samples, "hourglass_envoy_rls_requests_total", domain="edge", code="OK") == 2
    assert value(samples, "hourglass_envoy_rls_shadow_over_limit_total", domain="edge") == 1
    assert value(samples, "hourglass_envoy_rls_requests_total", domain="(other)") == 1
    assert value(samples, "hourglass_cache_lookups_total", state="miss") == 1
    assert value(samples, "hourglass_cache_lookups_total", state="fresh") == 1
    assert value(samples, "hourglass_cache_fills_total", result="applied") == 1


def test_no_label_carries_client_data(scraped):
    text, samples = scraped
    for secret in SECRET_VALUES + ["not-configured"]:
        assert secret not in text, secret
    label_names = set()
    for name, labels, _ in samples:
        assert name.startswith(("grpc_server_", "hourglass_", "exposer_")), name
        label_names.update(labels)
    assert label_names <= {
        "grpc_type", "grpc_service", "grpc_method", "grpc_code", "le", "quantile", "space",
        "format", "operation", "reason", "algorithm", "result", "state", "domain", "code",
    }, label_names


def test_metrics_address_in_use_stops_start_up():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_binary(["--listen=127.0.0.1:0", f"--metrics_listen=127.0.0.1:{port}"])
    assert result.returncode == 1
    assert f"--metrics_listen: cannot listen on 127.0.0.1:{port}" in result.stdout + result.stderr


def test_empty_metrics_listen_turns_the_endpoint_off():
    running = RunningServer(args=["--metrics_listen="])
    try:
        assert running.metrics_port is None
        assert "metrics endpoint off" in "".join(running.log)
    finally:
        assert running.stop() == 0


# ---- a real Prometheus server ----


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus_query(port, query):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # 400 for a bad expression: the body says why
        return json.loads(error.read())


def dashboard_exprs():
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_prometheus_scrapes_hourglass_and_evaluates_the_dashboard(tmp_path):
    prometheus = tool("prometheus")
    hourglass = RunningServer(args=[f"--maxmemory={MAXMEMORY}"])
    web_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: hourglass\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{hourglass.metrics_port}']}}]\n"
    )
    log = open(tmp_path / "prometheus.log", "w")
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web_port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        kv_pb2_grpc.KeyValueServiceStub(hourglass.channel).Set(
            kv_pb2.SetRequest(key="k", value=b"v"), timeout=5)
        query = 'hourglass_memory_max_bytes{job="hourglass"}'
        deadline = time.monotonic() + 60
        result = []
        while not result:
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "Prometheus never returned " + query
            try:
                result = prometheus_query(web_port, query)["data"]["result"]
            except (OSError, KeyError, ValueError):
                result = []  # not listening yet
            if not result:
                time.sleep(0.2)
        assert float(result[0]["value"][1]) == MAXMEMORY
        assert result[0]["metric"]["instance"] == f"127.0.0.1:{hourglass.metrics_port}"
        handled = prometheus_query(
            web_port, 'grpc_server_handled_total{grpc_method="Set",grpc_code="OK"}')
        assert float(handled["data"]["result"][0]["value"][1]) == 1

        # Every dashboard expression parses and evaluates (Grafana's variables filled in).
        for expr in dashboard_exprs():
            concrete = (expr.replace("$__rate_interval", "1m").replace("$job", ".*")
                        .replace("$instance", ".*"))
            answer = prometheus_query(web_port, concrete)
            assert answer["status"] == "success", (expr, answer)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        hourglass.stop()


# ---- Grafana dashboard ----

METRIC_NAME = re.compile(r"\b((?:hourglass|grpc_server)_[a-zA-Z0-9_]+)\b")


def test_dashboard_is_provisioning_ready_and_uses_exported_metrics(scraped):
    text, _ = scraped
    exported = exported_names(text)
    dashboard = json.loads(DASHBOARD.read_text())
    assert "__inputs" not in dashboard  # no import-time prompt: file provisioning works
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("requests per second", "error ratio", "p99", "memory used vs max",
                  "keys by space", "evictions", "rate-limit", "fresh / stale / miss", "token"):
        assert topic in titles, topic
    used = set()
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            names = METRIC_NAME.findall(target["expr"])
            assert names, target["expr"]
            for name in names:
                assert name in exported, f"{panel['title']}: {name} is not exported"
            used.update(names)
    assert {"grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
            "hourglass_memory_used_bytes", "hourglass_memory_max_bytes", "hourglass_keys",
            "hourglass_expired_keys_total", "hourglass_evicted_keys_total",
            "hourglass_rate_limit_decisions_total", "hourglass_cache_lookups_total",
            "hourglass_tokens_rejected_total"} <= used


# ---- alert rules ----


def test_alert_rules_pass_promtool_check_and_unit_tests(tmp_path, scraped):
    text, _ = scraped
    rule = yaml.safe_load(ALERTS.read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    groups = rule["spec"]["groups"]
    (tmp_path / "alerts.rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yaml")

    promtool = tool("promtool")
    check = subprocess.run([promtool, "check", "rules", "alerts.rules.yaml"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run([promtool, "test", "rules", "alerts_test.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert unit.returncode == 0, unit.stdout + unit.stderr

    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert {"HourglassTargetDown", "HourglassMemoryNearCap", "HourglassEvictionStorm",
            "HourglassHighErrorRatio", "HourglassHighLatencyP99"} <= alerts.keys()
    firing = set()
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for test in case.get("alert_rule_test", []):
            if test.get("exp_alerts"):
                firing.add(test["alertname"])
    assert firing == alerts.keys(), "every alert needs a firing case in alerts_test.yaml"
    exported = exported_names(text) | {"up"}
    for name, alert in alerts.items():
        for metric in METRIC_NAME.findall(alert["expr"]):
            assert metric in exported, f"{name}: {metric} is not exported"


# ---- logs ----


def test_request_log_is_debug_only_and_never_carries_client_data():
    for level, lines_per_call in (("debug", 1), ("info", 0)):
        running = RunningServer(args=[f"--log_level={level}"])
        kv = kv_pb2_grpc.KeyValueServiceStub(running.channel)
        kv.Set(kv_pb2.SetRequest(key="metrics-key-1", value=b"value-secret"), timeout=5)
        with pytest.raises(grpc.RpcError):
            kv.Get(kv_pb2.GetRequest(key="metrics-key-1", ttl=seconds(-1)), timeout=5)
        assert running.stop() == 0
        log = "".join(running.log)
        set_lines = [l for l in log.splitlines() if "rpc /hourglass.v1.KeyValueService/Set OK" in l]
        get_lines = [l for l in log.splitlines()
                     if "rpc /hourglass.v1.KeyValueService/Get InvalidArgument" in l]
        assert (len(set_lines), len(get_lines)) == (lines_per_call, lines_per_call), log
        assert "metrics-key-1" not in log and "value-secret" not in log
