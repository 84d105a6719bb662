#include "server/domain/token_bucket.h"

#include <algorithm>
#include <limits>

#include "server/domain/byte_codec.h"
#include "server/domain/rate_limit_math.h"

namespace hourglass::domain {

using rate_math::CeilDiv;
using rate_math::Clamp64;
using rate_math::FloorDiv;
using rate_math::Int128;

std::optional<TokenBucket> TokenBucket::Decode(std::string_view value, int64_t deadline_ms) {
  ByteReader reader(value);
  uint64_t scale = 0;
  uint64_t back = 0;
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (!reader.GetVarint(&scale) || !reader.GetVarint(&back) || !reader.at_end() || scale == 0 ||
      scale > kMax || back > kMax) {
    return std::nullopt;
  }
  TokenBucket state;
  state.exists_ = true;
  state.deadline_ms_ = deadline_ms;
  state.scale_ = static_cast<int64_t>(scale);
  state.back_ = static_cast<int64_t>(back);
  return state;
}

RateLimitDecision TokenBucket::Check(const LimitParams& params, int64_t hits, int64_t now_ms) {
  // Every instant and duration below is in units of 1/limit ms, where T is `period` units.
  const Int128 scale = params.limit;
  const Int128 interval = params.period_ms;
  const Int128 tolerance = Int128{params.burst} * interval;  // burst x T
  const Int128 now = Int128{now_ms} * scale;
  // The stored TAT in the current scale, rounded toward later when the limit changed.
  Int128 tat = now;
  if (exists_) {
    tat = Int128{deadline_ms_} * scale - FloorDiv(Int128{back_} * scale, scale_);
  }
  const Int128 start = std::max(tat, now);
  const int64_t need = std::max<int64_t>(hits, 1);
  const bool allowed = start + need * interval - now <= tolerance;
  Int128 after = start;
  if (allowed && hits > 0) {
    after = start + hits * interval;
    exists_ = true;
    deadline_ms_ = Clamp64(CeilDiv(after, scale));
    scale_ = params.limit;
    back_ = Clamp64(Int128{deadline_ms_} * scale - after);  // in [0, scale)
  }

  RateLimitDecision decision;
  decision.allowed = allowed;
  decision.limit = params.burst;
  decision.remaining = Clamp64(FloorDiv(now + tolerance - after, interval), 0, params.burst);
  decision.reset_after_ms = Clamp64(CeilDiv(after - now, scale));
  if (!allowed) {
    // Denied with need <= burst means TAT > now; it passes once now' >= TAT + need x T - burst x T.
    decision.retry_after_ms =
        need > params.burst ? decision.reset_after_ms
                            : Clamp64(CeilDiv(tat + need * interval - tolerance - now, scale));
  }
  return decision;
}

std::string TokenBucket::Encode(int64_t deadline_ms) const {
  // Re-anchored on the deadline actually stored; a deadline before ceil(TAT) (never chosen by
  // RateLimiter, which keeps TAT within max_ttl) would move TAT earlier, so back stays >= 0.
  const Int128 back = Int128{back_} + (Int128{deadline_ms} - deadline_ms_) * scale_;
  ByteWriter writer;
  writer.PutVarint(static_cast<uint64_t>(scale_));
  writer.PutVarint(static_cast<uint64_t>(Clamp64(back)));
  return writer.Take();
}

}  // namespace hourglass::domain
