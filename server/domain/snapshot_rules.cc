#include "server/domain/snapshot_rules.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

#include "server/domain/cache_codec.h"
#include "server/domain/routing.h"
#include "server/domain/token_keys.h"

namespace hourglass::domain {
namespace {

using storage::Space;

// Index key prefixes in Space::kIndex: sessions.cc, token_keys.cc and cache.cc own them;
// tests/domain/snapshot_rules_test.cc checks these copies against the real writers.
constexpr std::string_view kSessionIndexPrefix = "s:";
constexpr std::string_view kTokenIndexPrefix = "t:";
constexpr std::string_view kCacheTagIndexPrefix = "ct:";

int64_t Shift(int64_t instant, int64_t shift_ms) {
  int64_t out = 0;
  if (__builtin_add_overflow(instant, shift_ms, &out)) {
    return shift_ms > 0 ? std::numeric_limits<int64_t>::max() : 0;
  }
  return out;
}

RestoredValue RebaseCacheRecord(std::string_view value, int64_t shift_ms) {
  std::optional<cache_codec::Record> record = cache_codec::DecodeRecord(value);
  if (!record.has_value()) return {};
  RestoredValue out;
  if (!record->has_value) {
    out.kind = RestoredValue::Kind::kDropped;  // a MISS being recomputed: only a lease
    return out;
  }
  // Monotonic instants are non-negative (the codec clamps them): an instant from before this
  // process's clock began is clamped to 0 while the later ones keep their place.
  cache_codec::Record next = *record;
  next.fill_ms = std::max<int64_t>(Shift(record->fill_ms, shift_ms), 0);
  next.fresh_until_ms = std::max(Shift(record->fresh_until_ms, shift_ms), next.fill_ms);
  next.stale_until_ms = std::max(Shift(record->stale_until_ms, shift_ms), next.fresh_until_ms);
  next.lease_id = {};
  next.lease_until_ms = 0;
  next.lease_seq = 0;
  out.kind = RestoredValue::Kind::kRewritten;
  out.value = cache_codec::EncodeRecord(next);
  out.deadline = next.stale_until_ms;  // the lease, which may have outlived it, is gone
  return out;
}

RestoredValue RebaseTagIndex(std::string_view value, int64_t deadline, int64_t shift_ms) {
  std::optional<std::vector<cache_codec::TagMember>> members = cache_codec::DecodeTagIndex(value);
  if (!members.has_value()) return {};
  for (cache_codec::TagMember& m : *members) m.deadline_ms = Shift(m.deadline_ms, shift_ms);
  RestoredValue out;
  out.kind = RestoredValue::Kind::kRewritten;
  out.value = cache_codec::EncodeTagIndex(*members);
  out.deadline = deadline;
  return out;
}

}  // namespace

std::string SnapshotAffinity(Space space, std::string_view key) {
  switch (space) {
    case Space::kSession:
      // Session ids end with their user's routing tag (sessions.cc, MemberAffinity).
      return std::string(key.size() >= kRoutingTagChars ? TagOfRoutedSecret(key) : key);
    case Space::kToken:
      return std::string(TokenKeyAffinity(key));
    case Space::kIndex:
      if (key.starts_with(kSessionIndexPrefix)) {
        return RoutingTag(key.substr(kSessionIndexPrefix.size()));
      }
      if (key.starts_with(kTokenIndexPrefix)) {
        return RoutingTag(key.substr(kTokenIndexPrefix.size()));
      }
      return {};
    case Space::kKv:
    case Space::kRateLimit:
    case Space::kCache:
      return {};
  }
  return {};
}

bool RestorableAfterUncleanStop(Space space, std::string_view /*key*/) {
  return space == Space::kKv;
}

RestoredValue RebaseValue(Space space, std::string_view key, std::string_view value,
                          int64_t deadline, int64_t shift_ms) {
  if (space == Space::kCache) return RebaseCacheRecord(value, shift_ms);
  if (space == Space::kIndex && key.starts_with(kCacheTagIndexPrefix)) {
    return RebaseTagIndex(value, deadline, shift_ms);
  }
  return {};
}

}  // namespace hourglass::domain
