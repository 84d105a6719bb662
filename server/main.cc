// hourglass: expiring data as typed gRPC services. See README.md.

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "server/config.h"
#include "server/logging.h"
#include "server/server.h"
#include "storage/clock.h"

int main(int argc, char** argv) {
  // Block the signals we handle before any thread starts, so every thread inherits the mask and
  // only the sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto config = hourglass::server::ParseServerConfig(argc, argv);
  if (!config.ok()) {
    std::fprintf(stderr, "hourglass: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  hourglass::server::InitLogging(*config);

  hourglass::storage::SystemClock clock;
  auto server = hourglass::server::HourglassServer::Start(*config, clock);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", std::string(server.status().message()));
    return 1;
  }
  // Before the gRPC line: tests read the log up to that line (tests/e2e/python/conftest.py).
  if ((*server)->metrics_port() != 0) {
    spdlog::info("hourglass serving metrics on port {} at /metrics", (*server)->metrics_port());
  } else {
    spdlog::info("hourglass metrics endpoint off (--metrics_listen is empty)");
  }
  spdlog::info("hourglass serving gRPC on port {} (maxmemory {} bytes, {} shards, policy {})",
               (*server)->port(), config->maxmemory_bytes, config->shards,
               hourglass::server::EvictionPolicyName(config->eviction_policy));

  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      if (config->ratelimit_config.empty()) {
        spdlog::info("SIGHUP: no --ratelimit_config to reload");
        continue;
      }
      auto reloaded = (*server)->ReloadRateLimitConfig();
      if (reloaded.ok()) {
        spdlog::info("SIGHUP: reloaded rate limit config {} ({} domains)", config->ratelimit_config,
                     *reloaded);
      } else {
        spdlog::error("SIGHUP: rate limit config not reloaded, keeping the previous one: {}",
                      std::string(reloaded.status().message()));
      }
      continue;
    }
    spdlog::info("signal {}: draining for up to {} ms", signal, config->shutdown_grace_ms);
    break;
  }
  (*server)->Shutdown(config->shutdown_grace_ms);
  spdlog::info("stopped");
  return 0;
}
