#pragma once

// The state of one (key, algorithm) limit as one value, whichever the algorithm, and where it
// lives in the store. Used by RateLimiter; a value type, not thread-safe.
//
// Store keys (storage::Space::kRateLimit): one tag byte, then the caller's key.
//   'F' FIXED_WINDOW (and UNSPECIFIED)   'S' SLIDING_WINDOW   'T' TOKEN_BUCKET
//   'E' Envoy ShouldRateLimit counters (envoy_rate_limiter.h)
// so the same key under two algorithms, or an Envoy descriptor, never shares an entry.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "server/domain/fixed_window.h"
#include "server/domain/rate_limit_types.h"
#include "server/domain/sliding_window.h"
#include "server/domain/token_bucket.h"
#include "storage/store.h"

namespace hourglass::domain {

inline constexpr char kEnvoyCounterTag = 'E';

// The store key of `key` under `algorithm`.
std::string RateLimitStoreKey(RateLimitAlgorithm algorithm, std::string_view key);

// The caller's key inside a store key of the rate-limit space (for events and statistics);
// empty for a key this layer did not write.
std::string_view RateLimitKeyFromStoreKey(std::string_view store_key);

class LimitState {
 public:
  // The state under `cursor`: absent when the key is not found or its value is malformed (a
  // malformed value is replaced by the next write rather than failing every check).
  static LimitState Load(RateLimitAlgorithm algorithm, const storage::Cursor& cursor);

  // See FixedWindow::Check; remembers whether hits were taken.
  RateLimitDecision Check(const LimitParams& params, int64_t hits, int64_t now_ms);

  // Whether the state must be written after checks with `params` (the last ones) at `now_ms`:
  // a check took hits, or the stored entry would expire before the state stops mattering (a
  // longer period extends the current window even when the check itself was denied).
  bool NeedsWrite(const LimitParams& params, int64_t now_ms) const;
  // Writes the state through `cursor` with its deadline, capped at `max_deadline_ms` (the
  // store refuses deadlines beyond now + max_ttl).
  void Store(const LimitParams& params, int64_t max_deadline_ms, storage::Cursor& cursor) const;

 private:
  LimitState(std::variant<FixedWindow, SlidingWindow, TokenBucket> state, int64_t deadline_ms)
      : state_(std::move(state)), stored_deadline_ms_(deadline_ms) {}

  int64_t Deadline(const LimitParams& params) const;

  std::variant<FixedWindow, SlidingWindow, TokenBucket> state_;
  // The deadline of the entry as loaded; 0 when there was none.
  int64_t stored_deadline_ms_ = 0;
  bool dirty_ = false;
};

}  // namespace hourglass::domain
