#pragma once

// The byte layouts CacheService keeps in the store: a cache record (Space::kCache, one per key)
// and a tag index (Space::kIndex, one per tag, listing the keys filled with that tag).
//
// Both are compact binary (varints), versioned by a leading byte, and decoded defensively: a
// malformed value decodes to nullopt and never reads out of bounds. Decoded views point into the
// bytes they were decoded from and are valid only as long as those bytes are.
//
// Stateless; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace hourglass::domain::cache_codec {

// One key of the cache. Instants are monotonic milliseconds (Clock::MonotonicMs()).
//
// A record either holds a value (`has_value`: FRESH before `fresh_until_ms`, STALE before
// `stale_until_ms`, then dead) or is a placeholder that holds only a lease (a MISS being
// recomputed). Either may carry the key's current lease: the one caller allowed to revalidate
// until `lease_until_ms`.
struct Record {
  bool has_value = false;
  std::string_view value;
  int64_t fill_ms = 0;
  int64_t fresh_until_ms = 0;          // >= fill_ms
  int64_t stale_until_ms = 0;          // >= fresh_until_ms
  std::vector<std::string_view> tags;  // distinct; empty for a placeholder
  std::string_view lease_id;           // empty: no lease
  int64_t lease_until_ms = 0;
  // The cache's sequence number at the grant: a tag invalidated after it (higher sequence)
  // cancels the lease for a Fill carrying that tag.
  uint64_t lease_seq = 0;

  bool has_lease() const { return !lease_id.empty(); }
  bool CarriesTag(std::string_view tag) const;
};

// Precondition: fill_ms <= fresh_until_ms <= stale_until_ms.
std::string EncodeRecord(const Record& record);
std::optional<Record> DecodeRecord(std::string_view bytes);

// One member of a tag index: a cache key and the instant its value dies (its stale_until). A
// member past its deadline is logically gone: readers skip it and writers drop it.
struct TagMember {
  std::string_view key;
  int64_t deadline_ms = 0;
};

std::string EncodeTagIndex(absl::Span<const TagMember> members);
std::optional<std::vector<TagMember>> DecodeTagIndex(std::string_view bytes);

}  // namespace hourglass::domain::cache_codec
