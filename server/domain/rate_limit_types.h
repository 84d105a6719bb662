#pragma once

// Plain types of RateLimitService (shared/API.md "RateLimitService"): what one check asks, what
// it answers, and the validation every entry point applies. No gRPC, no protobuf.

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace hourglass::domain {

// How a limit counts hits. State is kept per (key, algorithm): the same key under two
// algorithms is two independent limits.
enum class RateLimitAlgorithm : uint8_t {
  // A window of `period` that starts at the key's first hit; at most `limit` hits per window.
  kFixedWindow,
  // The hits of the current window plus the previous window's, weighted by the part of it still
  // inside the sliding period (Cloudflare's two-window estimate), stay within `limit`.
  kSlidingWindow,
  // GCRA: refills at `limit` per `period` and holds at most `burst` (one timestamp per key).
  kTokenBucket,
};

// One check. `key` is viewed, not owned: it must outlive the call that takes the check.
struct RateLimitCheck {
  std::string_view key;
  RateLimitAlgorithm algorithm = RateLimitAlgorithm::kFixedWindow;
  int64_t limit = 0;             // hits per period, > 0
  int64_t period_ms = 0;         // window length or refill period, > 0 and <= max_ttl
  int64_t hits = 1;              // hits to take; 0 peeks (reports whether one hit would fit now)
  std::optional<int64_t> burst;  // kTokenBucket only: capacity, > 0; unset = `limit`
};

// What a check answered. Times are milliseconds from the check's instant.
struct RateLimitDecision {
  // The hits were taken (for a peek: one hit would be allowed now).
  bool allowed = false;
  // The capacity: `limit`, or the burst for kTokenBucket.
  int64_t limit = 0;
  // Hits that could still be taken now, after this check; never negative.
  int64_t remaining = 0;
  // Until the limit is fully available again if no more hits come (0 when it already is).
  int64_t reset_after_ms = 0;
  // 0 when allowed. When denied: until the same check could pass if nothing else takes hits;
  // equal to reset_after_ms when the hits exceed the capacity (the check can never pass).
  int64_t retry_after_ms = 0;
};

// The parameters an algorithm needs, resolved from a validated check.
struct LimitParams {
  int64_t limit = 0;
  int64_t period_ms = 0;
  int64_t burst = 0;  // kTokenBucket capacity; equal to `limit` for the window algorithms
};

inline LimitParams ParamsOf(const RateLimitCheck& check) {
  return LimitParams{check.limit, check.period_ms, check.burst.value_or(check.limit)};
}

// INVALID_ARGUMENT naming the field (prefixed with `field_prefix`, e.g. "checks[3].") and the
// limit when: limit <= 0; period <= 0 or over `max_ttl_ms`; hits < 0; burst <= 0, or set with
// an algorithm other than kTokenBucket; or a bucket whose fill time (burst x period / limit)
// exceeds `max_ttl_ms` (its state could not be kept that long). The key is the adapter's to
// check (its size limit is a server flag). Thread-safe (pure).
absl::Status ValidateRateLimitCheck(const RateLimitCheck& check, int64_t max_ttl_ms,
                                    std::string_view field_prefix = {});

}  // namespace hourglass::domain
