#pragma once

// CacheService: hourglass.v1.CacheService, stale-while-revalidate with leases and tags.
//
// A thin adapter over domain::Cache (server/domain/cache.h holds the semantics). Each RPC
// validates its request (messages name the field and the limit, shared/API.md), converts it to
// plain types, calls the domain once and converts the result back.
//
// Limits beyond the field checks cache.proto lists: a Fill carries at most --max_batch_items
// tags (each one is an index write in the Fill's atomic step), and a lease_id longer than
// --max_key_bytes is INVALID_ARGUMENT (a shorter unknown one is simply not applied).
//
// Thread-safety: thread-safe; holds the (thread-safe) cache and immutable limits. Handlers never
// block.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "hourglass/v1/cache.grpc.pb.h"
#include "server/domain/cache.h"
#include "server/limits.h"
#include "server/metrics_domain.h"

namespace hourglass::server {

class CacheService final : public hourglass::v1::CacheService::CallbackService {
 public:
  // `metrics` (optional, must outlive the service) counts what the calls did.
  CacheService(std::shared_ptr<domain::Cache> cache, const Limits& limits,
               DomainMetrics* metrics = nullptr);

  grpc::ServerUnaryReactor* Fill(grpc::CallbackServerContext* context,
                                 const hourglass::v1::FillRequest* request,
                                 hourglass::v1::FillResponse* response) override;
  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* context,
                                   const hourglass::v1::LookupRequest* request,
                                   hourglass::v1::LookupResponse* response) override;
  grpc::ServerUnaryReactor* Invalidate(grpc::CallbackServerContext* context,
                                       const hourglass::v1::InvalidateRequest* request,
                                       hourglass::v1::InvalidateResponse* response) override;

  // How AdminService.WatchEvents shows a removed cache record (an EventHub::KeyFormatter): its
  // key, or nothing for a miss's lease, which was never an entry.
  static std::optional<std::string> WatchedKey(std::string_view key, std::string_view record);

 private:
  absl::Status DoFill(const hourglass::v1::FillRequest& request,
                      hourglass::v1::FillResponse& response);
  absl::Status DoLookup(const hourglass::v1::LookupRequest& request,
                        hourglass::v1::LookupResponse& response);
  absl::Status DoInvalidate(const hourglass::v1::InvalidateRequest& request,
                            hourglass::v1::InvalidateResponse& response);

  const std::shared_ptr<domain::Cache> cache_;
  const Limits limits_;
  DomainMetrics* const metrics_;
};

}  // namespace hourglass::server
