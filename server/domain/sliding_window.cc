#include "server/domain/sliding_window.h"

#include <algorithm>
#include <limits>

#include "server/domain/byte_codec.h"
#include "server/domain/rate_limit_math.h"

namespace hourglass::domain {

using rate_math::CeilDiv;
using rate_math::Clamp64;
using rate_math::FloorDiv;
using rate_math::Int128;

std::optional<SlidingWindow> SlidingWindow::Decode(std::string_view value, int64_t deadline_ms) {
  ByteReader reader(value);
  uint64_t previous = 0;
  uint64_t current = 0;
  uint64_t offset = 0;
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (!reader.GetVarint(&previous) || !reader.GetVarint(&current) || !reader.GetVarint(&offset) ||
      !reader.at_end() || previous > kMax || current > kMax ||
      offset > static_cast<uint64_t>(deadline_ms)) {
    return std::nullopt;
  }
  SlidingWindow state;
  state.exists_ = true;
  state.previous_ = static_cast<int64_t>(previous);
  state.current_ = static_cast<int64_t>(current);
  state.start_ms_ = deadline_ms - static_cast<int64_t>(offset);
  return state;
}

void SlidingWindow::Advance(int64_t period_ms, int64_t now_ms) {
  if (!exists_) return;
  // A start after now can only come from a deadline carried across clocks (a restore); it is
  // read as a window that starts now, keeping its counts.
  start_ms_ = std::min(start_ms_, now_ms);
  if (now_ms - start_ms_ < period_ms) return;
  const int64_t windows = (now_ms - start_ms_) / period_ms;
  // One window on: the current hits become the previous ones. More: both have slid out.
  previous_ = windows == 1 ? current_ : 0;
  current_ = 0;
  start_ms_ += windows * period_ms;
  if (previous_ == 0) exists_ = false;
}

RateLimitDecision SlidingWindow::Check(const LimitParams& params, int64_t hits, int64_t now_ms) {
  const Int128 limit = params.limit;
  const Int128 period = params.period_ms;
  Advance(params.period_ms, now_ms);
  if (!exists_) {
    // A key with nothing counting starts its windows now (if this check takes hits).
    start_ms_ = now_ms;
    previous_ = 0;
    current_ = 0;
  }
  const Int128 elapsed = now_ms - start_ms_;  // in [0, period)
  // The previous window's weight, in hits x period (so everything below stays integral).
  const Int128 weighted_previous = Int128{previous_} * (period - elapsed);
  const int64_t need = std::max<int64_t>(hits, 1);
  const bool allowed = weighted_previous + (Int128{current_} + need) * period <= limit * period;
  if (allowed && hits > 0) {
    exists_ = true;
    current_ += hits;
  }

  RateLimitDecision decision;
  decision.allowed = allowed;
  decision.limit = params.limit;
  decision.remaining =
      Clamp64(FloorDiv(limit * period - weighted_previous, period) - current_, 0, params.limit);
  // Fully available once nothing counts: the current hits count until the end of the next
  // window, the previous ones until the end of this one.
  if (current_ > 0) {
    decision.reset_after_ms = start_ms_ + 2 * params.period_ms - now_ms;
  } else if (previous_ > 0) {
    decision.reset_after_ms = start_ms_ + params.period_ms - now_ms;
  }
  if (allowed) return decision;
  if (need > params.limit) {
    decision.retry_after_ms = decision.reset_after_ms;
  } else if (Int128{current_} + need <= limit) {
    // Passes later in this window, once the previous window's weight has shrunk enough:
    //   previous x (period - e) + (current + need) x period <= limit x period
    //   <=> e >= period + (current + need - limit) x period / previous   (previous > 0 here)
    const Int128 excess = (Int128{current_} + need - limit) * period;  // <= 0
    decision.retry_after_ms = Clamp64(period + CeilDiv(excess, previous_) - elapsed);
  } else {
    // Only in the next window, where the current hits become the previous ones:
    //   current x (period - e2) + need x period <= limit x period
    //   <=> e2 >= (current + need - limit) x period / current            (current > 0 here)
    // (e2 = period means the window after that, where nothing counts.)
    const Int128 wait_in_next = CeilDiv((Int128{current_} + need - limit) * period, current_);
    decision.retry_after_ms = Clamp64(period - elapsed + wait_in_next);
  }
  return decision;
}

std::string SlidingWindow::Encode(int64_t deadline_ms) const {
  ByteWriter writer;
  writer.PutVarint(static_cast<uint64_t>(previous_));
  writer.PutVarint(static_cast<uint64_t>(current_));
  writer.PutVarint(static_cast<uint64_t>(deadline_ms - start_ms_));
  return writer.Take();
}

}  // namespace hourglass::domain
