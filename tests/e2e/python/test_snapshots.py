"""Snapshots against the built binary: restarts, crashes and damaged files.

A graceful restart (SIGTERM) under write load loses no acknowledged write and keeps TTLs; it
keeps sessions, keeps deleted sessions deleted and used tokens used. After `kill -9`, the
restart restores KV only (sessions, tokens, rate limits and the cache come back only from the
snapshot written at a graceful shutdown). `kill -9` at random points of snapshot writes, 20
times: the old or the new snapshot loads, never a part of one, and no temporary file survives
the next start. Truncated, corrupted and foreign files refuse the start naming the file, or are
set aside with --snapshot_on_corrupt=empty; never a crash.
"""

import glob
import os
import random
import signal
import threading
import time
import urllib.request

import grpc
import pytest
from google.protobuf import duration_pb2

from conftest import RunningServer, run_binary
from hourglass.v1 import (
    admin_pb2,
    admin_pb2_grpc,
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


def millis(n):
    return duration_pb2.Duration(seconds=n // 1000, nanos=(n % 1000) * 1_000_000)


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture
def snapshot_path(tmp_path):
    return str(tmp_path / "snapshot.bin")


def start(path, *extra, env=None):
    return RunningServer([f"--snapshot_path={path}", *extra], env=env)


def kv(server):
    return kv_pb2_grpc.KeyValueServiceStub(server.channel)


def batch_set(stub, items, ttl_ms=0):
    """Sets (key, value) pairs in batches of 500; every op must apply."""
    items = list(items)
    for i in range(0, len(items), 500):
        ops = []
        for key, value in items[i : i + 500]:
            request = kv_pb2.SetRequest(key=key, value=value)
            if ttl_ms:
                request.ttl.CopyFrom(millis(ttl_ms))
            ops.append(kv_pb2.BatchOp(set=request))
        response = stub.Batch(kv_pb2.BatchRequest(ops=ops), timeout=30)
        assert all(r.set.applied for r in response.results)


def batch_get(stub, keys):
    """{key: GetResponse} for `keys`, in batches of 500."""
    out = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        ops = [kv_pb2.BatchOp(get=kv_pb2.GetRequest(key=k)) for k in chunk]
        response = stub.Batch(kv_pb2.BatchRequest(ops=ops), timeout=30)
        for key, result in zip(chunk, response.results):
            out[key] = result.get
    return out


def kv_keys(server):
    stats = admin_pb2_grpc.AdminServiceStub(server.channel).GetStats(admin_pb2.GetStatsRequest())
    return {s.space: s.keys for s in stats.spaces}


def tmp_files(path):
    return glob.glob(path + ".tmp.*")


def test_graceful_restart_under_write_load_loses_no_acknowledged_write(snapshot_path):
    server = start(snapshot_path)
    acked = {}  # key -> (value, expected expire wall ms or None)
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n):
        stub = kv_pb2_grpc.KeyValueServiceStub(grpc.insecure_channel(server.address))
        i = 0
        while not stop.is_set():
            key = f"w{n}-{i}"
            value = f"value {n} {i}".encode()
            ttl = 60_000 + 1000 * (i % 30) if i % 3 else 0
            request = kv_pb2.SetRequest(key=key, value=value)
            if ttl:
                request.ttl.CopyFrom(millis(ttl))
            sent = now_ms()
            try:
                stub.Set(request, timeout=5)
            except grpc.RpcError:
                return  # the server is draining: this write was not acknowledged
            with lock:
                acked[key] = (value, sent + ttl if ttl else None)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # SIGTERM while the writers keep writing: what was acknowledged must survive.
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    stop.set()
    for t in threads:
        t.join(timeout=30)
    log = "".join(server.log) + server.process.stdout.read()
    server.process.stdout.close()
    assert "clean, at shutdown" in log, log
    assert len(acked) > 100, f"only {len(acked)} writes acknowledged"
    assert not tmp_files(snapshot_path)

    restarted = start(snapshot_path)
    try:
        got = batch_get(kv(restarted), sorted(acked))
        checked_at = now_ms()
        lost = [k for k in acked if not got[k].found]
        assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
        for key, (value, expire_ms) in acked.items():
            assert got[key].value == value, key
            if expire_ms is None:
                assert not got[key].HasField("expire_time"), key
            else:
                actual = got[key].expire_time.ToMilliseconds()
                assert abs(actual - expire_ms) <= 2000, (key, actual - expire_ms)
                assert actual > checked_at
    finally:
        restarted.stop()


def test_a_restart_keeps_sessions_deleted_sessions_deleted_and_used_tokens_used(snapshot_path):
    server = start(snapshot_path)
    sessions = session_pb2_grpc.SessionServiceStub(server.channel)
    tokens = token_pb2_grpc.TokenServiceStub(server.channel)

    def create(user):
        return sessions.CreateSession(
            session_pb2.CreateSessionRequest(user_id=user, idle_timeout=millis(600_000))
        ).session.session_id

    kept, deleted, rotated = create("u1"), create("u1"), create("u1")
    sessions.DeleteSession(session_pb2.DeleteSessionRequest(session_id=deleted))
    rotated_to = sessions.RotateSession(
        session_pb2.RotateSessionRequest(session_id=rotated)
    ).session.session_id
    used = tokens.IssueToken(
        token_pb2.IssueTokenRequest(purpose="verify", subject="u1", ttl=millis(600_000))
    ).token
    assert tokens.ConsumeToken(token_pb2.ConsumeTokenRequest(purpose="verify", token=used)).valid
    live = tokens.IssueToken(
        token_pb2.IssueTokenRequest(purpose="reset", subject="u1", ttl=millis(600_000))
    ).token
    assert server.stop() == 0

    server = start(snapshot_path)
    try:
        sessions = session_pb2_grpc.SessionServiceStub(server.channel)
        tokens = token_pb2_grpc.TokenServiceStub(server.channel)

        def found(session_id):
            return sessions.GetSession(session_pb2.GetSessionRequest(session_id=session_id)).found

        assert found(kept) and found(rotated_to)
        assert not found(deleted) and not found(rotated)
        listed = sessions.ListUserSessions(session_pb2.ListUserSessionsRequest(user_id="u1"))
        assert sorted(s.session_id for s in listed.sessions) == sorted([kept, rotated_to])
        again = tokens.VerifyToken(token_pb2.VerifyTokenRequest(purpose="verify", token=used))
        assert again.reason == token_pb2.TOKEN_REASON_USED_UP
        assert tokens.ConsumeToken(token_pb2.ConsumeTokenRequest(purpose="reset", token=live)).valid
    finally:
        server.stop()


def test_after_kill_9_only_kv_comes_back(snapshot_path):
    server = start(snapshot_path)
    sessions = session_pb2_grpc.SessionServiceStub(server.channel)
    tokens = token_pb2_grpc.TokenServiceStub(server.channel)
    limits = ratelimit_pb2_grpc.RateLimitServiceStub(server.channel)
    admin = admin_pb2_grpc.AdminServiceStub(server.channel)
    stub = kv(server)
    stub.Set(kv_pb2.SetRequest(key="before", value=b"saved"))
    session = sessions.CreateSession(
        session_pb2.CreateSessionRequest(user_id="u", idle_timeout=millis(600_000))
    ).session.session_id
    token = tokens.IssueToken(
        token_pb2.IssueTokenRequest(purpose="p", subject="u", ttl=millis(600_000))
    ).token
    check = ratelimit_pb2.CheckRateLimitRequest(key="login", limit=1, period=millis(600_000))
    assert limits.CheckRateLimit(check).allowed
    saved = admin.SaveSnapshot(admin_pb2.SaveSnapshotRequest())
    assert saved.path == snapshot_path and saved.keys >= 5 and saved.bytes > 0
    # After the snapshot: the session is deleted and the token used. A crash must not undo it.
    sessions.DeleteSession(session_pb2.DeleteSessionRequest(session_id=session))
    assert tokens.ConsumeToken(token_pb2.ConsumeTokenRequest(purpose="p", token=token)).valid
    stub.Set(kv_pb2.SetRequest(key="after", value=b"lost"))
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL

    server = start(snapshot_path)
    try:
        log = "".join(server.log)
        assert "KV only" in log, log
        stub = kv(server)
        assert stub.Get(kv_pb2.GetRequest(key="before")).value == b"saved"
        assert not stub.Get(kv_pb2.GetRequest(key="after")).found
        sessions = session_pb2_grpc.SessionServiceStub(server.channel)
        tokens = token_pb2_grpc.TokenServiceStub(server.channel)
        limits = ratelimit_pb2_grpc.RateLimitServiceStub(server.channel)
        assert not sessions.GetSession(session_pb2.GetSessionRequest(session_id=session)).found
        verified = tokens.VerifyToken(token_pb2.VerifyTokenRequest(purpose="p", token=token))
        assert verified.reason == token_pb2.TOKEN_REASON_NOT_FOUND
        assert limits.CheckRateLimit(check).allowed  # no stale count came back
        keys = kv_keys(server)
        assert keys[common_pb2.SPACE_SESSION] == 0 and keys[common_pb2.SPACE_TOKEN] == 0
    finally:
        server.stop()


def test_kill_9_during_snapshot_writes_never_loads_a_partial_file(snapshot_path):
    """20 rounds: set gen = i, SaveSnapshot, kill -9 while it writes, restart."""
    keys = 20_000
    server = start(snapshot_path)
    batch_set(kv(server), ((f"k{i:06d}", os.urandom(700)) for i in range(keys)))
    kv(server).Set(kv_pb2.SetRequest(key="gen", value=b"0"))
    admin_pb2_grpc.AdminServiceStub(server.channel).SaveSnapshot(admin_pb2.SaveSnapshotRequest())
    started = time.monotonic()
    saved = admin_pb2_grpc.AdminServiceStub(server.channel).SaveSnapshot(
        admin_pb2.SaveSnapshotRequest()
    )
    write_s = max(time.monotonic() - started, 0.01)
    assert saved.keys == keys + 1
    rng = random.Random(12)
    previous_gen = 0
    mid_write = 0
    deadline = time.monotonic() + 55
    try:
        for i in range(1, 21):
            assert time.monotonic() < deadline, f"round {i}: the kill loop overran its budget"
            kv(server).Set(kv_pb2.SetRequest(key="gen", value=str(i).encode()))
            admin = admin_pb2_grpc.AdminServiceStub(server.channel)
            future = admin.SaveSnapshot.future(admin_pb2.SaveSnapshotRequest(), timeout=30)
            # Wait for the write to begin (its temporary file), then kill at a random point of
            # it (or, for the larger delays, just after it).
            for _ in range(2000):
                if tmp_files(snapshot_path) or future.done():
                    break
                time.sleep(0.001)
            time.sleep(rng.uniform(0, write_s * 1.2))
            if tmp_files(snapshot_path):
                mid_write += 1
            server.process.kill()
            server.stop()
            try:
                future.result(timeout=10)
            except grpc.RpcError:
                pass

            server = start(snapshot_path)
            assert not tmp_files(snapshot_path), f"round {i}: temporary files left"
            assert not glob.glob(snapshot_path + ".clean"), "a killed server left a marker"
            gen = int(kv(server).Get(kv_pb2.GetRequest(key="gen")).value)
            assert gen in (previous_gen, i), f"round {i}: loaded gen {gen}"
            assert kv_keys(server)[common_pb2.SPACE_KV] == keys + 1, f"round {i}: partial load"
            previous_gen = gen
        got = batch_get(kv(server), [f"k{i:06d}" for i in range(0, keys, 97)])
        assert all(r.found and len(r.value) == 700 for r in got.values())
    finally:
        server.stop()
    print(f"kill loop: {mid_write}/20 kills during a write (a write takes ~{write_s:.3f} s)")
    # Most kills must have hit a write in progress, or this test tested nothing.
    assert mid_write >= 5, f"only {mid_write} of 20 kills landed during a write"


def write_valid_snapshot(path):
    server = start(path)
    batch_set(kv(server), ((f"key{i}", b"v" * 100) for i in range(200)))
    assert server.stop() == 0
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "foreign", "empty"])
def test_damaged_snapshot_refuses_the_start_naming_the_file(snapshot_path, damage):
    data = write_valid_snapshot(snapshot_path)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "corrupted":
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :]
    elif damage == "foreign":
        data = b"PK\x03\x04 this is a zip file, not a snapshot" * 10
    else:
        data = b""
    with open(snapshot_path, "wb") as f:
        f.write(data)

    result = run_binary(
        ["--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", f"--snapshot_path={snapshot_path}"]
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # an orderly refusal, not a signal
    assert snapshot_path in output and "cannot start" in output, output
    assert "--snapshot_on_corrupt=empty" in output
    with open(snapshot_path, "rb") as f:
        assert f.read() == data, "a refused file is left untouched"

    server = start(snapshot_path, "--snapshot_on_corrupt=empty")
    try:
        log = "".join(server.log)
        assert "moved to " + snapshot_path + ".corrupt" in log, log
        assert kv_keys(server)[common_pb2.SPACE_KV] == 0
        with open(snapshot_path + ".corrupt", "rb") as f:
            assert f.read() == data
    finally:
        assert server.stop() == 0
    # The empty server's own shutdown snapshot is valid again.
    assert start(snapshot_path).stop() == 0


def test_snapshot_flags_and_environment(snapshot_path):
    help_run = run_binary(["--help"])
    text = help_run.stdout + help_run.stderr
    for flag in ["snapshot_path", "snapshot_interval", "snapshot_on_corrupt"]:
        assert f"--{flag}" in text, flag
    result = run_binary(["--snapshot_on_corrupt=maybe"])
    assert result.returncode == 2 and "refuse or empty" in result.stderr
    result = run_binary(["--snapshot_interval=5s"])
    assert result.returncode == 2 and "needs --snapshot_path" in result.stderr

    env = {"HOURGLASS_SNAPSHOT_PATH": snapshot_path, "HOURGLASS_SNAPSHOT_INTERVAL": "100ms"}
    server = RunningServer(env=env)
    try:
        kv(server).Set(kv_pb2.SetRequest(key="from-env", value=b"yes"))
        # Periodic snapshots show up in /metrics (bounded wait).
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10
            ) as response:
                text = response.read().decode()
            writes = [
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith("hourglass_snapshot_writes_total ")
            ]
            if writes and writes[0] >= 2:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        assert "hourglass_snapshot_failures_total 0" in text
        stamp = [
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("hourglass_snapshot_last_success_timestamp_seconds ")
        ]
        assert stamp and abs(stamp[0] - time.time()) < 60
    finally:
        assert server.stop() == 0
    server = RunningServer(env=env)
    try:
        assert kv(server).Get(kv_pb2.GetRequest(key="from-env")).value == b"yes"
    finally:
        server.stop()


def test_a_second_server_on_the_same_path_refuses_to_start(snapshot_path):
    server = start(snapshot_path)
    try:
        result = run_binary(
            [
                "--listen=127.0.0.1:0",
                "--metrics_listen=127.0.0.1:0",
                f"--snapshot_path={snapshot_path}",
            ]
        )
        assert result.returncode == 1
        assert "in use by another process" in result.stdout + result.stderr
    finally:
        server.stop()
