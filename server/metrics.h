#pragma once

// The server's Prometheus metrics (shared/API.md, "Metrics") and the /metrics endpoint.
//
//   Metrics          what is counted while serving: gRPC server metrics (grpc_metrics.h, fed by
//                    the interceptor of grpc_metrics_interceptor.h) and the domain counters
//                    (metrics_domain.h, bumped by the service adapters).
//   MetricsEndpoint  the HTTP listener of --metrics_listen (prometheus-cpp's Exposer): serves
//                    Metrics plus the store's state, read at scrape time (metrics_store.h).
//
// Lifetimes in HourglassServer: Metrics is created first and destroyed last (the store's
// listener, the services and the gRPC interceptors count into it); the endpoint is destroyed
// first (its scrapes read the store).
//
// Thread-safety: both are thread-safe after construction.

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/grpc_metrics.h"
#include "server/metrics_domain.h"
#include "storage/store.h"

namespace hourglass::server {

class Metrics {
 public:
  // `service_names`: the fully qualified names of the services the server registers; each of
  // their methods (and health's and reflection's) gets its gRPC series.
  explicit Metrics(const std::vector<std::string>& service_names);

  DomainMetrics& domain() { return *domain_; }
  // Where more of the server's own series register (SnapshotMetrics).
  prometheus::Registry& registry() { return *registry_; }
  // Shared with the interceptor factory (NewMetricsInterceptorFactory).
  const std::shared_ptr<GrpcMetrics>& grpc() const { return grpc_; }

  // What the endpoint serves besides the store's state.
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<DomainMetrics> domain_;
  std::shared_ptr<GrpcMetrics> grpc_;
};

// Text exposition format (what /metrics answers) of `collectables`, in order.
std::string RenderMetrics(
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);

class MetricsEndpoint {
 public:
  // Serves GET /metrics on `address` (host:port; port 0 picks a free port): `metrics` and the
  // state of `store`, both of which must outlive the endpoint. UNAVAILABLE naming
  // --metrics_listen when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& address,
                                                                const Metrics& metrics,
                                                                const storage::Store& store);
  // Stops listening; a scrape in progress finishes first.
  ~MetricsEndpoint();

  // The bound port.
  int port() const { return port_; }

 private:
  MetricsEndpoint() = default;

  // Owned here: the exposer only keeps weak references.
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace hourglass::server
