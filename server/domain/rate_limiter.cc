#include "server/domain/rate_limiter.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/domain/rate_limit_state.h"

namespace hourglass::domain {
namespace {

absl::Status Validate(const RateLimitCheck& check, int64_t max_ttl_ms, std::string_view prefix) {
  if (check.key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(absl::string_view(prefix.data(), prefix.size()), "key: required"));
  }
  return ValidateRateLimitCheck(check, max_ttl_ms, prefix);
}

}  // namespace

RateLimiter::RateLimiter(storage::Store& store, Options options)
    : store_(store), options_(options) {}

absl::StatusOr<RateLimitDecision> RateLimiter::Check(const RateLimitCheck& check) {
  if (absl::Status valid = Validate(check, options_.max_ttl_ms, ""); !valid.ok()) return valid;
  const std::string store_key = RateLimitStoreKey(check.algorithm, check.key);
  const LimitParams params = ParamsOf(check);
  RateLimitDecision decision;
  absl::Status status = store_.Update(
      storage::KeyRef{storage::Space::kRateLimit, store_key}, [&](storage::Cursor& cursor) {
        // The instant is read under the shard lock, so decisions on one key are ordered in time
        // the same way they are ordered by the lock.
        const int64_t now = store_.clock().MonotonicMs();
        LimitState state = LimitState::Load(check.algorithm, cursor);
        decision = state.Check(params, check.hits, now);
        if (state.NeedsWrite(params, now)) state.Store(params, now + options_.max_ttl_ms, cursor);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return decision;
}

absl::StatusOr<std::vector<RateLimitDecision>> RateLimiter::CheckMany(
    absl::Span<const RateLimitCheck> checks, bool all_or_nothing) {
  for (size_t i = 0; i < checks.size(); ++i) {
    const std::string prefix = absl::StrCat("checks[", i, "].");
    if (absl::Status valid = Validate(checks[i], options_.max_ttl_ms, prefix); !valid.ok()) {
      return valid;
    }
  }
  std::vector<RateLimitDecision> results(checks.size());
  if (checks.empty()) return results;

  // One store entry (slot) per distinct (key, algorithm); UpdateMany wants distinct keys.
  std::vector<std::string> store_keys;
  std::vector<size_t> slot_of(checks.size());
  {
    absl::flat_hash_map<std::string, size_t> slots;
    for (size_t i = 0; i < checks.size(); ++i) {
      std::string store_key = RateLimitStoreKey(checks[i].algorithm, checks[i].key);
      auto [it, inserted] = slots.try_emplace(store_key, store_keys.size());
      if (inserted) store_keys.push_back(std::move(store_key));
      slot_of[i] = it->second;
    }
  }
  std::vector<storage::KeyRef> refs;
  refs.reserve(store_keys.size());
  for (const std::string& key : store_keys) {
    refs.push_back(storage::KeyRef{storage::Space::kRateLimit, key});
  }

  absl::Status status = store_.UpdateMany(refs, [&](absl::Span<storage::Cursor* const> cursors) {
    const int64_t now = store_.clock().MonotonicMs();
    // Each slot's state, and the parameters of its last check (they set the deadline it is
    // stored with: a changed period applies from the latest check).
    std::vector<std::optional<LimitState>> states(store_keys.size());
    std::vector<LimitParams> last_params(store_keys.size());
    auto state_of = [&](size_t i) -> LimitState& {
      std::optional<LimitState>& state = states[slot_of[i]];
      if (!state.has_value()) state = LimitState::Load(checks[i].algorithm, *cursors[slot_of[i]]);
      return *state;
    };

    bool refused = false;
    for (size_t i = 0; i < checks.size(); ++i) {
      const LimitParams params = ParamsOf(checks[i]);
      results[i] = state_of(i).Check(params, checks[i].hits, now);
      last_params[slot_of[i]] = params;
      if (!results[i].allowed) refused = true;
    }

    if (all_or_nothing && refused) {
      // Nothing is taken: report each limit as it stands (a peek on the state as loaded), keep
      // retry_after from the in-order evaluation for the checks that failed.
      for (size_t i = 0; i < checks.size(); ++i) {
        LimitState as_stored = LimitState::Load(checks[i].algorithm, *cursors[slot_of[i]]);
        const RateLimitDecision now_state = as_stored.Check(ParamsOf(checks[i]), 0, now);
        const bool failed = !results[i].allowed;
        results[i].allowed = false;
        results[i].limit = now_state.limit;
        results[i].remaining = now_state.remaining;
        results[i].reset_after_ms = now_state.reset_after_ms;
        if (!failed) results[i].retry_after_ms = 0;
      }
      return absl::OkStatus();
    }

    for (size_t slot = 0; slot < states.size(); ++slot) {
      if (states[slot]->NeedsWrite(last_params[slot], now)) {
        states[slot]->Store(last_params[slot], now + options_.max_ttl_ms, *cursors[slot]);
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return results;
}

bool RateLimiter::Reset(std::string_view key, RateLimitAlgorithm algorithm) {
  const std::string store_key = RateLimitStoreKey(algorithm, key);
  const storage::KeyRef ref{storage::Space::kRateLimit, store_key};
  return store_.Delete(absl::MakeConstSpan(&ref, 1)) > 0;
}

}  // namespace hourglass::domain
