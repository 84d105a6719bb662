# hourglass: two commands do all set-up on a fresh Debian 12 machine.
#   make run    install missing packages, build, start the server on 127.0.0.1:50051
#   make test   same set-up, then every test (unit, integration, e2e, proto lint)
# Other targets: build, deps, bench, format, clean.

BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

# Debian 12 packages the build, the tests and the benchmarks need.
APT_PACKAGES := build-essential cmake pkg-config git ca-certificates \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
  libspdlog-dev prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libssl-dev \
  libyaml-cpp-dev libmimalloc-dev grpc-proto python3-grpcio python3-protobuf python3-pytest \
  python3-yaml clang libclang-rt-14-dev redis-server prometheus nghttp2-client nodejs npm

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NODE_DIR := tests/e2e/node

.PHONY: run test build deps node-deps configure bench format clean

run: build
	./$(BUILD)/server/hourglass

test: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

configure: deps
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

# Installs only what is missing (dpkg -s), with sudo when not root. Node and npm count as
# present when the machine already has them (its own Node.js may not be Debian's).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  case $$p in nodejs|npm) command -v $$p >/dev/null 2>&1 && continue;; esac; \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# buf (proto lint) and the Node e2e client come from npm, pinned by package-lock.json.
node-deps: deps
	@[ -d $(NODE_DIR)/node_modules ] || npm ci --prefix $(NODE_DIR) --no-audit --no-fund

bench: build
	bench/run.sh

# Eviction hit ratio and writes-when-full, hourglass vs a private Redis (bench/eviction/README.md).
.PHONY: bench-eviction
bench-eviction: configure
	cmake --build $(BUILD) -j $(JOBS) --target hg_eviction_bench
	bench/eviction/run.sh $(BUILD)/bench/eviction/hg_eviction_bench

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf build build-*
