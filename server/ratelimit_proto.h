#pragma once

// Conversions between RateLimitService's proto messages and domain::RateLimitCheck /
// RateLimitDecision, shared by every RPC that carries a check (CheckRateLimit, CheckRateLimits,
// StreamRateLimits). Stateless; thread-safe.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "hourglass/v1/ratelimit.pb.h"
#include "server/domain/rate_limit_types.h"
#include "server/limits.h"
#include "server/validation.h"

namespace hourglass::server {

// The domain algorithm of a known proto value (UNSPECIFIED is FIXED_WINDOW and shares its state).
inline domain::RateLimitAlgorithm ToAlgorithm(hourglass::v1::RateLimitAlgorithm algorithm) {
  switch (algorithm) {
    case hourglass::v1::RATE_LIMIT_ALGORITHM_SLIDING_WINDOW:
      return domain::RateLimitAlgorithm::kSlidingWindow;
    case hourglass::v1::RATE_LIMIT_ALGORITHM_TOKEN_BUCKET:
      return domain::RateLimitAlgorithm::kTokenBucket;
    default:
      return domain::RateLimitAlgorithm::kFixedWindow;
  }
}

// Validates a CheckRateLimitRequest or a RateLimitCheck (same fields) and fills `out`, whose key
// views the message. Errors are INVALID_ARGUMENT naming `prefix` + the field and the limit
// ("checks[3].limit: must be > 0", "key: 2048 bytes exceeds max 1024").
template <typename CheckMessage>
absl::Status ToRateLimitCheck(const CheckMessage& message, std::string_view prefix,
                              const Limits& limits, domain::RateLimitCheck& out) {
  const absl::string_view p(prefix.data(), prefix.size());
  if (absl::Status s = CheckKey(absl::StrCat(p, "key"), message.key(), limits.max_key_bytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckEnum(absl::StrCat(p, "algorithm"), message.algorithm(),
                                 hourglass::v1::RateLimitAlgorithm_IsValid);
      !s.ok()) {
    return s;
  }
  if (message.limit() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(p, "limit: must be > 0"));
  }
  if (!message.has_period()) {
    return absl::InvalidArgumentError(absl::StrCat(p, "period: required"));
  }
  absl::StatusOr<int64_t> period = DurationToMs(absl::StrCat(p, "period"), message.period(),
                                                ZeroDuration::kRejected, limits.max_ttl_ms);
  if (!period.ok()) return period.status();
  out.key = message.key();
  out.algorithm = ToAlgorithm(message.algorithm());
  out.limit = message.limit();
  out.period_ms = *period;
  out.hits = message.has_hits() ? message.hits() : 1;
  out.burst.reset();
  if (message.has_burst()) out.burst = message.burst();
  // hits, burst and the bucket's refill bound.
  return domain::ValidateRateLimitCheck(out, limits.max_ttl_ms, prefix);
}

// Fills a CheckRateLimitResponse or a RateLimitResult (same fields). Both durations are always
// set (retry_after is 0s when allowed).
template <typename ResultMessage>
void FromRateLimitDecision(const domain::RateLimitDecision& decision, ResultMessage& out) {
  out.set_allowed(decision.allowed);
  out.set_limit(decision.limit);
  out.set_remaining(decision.remaining);
  *out.mutable_reset_after() = MsToDuration(decision.reset_after_ms);
  *out.mutable_retry_after() = MsToDuration(decision.retry_after_ms);
}

}  // namespace hourglass::server
