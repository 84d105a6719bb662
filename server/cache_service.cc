#include "server/cache_service.h"

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/unary.h"
#include "server/validation.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;

// Checks `items` (a repeated string field) item by item, naming the item ("tags[2]: required").
absl::Status CheckEachKey(std::string_view field,
                          const google::protobuf::RepeatedPtrField<std::string>& items,
                          uint64_t max_bytes, std::vector<std::string_view>& out) {
  out.reserve(static_cast<size_t>(items.size()));
  for (int i = 0; i < items.size(); ++i) {
    const std::string name =
        absl::StrCat(absl::string_view(field.data(), field.size()), "[", i, "]");
    if (absl::Status status = CheckKey(name, items[i], max_bytes); !status.ok()) return status;
    out.push_back(items[i]);
  }
  return absl::OkStatus();
}

v1::CacheState ToProto(domain::CacheState state) {
  switch (state) {
    case domain::CacheState::kFresh:
      return v1::CACHE_STATE_FRESH;
    case domain::CacheState::kStale:
      return v1::CACHE_STATE_STALE;
    case domain::CacheState::kMiss:
      break;
  }
  return v1::CACHE_STATE_MISS;
}

}  // namespace

CacheService::CacheService(std::shared_ptr<domain::Cache> cache, const Limits& limits,
                           DomainMetrics* metrics)
    : cache_(std::move(cache)), limits_(limits), metrics_(metrics) {}

std::optional<std::string> CacheService::WatchedKey(std::string_view key, std::string_view record) {
  if (!domain::Cache::HeldValue(record)) return std::nullopt;
  return std::string(key);
}

grpc::ServerUnaryReactor* CacheService::Fill(grpc::CallbackServerContext* context,
                                             const v1::FillRequest* request,
                                             v1::FillResponse* response) {
  return HandleUnary(context, [&] { return DoFill(*request, *response); });
}

grpc::ServerUnaryReactor* CacheService::Lookup(grpc::CallbackServerContext* context,
                                               const v1::LookupRequest* request,
                                               v1::LookupResponse* response) {
  return HandleUnary(context, [&] { return DoLookup(*request, *response); });
}

grpc::ServerUnaryReactor* CacheService::Invalidate(grpc::CallbackServerContext* context,
                                                   const v1::InvalidateRequest* request,
                                                   v1::InvalidateResponse* response) {
  return HandleUnary(context, [&] { return DoInvalidate(*request, *response); });
}

absl::Status CacheService::DoFill(const v1::FillRequest& request, v1::FillResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  if (absl::Status s = CheckSize("value", request.value(), limits_.max_value_bytes); !s.ok()) {
    return s;
  }
  if (!request.has_fresh_for()) return absl::InvalidArgumentError("fresh_for: required");
  absl::StatusOr<int64_t> fresh_ms =
      DurationToMs("fresh_for", request.fresh_for(), ZeroDuration::kRejected, limits_.max_ttl_ms);
  if (!fresh_ms.ok()) return fresh_ms.status();
  int64_t stale_ms = 0;
  if (request.has_stale_for()) {
    absl::StatusOr<int64_t> ms =
        DurationToMs("stale_for", request.stale_for(), ZeroDuration::kAllowed, limits_.max_ttl_ms);
    if (!ms.ok()) return ms.status();
    stale_ms = *ms;
  }
  // Both are <= max_ttl, so the sum cannot overflow.
  if (*fresh_ms + stale_ms > limits_.max_ttl_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("fresh_for + stale_for: ", FormatMs(*fresh_ms + stale_ms), " exceeds max ",
                     FormatMs(limits_.max_ttl_ms)));
  }
  if (absl::Status s = CheckItemCount("tags", request.tags_size(), limits_.max_batch_items);
      !s.ok()) {
    return s;
  }
  std::vector<std::string_view> tags;
  if (absl::Status s = CheckEachKey("tags", request.tags(), limits_.max_key_bytes, tags); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSize("lease_id", request.lease_id(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  domain::CacheFill fill;
  fill.key = request.key();
  fill.value = request.value();
  fill.fresh_for_ms = *fresh_ms;
  fill.stale_for_ms = stale_ms;
  fill.tags = tags;
  fill.lease_id = request.lease_id();
  absl::StatusOr<bool> applied = cache_->Fill(fill);
  if (!applied.ok()) return applied.status();
  if (metrics_ != nullptr) metrics_->CacheFill(*applied);
  response.set_applied(*applied);
  return absl::OkStatus();
}

absl::Status CacheService::DoLookup(const v1::LookupRequest& request,
                                    v1::LookupResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  int64_t lease_ttl_ms = domain::Cache::kDefaultLeaseTtlMs;
  if (request.has_lease_ttl()) {
    absl::StatusOr<int64_t> ms =
        DurationToMs("lease_ttl", request.lease_ttl(), ZeroDuration::kRejected, limits_.max_ttl_ms);
    if (!ms.ok()) return ms.status();
    lease_ttl_ms = *ms;
  }
  absl::StatusOr<domain::CacheLookup> result = cache_->Lookup(request.key(), lease_ttl_ms);
  if (!result.ok()) return result.status();
  if (metrics_ != nullptr) metrics_->CacheLookup(result->state);
  response.set_state(ToProto(result->state));
  if (result->state != domain::CacheState::kMiss) {
    response.set_value(std::move(result->value));
    *response.mutable_age() = MsToDuration(result->age_ms);
  }
  response.set_revalidate(result->revalidate);
  response.set_lease_id(std::move(result->lease_id));
  return absl::OkStatus();
}

absl::Status CacheService::DoInvalidate(const v1::InvalidateRequest& request,
                                        v1::InvalidateResponse& response) {
  if (request.keys().empty() && request.tags().empty()) {
    return absl::InvalidArgumentError("keys, tags: at least one key or tag is required");
  }
  if (absl::Status s = CheckItemCount("keys + tags", request.keys_size() + request.tags_size(),
                                      limits_.max_batch_items);
      !s.ok()) {
    return s;
  }
  std::vector<std::string_view> keys;
  if (absl::Status s = CheckEachKey("keys", request.keys(), limits_.max_key_bytes, keys); !s.ok()) {
    return s;
  }
  std::vector<std::string_view> tags;
  if (absl::Status s = CheckEachKey("tags", request.tags(), limits_.max_key_bytes, tags); !s.ok()) {
    return s;
  }
  absl::StatusOr<int64_t> removed = cache_->Invalidate(keys, tags);
  if (!removed.ok()) return removed.status();
  response.set_invalidated(*removed);
  return absl::OkStatus();
}

}  // namespace hourglass::server
