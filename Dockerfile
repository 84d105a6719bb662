# hourglass container image: built on Debian 12, run on debian:bookworm-slim with only the
# shared libraries the binary links, as an unprivileged user.
#
# Build (from the repository root):
#   docker build -t hourglass:0.1.0 .
# Run (configuration is HOURGLASS_* environment variables, one per flag; `--help` lists them):
#   docker run --rm -p 50051:50051 -p 9464:9464 -e HOURGLASS_MAXMEMORY=1gb hourglass:0.1.0
#
# tests/e2e/python/test_dockerfile.py checks the runtime package list below against `ldd` of the
# built binary (mapped to Debian packages with `dpkg -S`): update both together.

FROM debian:bookworm AS build
# The build subset of the Makefile's APT_PACKAGES (the configure step needs GTest and benchmark
# even when only the server is built).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      libspdlog-dev prometheus-cpp-dev libssl-dev libyaml-cpp-dev libmimalloc-dev \
      libgtest-dev libgmock-dev libbenchmark-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the server build reads: CMake adds tests/ and bench/ only when they are present.
COPY CMakeLists.txt ./
COPY proto proto
COPY storage storage
COPY server server
# RelWithDebInfo: the optimisation level every test runs at. The debug sections are stripped
# from the copy that ships; the symbol table stays, for readable stack traces.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j "$(nproc)" --target hourglass \
 && strip --strip-debug -o /hourglass build/server/hourglass

FROM debian:bookworm-slim
# Exactly the packages that ship the shared libraries in `ldd hourglass` (no -dev, no tools).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libabsl20220623 \
      libc-ares2 \
      libc6 \
      libcivetweb1 \
      libfmt9 \
      libgcc-s1 \
      libgrpc++1.51 \
      libgrpc29 \
      libmimalloc2.0 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libprotobuf32 \
      libre2-9 \
      libspdlog1.10 \
      libssl3 \
      libstdc++6 \
      libyaml-cpp0.7 \
      zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hourglass \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin hourglass
COPY --from=build /hourglass /usr/local/bin/hourglass
# The binary's defaults are loopback-only; in a container both ports must be reachable.
ENV HOURGLASS_LISTEN=0.0.0.0:50051 \
    HOURGLASS_METRICS_LISTEN=0.0.0.0:9464
EXPOSE 50051 9464
# Numeric, so Kubernetes can verify runAsNonRoot (deploy/k8s uses the same ids).
USER 10001:10001
# hourglass drains on SIGTERM (health NOT_SERVING, in-flight calls finish within
# HOURGLASS_SHUTDOWN_GRACE). It runs fine as PID 1: it waits for its signals with sigwait and
# starts no child processes, so it needs no init.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hourglass"]
