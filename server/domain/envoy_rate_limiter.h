#pragma once

// EnvoyRateLimiter: the logic of envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit
// (shared/API.md, "Envoy"), with the semantics of Envoy's reference rate limit service:
//
//   - Every descriptor is evaluated and gets one status, in request order. The overall code is
//     OVER_LIMIT when any descriptor that is not in shadow mode is over its limit.
//   - An unknown domain is OK for every descriptor. A descriptor the config does not match (or
//     whose limit another matched limit `replaces`) is OK without a current limit. A per-request
//     limit override applies whenever the domain is known, matched or not (never in shadow
//     mode). An unlimited descriptor is OK with limit_remaining 4294967295 and is not counted.
//   - Counting: fixed windows aligned to unit boundaries of wall-clock time (a minute window
//     starts at :00), as in the reference; a week is 7 days, a month 30, a year 365 (aligned
//     to multiples of those since the Unix epoch). Hits are added even when the descriptor is
//     over its limit; a descriptor is over when its count after the addition exceeds
//     requests_per_unit (a check-only descriptor, hits 0, adds nothing).
//   - A shadow-mode descriptor is counted and evaluated but reports OK; `shadow_over` says it
//     was over (for metrics).
//
// Counters live in storage::Space::kRateLimit under 'E' + domain + the request descriptor's
// entries + unit + window index (rate_limit_state.h), one Store::Update each, with the deadline
// at the window's end (monotonic: window end in wall time converted once per request). They do
// not depend on the config object, so a reload that keeps a descriptor keeps its counters.
//
// Thread-safety: thread-safe. The config is swapped whole by SetConfig; a request uses the
// config it started with.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/domain/envoy_limits.h"
#include "storage/mutex.h"
#include "storage/store.h"

namespace hourglass::domain {

// A per-request limit (RateLimitDescriptor.limit).
struct EnvoyLimitOverride {
  uint32_t requests_per_unit = 0;
  EnvoyUnit unit = EnvoyUnit::kSecond;  // must not be kUnknown
};

// One request descriptor, with its hits already resolved (the descriptor's hits_addend if set,
// else the request's, where 0 means 1).
struct EnvoyDescriptor {
  std::vector<EnvoyEntry> entries;
  std::optional<EnvoyLimitOverride> limit_override;
  uint64_t hits = 1;  // 0: check only
};

enum class EnvoyCode { kOk, kOverLimit };

// The limit that applied to a descriptor.
struct EnvoyCurrentLimit {
  uint32_t requests_per_unit = 0;
  EnvoyUnit unit = EnvoyUnit::kUnknown;
  std::string name;
};

struct EnvoyDescriptorStatus {
  EnvoyCode code = EnvoyCode::kOk;
  // Set when a counted limit applied (not for unknown domains, unmatched, replaced or
  // unlimited descriptors).
  std::optional<EnvoyCurrentLimit> current_limit;
  uint32_t limit_remaining = 0;
  // With current_limit: until the current window ends.
  int64_t duration_until_reset_ms = 0;
  // A shadow-mode descriptor that was over its limit (reported OK).
  bool shadow_over = false;
};

struct EnvoyResponse {
  EnvoyCode overall_code = EnvoyCode::kOk;
  std::vector<EnvoyDescriptorStatus> statuses;  // one per request descriptor, in order
};

class EnvoyRateLimiter {
 public:
  struct Options {
    // The store's max_ttl: no counter deadline goes beyond it (a window longer than max_ttl is
    // forgotten after max_ttl).
    int64_t max_ttl_ms = 87600LL * 3600 * 1000;
  };

  // `store` must outlive the limiter. Starts with no domains (every request is OK).
  EnvoyRateLimiter(storage::Store& store, Options options);

  // Replaces the config; requests already running finish with the old one.
  void SetConfig(std::shared_ptr<const EnvoyLimitsConfig> config);
  std::shared_ptr<const EnvoyLimitsConfig> config() const;

  // Evaluates and counts `descriptors` of `domain`. Errors come only from the store
  // (RESOURCE_EXHAUSTED when a new counter does not fit); counters already updated by earlier
  // descriptors of the request stay counted, as in the reference service.
  absl::StatusOr<EnvoyResponse> ShouldRateLimit(std::string_view domain,
                                                absl::Span<const EnvoyDescriptor> descriptors);

 private:
  // Adds `hits` to the counter of `descriptor` under `limit` in the window containing
  // `now_wall_ms` and fills the status from the count after the addition.
  absl::Status Count(std::string_view domain, const EnvoyDescriptor& descriptor,
                     const EnvoyLimit& limit, int64_t now_wall_ms, int64_t now_mono_ms,
                     EnvoyDescriptorStatus& status);

  storage::Store& store_;
  const Options options_;
  mutable storage::Mutex mu_;
  std::shared_ptr<const EnvoyLimitsConfig> config_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hourglass::domain
