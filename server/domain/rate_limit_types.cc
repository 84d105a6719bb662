#include "server/domain/rate_limit_types.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace hourglass::domain {
namespace {

absl::Status Invalid(std::string_view prefix, std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(absl::string_view(prefix.data(), prefix.size()),
                                                 absl::string_view(field.data(), field.size()),
                                                 ": ",
                                                 absl::string_view(what.data(), what.size())));
}

}  // namespace

absl::Status ValidateRateLimitCheck(const RateLimitCheck& check, int64_t max_ttl_ms,
                                    std::string_view field_prefix) {
  if (check.limit <= 0) return Invalid(field_prefix, "limit", "must be > 0");
  if (check.period_ms <= 0) return Invalid(field_prefix, "period", "must be > 0");
  if (check.period_ms > max_ttl_ms) {
    return Invalid(field_prefix, "period",
                   absl::StrCat(check.period_ms, "ms exceeds max ", max_ttl_ms, "ms"));
  }
  if (check.hits < 0) return Invalid(field_prefix, "hits", "must not be negative");
  if (check.burst.has_value()) {
    if (check.algorithm != RateLimitAlgorithm::kTokenBucket) {
      return Invalid(field_prefix, "burst", "only applies to TOKEN_BUCKET");
    }
    if (*check.burst <= 0) return Invalid(field_prefix, "burst", "must be > 0");
  }
  if (check.algorithm == RateLimitAlgorithm::kTokenBucket) {
    // An empty bucket refills in burst x period / limit; the state (one timestamp) must be kept
    // that long, and the store keeps nothing beyond max_ttl. 128-bit: both factors may be huge.
    const __int128 burst = check.burst.value_or(check.limit);
    if (burst * check.period_ms > static_cast<__int128>(max_ttl_ms) * check.limit) {
      return Invalid(
          field_prefix, "burst",
          absl::StrCat("refill time burst x period / limit exceeds max ", max_ttl_ms, "ms"));
    }
  }
  return absl::OkStatus();
}

}  // namespace hourglass::domain
