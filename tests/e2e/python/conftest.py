"""Fixtures for end-to-end tests: the built hourglass binary on a free loopback port."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.environ["HG_PY_GEN"])

import grpc  # noqa: E402

HOURGLASS_BIN = os.environ["HOURGLASS_BIN"]
PORT_LINE = re.compile(r"serving gRPC on port (\d+)")
METRICS_PORT_LINE = re.compile(r"serving metrics on port (\d+)")


class RunningServer:
    """A hourglass process; `address` is host:port, `channel` an open channel to it.

    `metrics_port` is the bound /metrics port (None when the endpoint is off); the binary logs
    it before the gRPC port line.
    """

    def __init__(self, args=(), env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.process = subprocess.Popen(
            [HOURGLASS_BIN, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self.log = []
        deadline = time.monotonic() + 30
        port = None
        self.metrics_port = None
        while port is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("hourglass did not start: " + "".join(self.log))
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("hourglass exited: " + "".join(self.log))
            self.log.append(line)
            metrics_match = METRICS_PORT_LINE.search(line)
            if metrics_match:
                self.metrics_port = int(metrics_match.group(1))
            match = PORT_LINE.search(line)
            if match:
                port = int(match.group(1))
        self.address = f"127.0.0.1:{port}"
        self.channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(self.channel).result(timeout=10)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and returns the exit code."""
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self.log.extend(self.process.stdout.readlines())
        self.process.stdout.close()
        return code


@pytest.fixture
def server():
    running = RunningServer()
    yield running
    running.stop()


def run_binary(args, env=None, timeout=30):
    """Runs hourglass to completion (for flag errors and --help); returns CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [HOURGLASS_BIN, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
