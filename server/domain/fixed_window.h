#pragma once

// FIXED_WINDOW: at most `limit` hits per window of `period`; the window starts at the key's first
// hit (not at a clock boundary), and the next window at the first hit after it ends.
//
// State: the hit count and the window start. Stored as two varints, {count, deadline - start},
// with the entry's deadline at the window end: times inside the value are relative to the
// entry's own deadline, so the value stays right wherever the deadline is carried (a snapshot
// restores deadlines, never monotonic instants). A changed period moves the end of the current
// window (start + new period); a changed limit applies to the count as it stands.
//
// A value type; not thread-safe (callers run it inside one store step).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/domain/rate_limit_types.h"

namespace hourglass::domain {

class FixedWindow {
 public:
  // The state of a key with no entry.
  FixedWindow() = default;

  // The state stored as `value` in an entry whose deadline is `deadline_ms`; nullopt when the
  // value is malformed.
  static std::optional<FixedWindow> Decode(std::string_view value, int64_t deadline_ms);

  // Takes `hits` (>= 0; 0 peeks) at `now_ms` when they fit. Changes the state only when hits
  // were taken. `params` must be valid (ValidateRateLimitCheck).
  RateLimitDecision Check(const LimitParams& params, int64_t hits, int64_t now_ms);

  // After a check took hits: the instant from which the state equals an absent one.
  int64_t Deadline(const LimitParams& params) const { return start_ms_ + params.period_ms; }
  // The value to store with deadline `deadline_ms` (>= the window start).
  std::string Encode(int64_t deadline_ms) const;

 private:
  bool exists_ = false;
  int64_t start_ms_ = 0;
  int64_t count_ = 0;
};

}  // namespace hourglass::domain
