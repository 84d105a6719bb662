#pragma once

// HourglassServer: the store, the gRPC services over it, health and reflection, and the drain.
//
// Thread-safety: Start() returns a running server; Shutdown() may be called once from any
// thread; port() and store() are safe at any time.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/event_hub.h"
#include "server/metrics.h"
#include "server/metrics_snapshot.h"
#include "server/snapshot.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::server {

class EnvoyRlsService;

class HourglassServer {
 public:
  // Builds the store and every service from `config` and starts listening. `customize` (tests)
  // may register more services on the builder; what it registers must outlive the server.
  // UNAVAILABLE when the address cannot be bound; INVALID_ARGUMENT for a config the store
  // refuses.
  static absl::StatusOr<std::unique_ptr<HourglassServer>> Start(
      const ServerConfig& config, storage::Clock& clock,
      const std::function<void(grpc::ServerBuilder&)>& customize = nullptr);
  ~HourglassServer();

  // The bound gRPC port (useful with a ":0" listen address).
  int port() const { return port_; }
  // The bound --metrics_listen port; 0 when --metrics_listen is empty (no endpoint).
  int metrics_port() const { return metrics_endpoint_ ? metrics_endpoint_->port() : 0; }
  // What /metrics serves besides the store's state (tests render it without HTTP).
  Metrics& metrics() { return *metrics_; }
  storage::Store& store() { return *store_; }
  // Removal events for AdminService.WatchEvents. Domain services register their key formatters
  // here in Start() (EventHub::SetKeyFormatter).
  EventHub& events() { return *event_hub_; }

  // Health goes NOT_SERVING (overall and per service), new calls are refused, calls in flight
  // get up to `grace_ms` to finish, then are cancelled. With --snapshot_path, the clean
  // snapshot is then written (snapshot.h). Returns when the server has stopped.
  void Shutdown(int64_t grace_ms);

  // The snapshot machinery; null without --snapshot_path.
  Snapshotter* snapshots() { return snapshotter_.get(); }
  // What start-up restored (found = false without --snapshot_path or file).
  const Snapshotter::LoadResult& snapshot_loaded() const { return snapshot_loaded_; }

  // The fully-qualified names of the services health reports on.
  const std::vector<std::string>& service_names() const { return service_names_; }

  // Reloads --ratelimit_config (SIGHUP) and returns the number of domains now in force. On error
  // (INVALID_ARGUMENT naming the file and line) the previous config stays in force. Counters
  // survive either way. FAILED_PRECONDITION when the server was started without the flag.
  // Thread-safe.
  absl::StatusOr<size_t> ReloadRateLimitConfig();

 private:
  HourglassServer() = default;

  // Declared first: the store's listener, the services and the gRPC interceptors count into it.
  std::unique_ptr<Metrics> metrics_;
  // Declared before the store: the store's listener publishes to it until the store is gone.
  std::unique_ptr<EventHub> event_hub_;
  std::unique_ptr<storage::Store> store_;
  // After the store (it writes from the store until it is gone), before the services (the
  // AdminService points to it).
  std::unique_ptr<SnapshotMetrics> snapshot_metrics_;
  std::unique_ptr<Snapshotter> snapshotter_;
  Snapshotter::LoadResult snapshot_loaded_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::vector<std::string> service_names_;
  EnvoyRlsService* envoy_rls_ = nullptr;  // owned by services_
  std::string ratelimit_config_path_;     // --ratelimit_config; empty when none
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
  // Declared last: its scrapes read the store, so it stops before anything else goes.
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
};

}  // namespace hourglass::server
