#include "server/domain/fixed_window.h"

#include <algorithm>

#include "server/domain/byte_codec.h"

namespace hourglass::domain {

std::optional<FixedWindow> FixedWindow::Decode(std::string_view value, int64_t deadline_ms) {
  ByteReader reader(value);
  uint64_t count = 0;
  uint64_t offset = 0;
  if (!reader.GetVarint(&count) || !reader.GetVarint(&offset) || !reader.at_end() ||
      count > static_cast<uint64_t>(INT64_MAX) || offset > static_cast<uint64_t>(deadline_ms)) {
    return std::nullopt;
  }
  FixedWindow state;
  state.exists_ = true;
  state.count_ = static_cast<int64_t>(count);
  state.start_ms_ = deadline_ms - static_cast<int64_t>(offset);
  return state;
}

RateLimitDecision FixedWindow::Check(const LimitParams& params, int64_t hits, int64_t now_ms) {
  const int64_t limit = params.limit;
  // The window in force under the current period; a window that has ended counts as none.
  bool active = exists_ && now_ms < start_ms_ + params.period_ms;
  // A peek asks whether one hit would pass.
  const int64_t need = std::max<int64_t>(hits, 1);
  const int64_t used = active ? count_ : 0;
  // `used` may exceed a lowered limit; written so that nothing overflows.
  const bool allowed = used <= limit && need <= limit - used;
  if (allowed && hits > 0) {
    if (!active) {
      exists_ = true;
      start_ms_ = now_ms;
      count_ = 0;
      active = true;
    }
    count_ += hits;
  }

  RateLimitDecision decision;
  decision.allowed = allowed;
  decision.limit = limit;
  decision.remaining = active ? std::max<int64_t>(0, limit - count_) : limit;
  decision.reset_after_ms = active ? start_ms_ + params.period_ms - now_ms : 0;
  if (!allowed) {
    // need <= limit: the next window will take it, and `active` holds (used > limit - need).
    decision.retry_after_ms =
        need > limit ? decision.reset_after_ms : start_ms_ + params.period_ms - now_ms;
  }
  return decision;
}

std::string FixedWindow::Encode(int64_t deadline_ms) const {
  ByteWriter writer;
  writer.PutVarint(static_cast<uint64_t>(count_));
  writer.PutVarint(static_cast<uint64_t>(deadline_ms - start_ms_));
  return writer.Take();
}

}  // namespace hourglass::domain
