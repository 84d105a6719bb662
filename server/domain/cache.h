#pragma once

// Cache: stale-while-revalidate with one revalidator per key (leases) and tag invalidation,
// over the store's atomic steps. The domain half of CacheService (API.md, cache.proto).
//
// Model
//   - A key's record (Space::kCache) holds a value that is FRESH for fresh_for after its fill,
//     then STALE (still served) for stale_for, then gone; or, on a miss being recomputed, only a
//     lease. The record's store deadline is the last instant anything in it matters: the end of
//     the stale window or of the lease, whichever is later.
//   - Lookup is one atomic step on the key. On STALE or MISS with no live lease it grants one (a
//     random id, recorded in the record): exactly one caller per key and lease window gets
//     revalidate = true; the others get the stale value, or MISS with revalidate = false.
//   - A lease is honoured by Fill until it expires (lease_ttl after the grant), unless a newer
//     lease or value replaced it, the key was invalidated, or one of the tags of the fill (or of
//     the value it replaces) was invalidated after the grant. Choose a lease_ttl that covers the
//     recomputation. A Fill refused for a tag invalidation also clears that lease, so the next
//     Lookup revalidates at once. A Fill without a lease always applies and cancels any
//     outstanding lease.
//   - Each tag has an index (Space::kIndex, key "ct:" + tag) listing its members with the
//     instant each member's value dies; the index's own deadline is the latest of them, so it
//     never outlives its members. A Fill writes the record and its tags' indexes in one step.
//   - Invalidate by tag marks the tag invalidated (cancelling the leases the rule above names),
//     reads the members, then removes, in steps of bounded size, those that still carry the tag.
//     Entries filled concurrently may be removed too; data filled under a lease granted before
//     the invalidation is never left behind.
//
// Index upkeep: an entry that expires needs none (its index member dies at the same instant
// and is dropped at the index's next write). An entry that is evicted or invalidated is removed
// from its other tags' indexes by OnStoreEvent, which must receive the store's events (see
// Store::Options::listener); without it those members stay listed, harmlessly, until their
// deadline. Invalidate checks every member against its record, so a stale index entry never
// removes the wrong data.
//
// Cost: writing a tag index copies it, so a Fill or removal costs O(members of each of its
// tags). Tags suit groups of up to some thousands of entries.
//
// Thread-safety: thread-safe; all state is in the store, plus atomics.

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/domain/cache_codec.h"
#include "storage/store.h"

namespace hourglass::domain {

enum class CacheState : uint8_t { kMiss, kFresh, kStale };

struct CacheLookup {
  CacheState state = CacheState::kMiss;
  std::string value;        // FRESH and STALE
  int64_t age_ms = 0;       // FRESH and STALE: time since the fill
  bool revalidate = false;  // this caller holds the lease and should recompute and Fill
  std::string lease_id;     // set iff revalidate
};

struct CacheFill {
  std::string_view key;
  std::string_view value;
  int64_t fresh_for_ms = 0;                 // > 0
  int64_t stale_for_ms = 0;                 // >= 0
  absl::Span<const std::string_view> tags;  // duplicates allowed; replace the previous tags
  std::string_view lease_id;                // empty: unconditional
};

class Cache {
 public:
  static constexpr int64_t kDefaultLeaseTtlMs = 10'000;

  // `store` must outlive this object.
  explicit Cache(storage::Store& store);
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // Reads `key` and, on MISS or STALE without a live lease, grants a lease of `lease_ttl_ms`
  // (> 0) to this caller. Errors: INVALID_ARGUMENT (lease_ttl_ms <= 0 or beyond the store's
  // max_ttl); RESOURCE_EXHAUSTED when a MISS lease cannot be recorded under the cap (a STALE
  // hit then answers the stale value without a lease); INTERNAL if the CSPRNG fails.
  absl::StatusOr<CacheLookup> Lookup(std::string_view key, int64_t lease_ttl_ms);

  // Stores the value and its tags, atomically with their indexes. Returns false (nothing
  // changed) when `lease_id` is set and not honoured (see the model above). Errors:
  // INVALID_ARGUMENT (fresh_for_ms <= 0, stale_for_ms < 0, the sum beyond the store's max_ttl);
  // RESOURCE_EXHAUSTED (does not fit under the cap; nothing changed).
  absl::StatusOr<bool> Fill(const CacheFill& fill);

  // Removes the entries of `keys` and of `tags` (duplicates allowed) and cancels their
  // outstanding leases. Returns the number of distinct entries removed that held a value (a
  // miss lease is cancelled but not counted). Not atomic across keys and tags: each key step and
  // each tag is applied in turn; on an error the earlier ones stay applied.
  absl::StatusOr<int64_t> Invalidate(absl::Span<const std::string_view> keys,
                                     absl::Span<const std::string_view> tags);

  // Keeps tag indexes in step with entries the store removed (EVICTED, DELETED). Safe to call
  // with any event, from any thread, outside store locks (as the store's listener is).
  void OnStoreEvent(const storage::Event& event);

  // Whether a Space::kCache value (as a removal Event carries it) held a cached value; a miss's
  // lease alone is not an entry. Lets the server hide lease bookkeeping from event watchers.
  static bool HeldValue(std::string_view record);

 private:
  // Tag invalidations are remembered per slot of a hash of the tag: the highest sequence number
  // of an invalidation of any tag in the slot. A slot shared by two tags can only make a leased
  // Fill be refused, never accepted wrongly. 4096 slots x 8 bytes: false refusals need another
  // tag of the slot invalidated within the lease's window (p ~ 1/4096 per such invalidation).
  static constexpr size_t kTagSlots = 4096;

  uint64_t NextSeq() { return seq_.fetch_add(1, std::memory_order_seq_cst); }
  std::atomic<uint64_t>& TagSlot(std::string_view tag);
  void MarkTagInvalidated(std::string_view tag, uint64_t seq);
  bool TagInvalidatedSince(std::string_view tag, uint64_t seq);
  // What a Fill with `lease_id` and `tags` may do to `current` at `now`.
  enum class LeaseCheck {
    kHonoured,   // replace it
    kRefused,    // not the key's live lease: leave everything as it is
    kCancelled,  // the key's live lease, cancelled by a tag invalidation: refuse and clear it
  };
  LeaseCheck CheckLease(const std::optional<cache_codec::Record>& current,
                        std::string_view lease_id, absl::Span<const std::string_view> tags,
                        int64_t now);

  absl::StatusOr<int64_t> InvalidateKeys(absl::Span<const std::string_view> keys);
  absl::StatusOr<int64_t> InvalidateTag(std::string_view tag);
  // Removes `key` from the indexes of those `tags` its current record no longer carries.
  absl::Status Unindex(std::string_view key, absl::Span<const std::string_view> tags);

  storage::Store& store_;
  // Orders lease grants against tag invalidations. Starts from the wall clock (2^20 per ms) so
  // that sequence numbers recorded before a restart stay below the ones issued after it.
  std::atomic<uint64_t> seq_;
  std::array<std::atomic<uint64_t>, kTagSlots> tag_invalidated_seq_{};
};

}  // namespace hourglass::domain
