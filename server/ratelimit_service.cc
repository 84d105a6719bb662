#include "server/ratelimit_service.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/domain/rate_limit_state.h"
#include "server/op_error.h"
#include "server/ratelimit_proto.h"
#include "server/stream_rate_limits_reactor.h"
#include "server/unary.h"
#include "server/validation.h"

namespace hourglass::server {

namespace v1 = hourglass::v1;

RateLimitService::RateLimitService(storage::Store& store, const Limits& limits,
                                   DomainMetrics* metrics)
    : limits_(limits),
      limiter_(store, domain::RateLimiter::Options{.max_ttl_ms = limits.max_ttl_ms}),
      metrics_(metrics) {}

std::optional<std::string> RateLimitService::WatchedKey(std::string_view store_key,
                                                        std::string_view /*value*/) {
  if (store_key.empty() || store_key[0] == domain::kEnvoyCounterTag) return std::nullopt;
  const std::string_view key = domain::RateLimitKeyFromStoreKey(store_key);
  if (key.empty()) return std::nullopt;
  return std::string(key);
}

grpc::ServerUnaryReactor* RateLimitService::CheckRateLimit(grpc::CallbackServerContext* context,
                                                           const v1::CheckRateLimitRequest* request,
                                                           v1::CheckRateLimitResponse* response) {
  return HandleUnary(context, [&] { return DoCheck(*request, *response); });
}

grpc::ServerUnaryReactor* RateLimitService::CheckRateLimits(
    grpc::CallbackServerContext* context, const v1::CheckRateLimitsRequest* request,
    v1::CheckRateLimitsResponse* response) {
  return HandleUnary(context, [&] { return DoCheckMany(*request, *response); });
}

grpc::ServerUnaryReactor* RateLimitService::ResetRateLimit(grpc::CallbackServerContext* context,
                                                           const v1::ResetRateLimitRequest* request,
                                                           v1::ResetRateLimitResponse* response) {
  return HandleUnary(context, [&] { return DoReset(*request, *response); });
}

grpc::ServerBidiReactor<v1::StreamRateLimitsRequest, v1::StreamRateLimitsResponse>*
RateLimitService::StreamRateLimits(grpc::CallbackServerContext* /*context*/) {
  return new StreamRateLimitsReactor(
      [this](const v1::StreamRateLimitsRequest& request, v1::StreamRateLimitsResponse& response) {
        DoStreamCheck(request, response);
      });
}

void RateLimitService::DoStreamCheck(const v1::StreamRateLimitsRequest& request,
                                     v1::StreamRateLimitsResponse& response) {
  response.set_id(request.id());
  absl::Status status;
  if (!request.has_check()) {
    status = absl::InvalidArgumentError("check: required");
  } else {
    domain::RateLimitCheck check;
    status = ToRateLimitCheck(request.check(), "check.", limits_, check);
    if (status.ok()) {
      absl::StatusOr<domain::RateLimitDecision> decision = limiter_.Check(check);
      if (decision.ok()) {
        if (metrics_ != nullptr) metrics_->RateLimitDecision(check.algorithm, decision->allowed);
        FromRateLimitDecision(*decision, *response.mutable_result());
        return;
      }
      status = decision.status();
    }
  }
  ToOpError(status, *response.mutable_error());
}

absl::Status RateLimitService::DoCheck(const v1::CheckRateLimitRequest& request,
                                       v1::CheckRateLimitResponse& response) {
  domain::RateLimitCheck check;
  if (absl::Status s = ToRateLimitCheck(request, "", limits_, check); !s.ok()) return s;
  absl::StatusOr<domain::RateLimitDecision> decision = limiter_.Check(check);
  if (!decision.ok()) return decision.status();
  if (metrics_ != nullptr) metrics_->RateLimitDecision(check.algorithm, decision->allowed);
  FromRateLimitDecision(*decision, response);
  return absl::OkStatus();
}

absl::Status RateLimitService::DoCheckMany(const v1::CheckRateLimitsRequest& request,
                                           v1::CheckRateLimitsResponse& response) {
  if (absl::Status s = CheckItemCount("checks", request.checks_size(), limits_.max_batch_items);
      !s.ok()) {
    return s;
  }
  // Every check is validated before anything is taken.
  std::vector<domain::RateLimitCheck> checks(request.checks_size());
  for (int i = 0; i < request.checks_size(); ++i) {
    const std::string prefix = absl::StrCat("checks[", i, "].");
    if (absl::Status s = ToRateLimitCheck(request.checks(i), prefix, limits_, checks[i]); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::vector<domain::RateLimitDecision>> decisions =
      limiter_.CheckMany(checks, request.all_or_nothing());
  if (!decisions.ok()) return decisions.status();
  if (metrics_ != nullptr) {
    for (size_t i = 0; i < decisions->size(); ++i) {
      metrics_->RateLimitDecision(checks[i].algorithm, (*decisions)[i].allowed);
    }
  }
  response.mutable_results()->Reserve(static_cast<int>(decisions->size()));
  for (const domain::RateLimitDecision& decision : *decisions) {
    FromRateLimitDecision(decision, *response.add_results());
  }
  return absl::OkStatus();
}

absl::Status RateLimitService::DoReset(const v1::ResetRateLimitRequest& request,
                                       v1::ResetRateLimitResponse& response) {
  if (absl::Status s = CheckKey("key", request.key(), limits_.max_key_bytes); !s.ok()) return s;
  if (absl::Status s = CheckEnum("algorithm", request.algorithm(), v1::RateLimitAlgorithm_IsValid);
      !s.ok()) {
    return s;
  }
  response.set_reset(limiter_.Reset(request.key(), ToAlgorithm(request.algorithm())));
  return absl::OkStatus();
}

}  // namespace hourglass::server
