#pragma once

// TOKEN_BUCKET as GCRA (the generic cell rate algorithm): a bucket of `burst` hits that refills
// at `limit` per `period`, kept as one instant per key, the theoretical arrival time (TAT): the
// moment the bucket will be full again. With emission interval T = period / limit, a check of n
// hits at `now` passes when
//
//     max(TAT, now) + n x T - now <= burst x T
//
// and then moves TAT to max(TAT, now) + n x T. T is rarely a whole number of milliseconds, so
// every instant is kept exactly in units of 1/limit ms (T is then exactly `period` units) and the
// inequalities are evaluated in 128-bit integers.
//
// State: {scale, back} as two varints, with the entry's deadline at ceil(TAT) (when the bucket
// is full and the state equals an absent one): TAT = deadline - back / scale ms, where `scale`
// is the limit the TAT was computed with. A changed limit rescales TAT, rounding toward later
// (never grants a fraction of a hit); a changed period or burst applies from the next check.
//
// A value type; not thread-safe (callers run it inside one store step).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/domain/rate_limit_types.h"

namespace hourglass::domain {

class TokenBucket {
 public:
  // The state of a key with no entry (a full bucket).
  TokenBucket() = default;

  // The state stored as `value` in an entry whose deadline is `deadline_ms`; nullopt when the
  // value is malformed.
  static std::optional<TokenBucket> Decode(std::string_view value, int64_t deadline_ms);

  // Takes `hits` (>= 0; 0 peeks) at `now_ms` when they fit. `params` must be valid
  // (ValidateRateLimitCheck bounds burst x period / limit by max_ttl).
  RateLimitDecision Check(const LimitParams& params, int64_t hits, int64_t now_ms);

  // After a check took hits: the instant from which the state equals an absent one (ceil(TAT)).
  int64_t Deadline(const LimitParams& params) const { return deadline_ms_; }
  // The value to store with deadline `deadline_ms`.
  std::string Encode(int64_t deadline_ms) const;

 private:
  bool exists_ = false;
  // TAT = deadline_ms_ - back_ / scale_ ms.
  int64_t deadline_ms_ = 0;
  int64_t scale_ = 1;
  int64_t back_ = 0;
};

}  // namespace hourglass::domain
