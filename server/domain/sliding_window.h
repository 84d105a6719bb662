#pragma once

// SLIDING_WINDOW: Cloudflare's two-window estimate. Time is cut into windows of `period`, the
// first starting at the key's first hit. At elapsed time e into the current window, the hits
// that count are
//
//     previous x (period - e) / period + current
//
// (the previous window's hits weighted by the part of it still inside the sliding period), and a
// check passes when that estimate plus its hits stays within `limit`. Evaluated exactly in
// integers (both sides multiplied by the period), never in floating point.
//
// State: {previous, current, deadline - start} as three varints, the entry's deadline at the end
// of the window after the current one (the moment the current hits stop counting), so times in
// the value are relative to the entry's own deadline (see fixed_window.h). A changed period
// re-cuts the windows from the stored start; a changed limit applies to the counts as they stand.
//
// A value type; not thread-safe (callers run it inside one store step).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/domain/rate_limit_types.h"

namespace hourglass::domain {

class SlidingWindow {
 public:
  // The state of a key with no entry.
  SlidingWindow() = default;

  // The state stored as `value` in an entry whose deadline is `deadline_ms`; nullopt when the
  // value is malformed.
  static std::optional<SlidingWindow> Decode(std::string_view value, int64_t deadline_ms);

  // Takes `hits` (>= 0; 0 peeks) at `now_ms` when they fit. `params` must be valid.
  RateLimitDecision Check(const LimitParams& params, int64_t hits, int64_t now_ms);

  // After a check took hits: the instant from which the state equals an absent one.
  int64_t Deadline(const LimitParams& params) const {
    return start_ms_ + (current_ > 0 ? 2 : 1) * params.period_ms;
  }
  // The value to store with deadline `deadline_ms` (>= the window start).
  std::string Encode(int64_t deadline_ms) const;

 private:
  // Moves the windows forward so that `now_ms` falls in the current one.
  void Advance(int64_t period_ms, int64_t now_ms);

  bool exists_ = false;
  int64_t start_ms_ = 0;  // start of the current window
  int64_t previous_ = 0;  // hits of the window before it
  int64_t current_ = 0;   // hits of the current window
};

}  // namespace hourglass::domain
