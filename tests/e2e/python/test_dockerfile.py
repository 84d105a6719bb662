"""The container image (Dockerfile, .dockerignore), checked without a container engine.

No Docker or Podman daemon runs on the machines this suite targets, so the image is not built
here. Instead:
- the runtime stage installs exactly the Debian packages that ship the shared libraries the
  built binary needs: `ldd $HOURGLASS_BIN`, each library mapped to its package with `dpkg -S`
  (the image is Debian 12 like the build machine, so the names are the same); nothing -dev;
- the build stage installs only packages of the Makefile's APT_PACKAGES and builds the
  `hourglass` target; the image runs as a numeric non-root user, listens on 0.0.0.0 through
  HOURGLASS_LISTEN / HOURGLASS_METRICS_LISTEN, exposes both ports, stops with SIGTERM;
- README gives the Dockerfile's build command.
With HG_DOCKER_TEST=1 and a reachable daemon, the image is also built and its health checked.
"""

import os
import re
import shlex
import subprocess

import grpc
import pytest

from conftest import HOURGLASS_BIN
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def instructions(text):
    """The Dockerfile as (INSTRUCTION, arguments) pairs: continuations joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    assert not current, "Dockerfile ends inside a continuation"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def stages():
    """Instructions grouped by stage: [(FROM arguments, [(INSTRUCTION, arguments), ...])]."""
    result = []
    for op, args in instructions(read("Dockerfile")):
        if op == "FROM":
            result.append((args, []))
        else:
            assert result, f"{op} before FROM"
            result[-1][1].append((op, args))
    return result


def apt_installed(stage):
    """Packages named by `apt-get install` in a stage's RUN instructions."""
    packages = []
    for op, args in stage:
        if op != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                tail = words[words.index("install") + 1 :]
                packages += [w for w in tail if not w.startswith("-")]
    return packages


def makefile_apt_packages():
    match = re.search(r"^APT_PACKAGES\s*:=\s*((?:.*\\\n)*.*)$", read("Makefile"), re.M)
    return match.group(1).replace("\\\n", " ").split()


def dpkg_packages(paths):
    """{library path: the Debian package shipping it}, from one `dpkg -S` call.

    ldd may name /lib/... or /usr/lib/... (usrmerge) and symlinks: every spelling is asked.
    """
    spellings = {}
    for path in paths:
        variants = set()
        for p in (path, os.path.realpath(path)):
            variants.add(p)
            variants.add("/usr" + p if p.startswith("/lib") else p.removeprefix("/usr"))
        spellings[path] = variants
    queries = sorted(set().union(*spellings.values()))
    out = subprocess.run(["dpkg", "-S", *queries], capture_output=True, text=True).stdout
    owner = {}
    for line in out.splitlines():
        # "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" ("diversion by" lines skipped).
        match = re.match(r"^([^\s:,]+)(?::[a-z0-9]+)?: (/\S+)$", line)
        if match:
            owner[match.group(2)] = match.group(1)
    result = {}
    for path, variants in spellings.items():
        found = {owner[v] for v in variants if v in owner}
        assert len(found) == 1, f"{path}: shipped by {found or 'no Debian package'}"
        result[path] = found.pop()
    return result


def needed_libraries():
    out = subprocess.run(["ldd", HOURGLASS_BIN], capture_output=True, text=True, check=True).stdout
    libraries = {}
    for line in out.splitlines():
        line = line.strip()
        assert "not found" not in line, line
        if "=>" in line:
            name, path = line.split("=>")[0].strip(), line.split("=>")[1].split("(")[0].strip()
        elif line.startswith("/"):
            name = path = line.split("(")[0].strip()  # the dynamic loader
        else:
            continue  # linux-vdso: provided by the kernel
        libraries[name] = path
    return libraries


def sanitized():
    return any(re.match(r"lib(a|ub|t|l)san\.so", name) for name in needed_libraries())


def test_two_stages_build_on_bookworm_and_run_on_slim():
    (build_from, build), (run_from, run) = stages()
    assert build_from.split()[0] == "debian:bookworm" and build_from.split()[-1] == "build"
    assert run_from == "debian:bookworm-slim"
    runs = " ".join(args for op, args in build if op == "RUN")
    assert "--target hourglass" in runs
    assert re.search(r"-DCMAKE_BUILD_TYPE=(RelWithDebInfo|Release)\b", runs)
    copies = [args for op, args in run if op == "COPY"]
    assert copies == ["--from=build /hourglass /usr/local/bin/hourglass"]


def test_build_stage_uses_packages_the_makefile_installs():
    (_, build), _ = stages()
    packages = apt_installed(build)
    assert packages, "the build stage installs nothing"
    assert set(packages) <= set(makefile_apt_packages())
    assert len(packages) == len(set(packages))


def test_runtime_packages_are_exactly_the_libraries_the_binary_needs():
    if sanitized():
        pytest.skip("sanitizer build: its runtime libraries are not the image's")
    _, (_, run) = stages()
    listed = apt_installed(run)
    assert len(listed) == len(set(listed)), "a package is listed twice"
    assert not [p for p in listed if p.endswith("-dev") or p.endswith("-dbg")]
    libraries = needed_libraries()
    packages = dpkg_packages(libraries.values())
    needed = {}
    for name, path in libraries.items():
        needed.setdefault(packages[path], []).append(name)
    missing = {p: libs for p, libs in needed.items() if p not in listed}
    assert not missing, f"add to the Dockerfile's runtime apt-get install: {missing}"
    unneeded = sorted(set(listed) - set(needed))
    assert not unneeded, f"not needed by `ldd hourglass`, remove from the Dockerfile: {unneeded}"


def test_runtime_is_unprivileged_and_listens_on_all_interfaces():
    _, (_, run) = stages()
    ops = {}
    for op, args in run:
        ops.setdefault(op, []).append(args)
    user = ops["USER"][-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid"
    assert not gid or (gid.isdigit() and int(gid) > 0)
    assert re.search(rf"useradd .*--uid {uid}\b", " ".join(ops["RUN"]))
    env = dict(
        pair.split("=", 1) for args in ops["ENV"] for pair in shlex.split(args) if "=" in pair
    )
    assert env["HOURGLASS_LISTEN"] == "0.0.0.0:50051"
    assert env["HOURGLASS_METRICS_LISTEN"] == "0.0.0.0:9464"
    assert sorted(" ".join(ops["EXPOSE"]).split()) == ["50051", "9464"]
    assert ops["STOPSIGNAL"] == ["SIGTERM"]
    assert ops["ENTRYPOINT"] == ['["/usr/local/bin/hourglass"]']


def test_dockerignore_admits_exactly_what_the_build_copies():
    (_, build), _ = stages()
    sources = []
    for op, args in build:
        if op == "COPY" and not args.startswith("--from"):
            sources += args.split()[:-1]
    patterns = [
        line.strip()
        for line in read(".dockerignore").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore should exclude everything, then admit sources"
    admitted = sorted(p[1:].rstrip("/") for p in patterns[1:])
    assert all(p.startswith("!") for p in patterns[1:])
    assert admitted == sorted(s.rstrip("/") for s in sources)
    for source in sources:
        assert os.path.exists(os.path.join(ROOT, source)), source


def test_readme_gives_the_build_command():
    command = re.search(r"^#\s+(docker build .*)$", read("Dockerfile"), re.M).group(1)
    assert command in read("README.md")


def docker_available():
    if os.environ.get("HG_DOCKER_TEST") != "1":
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not docker_available(), reason="set HG_DOCKER_TEST=1 with a Docker daemon")
def test_image_builds_runs_read_only_and_serves_health():
    tag = "hourglass:e2e-test"
    subprocess.run(["docker", "build", "-t", tag, ROOT], check=True, timeout=3600)
    run = ["docker", "run", "-d", "--read-only", "--cap-drop", "ALL", "-p", "127.0.0.1::50051"]
    run += ["-e", "HOURGLASS_MAXMEMORY=64mb", tag]
    container = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    try:
        port = subprocess.run(
            ["docker", "port", container, "50051/tcp"], capture_output=True, text=True, check=True
        ).stdout.split()[0].rsplit(":", 1)[1]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            health = health_pb2_grpc.HealthStub(channel)
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        subprocess.run(["docker", "stop", "-t", "30", container], check=True, timeout=60)
        code = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", container],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert code == "0", "hourglass did not exit cleanly on SIGTERM"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)
