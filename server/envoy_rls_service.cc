#include "server/envoy_rls_service.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/unary.h"
#include "server/validation.h"

namespace hourglass::server {
namespace {

namespace rls = envoy::service::ratelimit::v3;
using envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;

// envoy.type.v3.RateLimitUnit shares its numbers with the response's unit (SECOND = 1 ...
// YEAR = 6); 7 (WEEK) is accepted too, as newer Envoy versions send it.
bool ToUnit(int value, domain::EnvoyUnit& unit) {
  if (value < static_cast<int>(domain::EnvoyUnit::kSecond) ||
      value > static_cast<int>(domain::EnvoyUnit::kWeek)) {
    return false;
  }
  unit = static_cast<domain::EnvoyUnit>(value);
  return true;
}

// Converts and validates one request descriptor; its entries view the request.
absl::Status ToDescriptor(const RateLimitDescriptor& in, int index, uint32_t request_hits,
                          const Limits& limits, domain::EnvoyDescriptor& out) {
  const std::string field = absl::StrCat("descriptors[", index, "]");
  if (absl::Status s = CheckItemCount(absl::StrCat(field, ".entries"), in.entries_size(),
                                      limits.max_batch_items);
      !s.ok()) {
    return s;
  }
  out.entries.reserve(in.entries_size());
  for (int e = 0; e < in.entries_size(); ++e) {
    const auto& entry = in.entries(e);
    const std::string entry_field = absl::StrCat(field, ".entries[", e, "]");
    if (absl::Status s =
            CheckSize(absl::StrCat(entry_field, ".key"), entry.key(), limits.max_key_bytes);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            CheckSize(absl::StrCat(entry_field, ".value"), entry.value(), limits.max_key_bytes);
        !s.ok()) {
      return s;
    }
    out.entries.push_back(domain::EnvoyEntry{entry.key(), entry.value()});
  }
  if (in.has_limit()) {
    domain::EnvoyLimitOverride limit_override;
    limit_override.requests_per_unit = in.limit().requests_per_unit();
    if (!ToUnit(in.limit().unit(), limit_override.unit)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".limit.unit: must be SECOND, MINUTE, HOUR, DAY, MONTH or YEAR, got ",
                       in.limit().unit()));
    }
    out.limit_override = limit_override;
  }
  // The descriptor's own hits_addend wins (0 there is check-only); the request's 0 means 1.
  out.hits = in.has_hits_addend() ? in.hits_addend().value() : std::max<uint64_t>(1, request_hits);
  return absl::OkStatus();
}

rls::RateLimitResponse::Code ToCode(domain::EnvoyCode code) {
  return code == domain::EnvoyCode::kOverLimit ? rls::RateLimitResponse::OVER_LIMIT
                                               : rls::RateLimitResponse::OK;
}

}  // namespace

EnvoyRlsService::EnvoyRlsService(storage::Store& store, const Limits& limits,
                                 DomainMetrics* metrics)
    : limits_(limits),
      limiter_(store, domain::EnvoyRateLimiter::Options{.max_ttl_ms = limits.max_ttl_ms}),
      metrics_(metrics) {}

void EnvoyRlsService::SetConfig(std::shared_ptr<const domain::EnvoyLimitsConfig> config) {
  limiter_.SetConfig(std::move(config));
}

grpc::ServerUnaryReactor* EnvoyRlsService::ShouldRateLimit(grpc::CallbackServerContext* context,
                                                           const rls::RateLimitRequest* request,
                                                           rls::RateLimitResponse* response) {
  return HandleUnary(context, [&] { return DoShouldRateLimit(*request, *response); });
}

absl::Status EnvoyRlsService::DoShouldRateLimit(const rls::RateLimitRequest& request,
                                                rls::RateLimitResponse& response) {
  if (absl::Status s = CheckKey("domain", request.domain(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  if (request.descriptors_size() == 0) {
    return absl::InvalidArgumentError("descriptors: required");
  }
  if (absl::Status s =
          CheckItemCount("descriptors", request.descriptors_size(), limits_.max_batch_items);
      !s.ok()) {
    return s;
  }
  std::vector<domain::EnvoyDescriptor> descriptors(request.descriptors_size());
  for (int i = 0; i < request.descriptors_size(); ++i) {
    if (absl::Status s =
            ToDescriptor(request.descriptors(i), i, request.hits_addend(), limits_, descriptors[i]);
        !s.ok()) {
      return s;
    }
  }

  absl::StatusOr<domain::EnvoyResponse> result =
      limiter_.ShouldRateLimit(request.domain(), descriptors);
  if (!result.ok()) {
    // Whatever went wrong inside (a full store...), Envoy must see UNAVAILABLE.
    return absl::UnavailableError(
        absl::StrCat("rate limit service unavailable: ", result.status().message()));
  }
  if (metrics_ != nullptr) {
    // The config is consulted only for a domain not yet counted (metrics_envoy.h).
    metrics_->envoy().Record(
        request.domain(), [&] { return limiter_.config()->HasDomain(request.domain()); }, *result);
  }
  response.set_overall_code(ToCode(result->overall_code));
  response.mutable_statuses()->Reserve(static_cast<int>(result->statuses.size()));
  for (const domain::EnvoyDescriptorStatus& status : result->statuses) {
    rls::RateLimitResponse::DescriptorStatus* out = response.add_statuses();
    out->set_code(ToCode(status.code));
    out->set_limit_remaining(status.limit_remaining);
    if (status.current_limit.has_value()) {
      rls::RateLimitResponse::RateLimit* limit = out->mutable_current_limit();
      limit->set_requests_per_unit(status.current_limit->requests_per_unit);
      limit->set_unit(
          static_cast<rls::RateLimitResponse::RateLimit::Unit>(status.current_limit->unit));
      limit->set_name(status.current_limit->name);
      *out->mutable_duration_until_reset() = MsToDuration(status.duration_until_reset_ms);
    }
  }
  return absl::OkStatus();
}

}  // namespace hourglass::server
