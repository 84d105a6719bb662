#include "server/domain/rate_limit_state.h"

#include <algorithm>

namespace hourglass::domain {
namespace {

char Tag(RateLimitAlgorithm algorithm) {
  switch (algorithm) {
    case RateLimitAlgorithm::kFixedWindow:
      return 'F';
    case RateLimitAlgorithm::kSlidingWindow:
      return 'S';
    case RateLimitAlgorithm::kTokenBucket:
      return 'T';
  }
  return 'F';
}

// Whether the cursor holds a value this layer wrote (it always sets a deadline).
bool HasState(const storage::Cursor& cursor) {
  return cursor.found() && cursor.deadline() != storage::kNoDeadline;
}

// The decoded state, or the absent one when the key is missing or its value malformed.
template <typename State>
State LoadAs(const storage::Cursor& cursor) {
  if (!HasState(cursor)) return State();
  return State::Decode(cursor.value(), cursor.deadline()).value_or(State());
}

}  // namespace

std::string RateLimitStoreKey(RateLimitAlgorithm algorithm, std::string_view key) {
  std::string store_key;
  store_key.reserve(key.size() + 1);
  store_key.push_back(Tag(algorithm));
  store_key.append(key);
  return store_key;
}

std::string_view RateLimitKeyFromStoreKey(std::string_view store_key) {
  if (store_key.empty()) return {};
  switch (store_key[0]) {
    case 'F':
    case 'S':
    case 'T':
    case kEnvoyCounterTag:
      return store_key.substr(1);
    default:
      return {};
  }
}

LimitState LimitState::Load(RateLimitAlgorithm algorithm, const storage::Cursor& cursor) {
  const int64_t deadline = HasState(cursor) ? cursor.deadline() : 0;
  switch (algorithm) {
    case RateLimitAlgorithm::kFixedWindow:
      return LimitState(LoadAs<FixedWindow>(cursor), deadline);
    case RateLimitAlgorithm::kSlidingWindow:
      return LimitState(LoadAs<SlidingWindow>(cursor), deadline);
    case RateLimitAlgorithm::kTokenBucket:
      return LimitState(LoadAs<TokenBucket>(cursor), deadline);
  }
  return LimitState(FixedWindow(), 0);
}

RateLimitDecision LimitState::Check(const LimitParams& params, int64_t hits, int64_t now_ms) {
  RateLimitDecision decision =
      std::visit([&](auto& state) { return state.Check(params, hits, now_ms); }, state_);
  if (decision.allowed && hits > 0) dirty_ = true;
  return decision;
}

int64_t LimitState::Deadline(const LimitParams& params) const {
  return std::visit([&](const auto& state) { return state.Deadline(params); }, state_);
}

bool LimitState::NeedsWrite(const LimitParams& params, int64_t now_ms) const {
  if (dirty_) return true;
  if (stored_deadline_ms_ == 0) return false;  // nothing stored, nothing taken
  const int64_t deadline = Deadline(params);
  return deadline > now_ms && deadline > stored_deadline_ms_;
}

void LimitState::Store(const LimitParams& params, int64_t max_deadline_ms,
                       storage::Cursor& cursor) const {
  std::visit(
      [&](const auto& state) {
        const int64_t deadline = std::min(state.Deadline(params), max_deadline_ms);
        cursor.Put(state.Encode(deadline), deadline);
      },
      state_);
}

}  // namespace hourglass::domain
