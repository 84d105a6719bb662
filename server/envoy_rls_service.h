#pragma once

// EnvoyRlsService: envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, wire-compatible
// with Envoy's HTTP and network rate limit filters (shared/ENVOY_RLS.md), over
// domain::EnvoyRateLimiter, which holds the semantics (shared/API.md, "Envoy").
//
// Errors: INVALID_ARGUMENT for a malformed request (empty domain or descriptor list, a string
// over --max_key_bytes, more than --max_batch_items descriptors or entries, an override without
// a known unit); every other failure is UNAVAILABLE, never UNKNOWN, so Envoy's
// failure_mode_deny decides what happens to the request.
//
// Thread-safety: thread-safe. SetConfig may run while calls are in flight (each call uses the
// config it started with).

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/status.h"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "server/domain/envoy_limits.h"
#include "server/domain/envoy_rate_limiter.h"
#include "server/limits.h"
#include "server/metrics_domain.h"
#include "storage/store.h"

namespace hourglass::server {

class EnvoyRlsService final
    : public envoy::service::ratelimit::v3::RateLimitService::CallbackService {
 public:
  // `store` must outlive the service. Starts with no domains (every request OK).
  // `metrics` (optional, must outlive the service) counts what the calls did.
  EnvoyRlsService(storage::Store& store, const Limits& limits, DomainMetrics* metrics = nullptr);

  // Installs a new descriptor config (counters are kept: they do not depend on it).
  void SetConfig(std::shared_ptr<const domain::EnvoyLimitsConfig> config);

  grpc::ServerUnaryReactor* ShouldRateLimit(
      grpc::CallbackServerContext* context,
      const envoy::service::ratelimit::v3::RateLimitRequest* request,
      envoy::service::ratelimit::v3::RateLimitResponse* response) override;

 private:
  absl::Status DoShouldRateLimit(const envoy::service::ratelimit::v3::RateLimitRequest& request,
                                 envoy::service::ratelimit::v3::RateLimitResponse& response);

  const Limits limits_;
  domain::EnvoyRateLimiter limiter_;
  DomainMetrics* const metrics_;
};

}  // namespace hourglass::server
