#pragma once

// RateLimiter: RateLimitService's logic (shared/API.md "RateLimitService") over the store.
//
// Every decision is one atomic store step: a single check is one Store::Update on its
// (key, algorithm) entry; a batch is one Store::UpdateMany over its distinct entries, so a batch
// sees and changes its keys as one instant even across shards (UpdateMany locks the shards in
// ascending order, so batches cannot deadlock). A denied check takes nothing and writes nothing;
// state written by a check carries the deadline at which it becomes equivalent to no state, so
// idle limits leave the store by themselves.
//
// Time: the store's clock (monotonic milliseconds).
//
// Thread-safety: thread-safe; holds only a reference to the (thread-safe) store.

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/domain/rate_limit_types.h"
#include "storage/store.h"

namespace hourglass::domain {

class RateLimiter {
 public:
  struct Options {
    // The store's max_ttl: every check is validated against it and no deadline goes beyond it.
    int64_t max_ttl_ms = 87600LL * 3600 * 1000;
  };

  // `store` must outlive the limiter.
  RateLimiter(storage::Store& store, Options options);

  // One check. INVALID_ARGUMENT for a check ValidateRateLimitCheck refuses or an empty key;
  // RESOURCE_EXHAUSTED when the new state does not fit under the store's cap (nothing taken).
  absl::StatusOr<RateLimitDecision> Check(const RateLimitCheck& check);

  // Several checks, evaluated in order in one atomic step; results in the same order. Two
  // checks on the same (key, algorithm) count cumulatively.
  //   all_or_nothing = false: each check is allowed or denied on its own.
  //   all_or_nothing = true: hits are taken only if every check allows. Otherwise nothing is
  //     taken and every result has allowed = false, the remaining and reset_after of its limit
  //     as it stands, and retry_after set (as computed in order) only on the checks that failed.
  // INVALID_ARGUMENT naming "checks[i]." when any check is invalid (nothing taken);
  // RESOURCE_EXHAUSTED when the new states do not fit (nothing taken).
  absl::StatusOr<std::vector<RateLimitDecision>> CheckMany(absl::Span<const RateLimitCheck> checks,
                                                           bool all_or_nothing);

  // Forgets the state of (key, algorithm); true when there was state.
  bool Reset(std::string_view key, RateLimitAlgorithm algorithm);

 private:
  storage::Store& store_;
  const Options options_;
};

}  // namespace hourglass::domain
