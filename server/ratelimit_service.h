#pragma once

// RateLimitService: hourglass.v1.RateLimitService (shared/API.md "RateLimitService") over
// domain::RateLimiter. A thin adapter: each RPC validates (messages name the field and the
// limit), converts to plain checks, runs one atomic store step through the limiter and converts
// the decisions back. A denied check is data (allowed = false), never an error.
//
// StreamRateLimits answers each message of the stream in order (stream_rate_limits_reactor.h).
//
// Thread-safety: thread-safe; holds the limiter (thread-safe) and immutable limits. Handlers
// never block.

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "hourglass/v1/ratelimit.grpc.pb.h"
#include "server/domain/rate_limiter.h"
#include "server/limits.h"
#include "server/metrics_domain.h"
#include "storage/store.h"

namespace hourglass::server {

class RateLimitService final : public hourglass::v1::RateLimitService::CallbackService {
 public:
  // `store` must outlive the service.
  // `metrics` (optional, must outlive the service) counts what the calls did.
  RateLimitService(storage::Store& store, const Limits& limits, DomainMetrics* metrics = nullptr);

  grpc::ServerUnaryReactor* CheckRateLimit(
      grpc::CallbackServerContext* context, const hourglass::v1::CheckRateLimitRequest* request,
      hourglass::v1::CheckRateLimitResponse* response) override;
  grpc::ServerUnaryReactor* CheckRateLimits(
      grpc::CallbackServerContext* context, const hourglass::v1::CheckRateLimitsRequest* request,
      hourglass::v1::CheckRateLimitsResponse* response) override;
  grpc::ServerUnaryReactor* ResetRateLimit(
      grpc::CallbackServerContext* context, const hourglass::v1::ResetRateLimitRequest* request,
      hourglass::v1::ResetRateLimitResponse* response) override;
  grpc::ServerBidiReactor<hourglass::v1::StreamRateLimitsRequest,
                          hourglass::v1::StreamRateLimitsResponse>*
  StreamRateLimits(grpc::CallbackServerContext* context) override;

  // The key AdminService.WatchEvents shows for a removed entry of the rate-limit space: the
  // caller's key of a RateLimitService limit; Envoy counters (binary, one per descriptor and
  // window) are not shown.
  static std::optional<std::string> WatchedKey(std::string_view store_key, std::string_view value);

 private:
  absl::Status DoCheck(const hourglass::v1::CheckRateLimitRequest& request,
                       hourglass::v1::CheckRateLimitResponse& response);
  absl::Status DoCheckMany(const hourglass::v1::CheckRateLimitsRequest& request,
                           hourglass::v1::CheckRateLimitsResponse& response);
  absl::Status DoReset(const hourglass::v1::ResetRateLimitRequest& request,
                       hourglass::v1::ResetRateLimitResponse& response);
  // One StreamRateLimits message: a result, or an OpError when the check is refused.
  void DoStreamCheck(const hourglass::v1::StreamRateLimitsRequest& request,
                     hourglass::v1::StreamRateLimitsResponse& response);

  const Limits limits_;
  domain::RateLimiter limiter_;
  DomainMetrics* const metrics_;
};

}  // namespace hourglass::server
