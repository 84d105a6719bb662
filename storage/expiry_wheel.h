#pragma once

// ExpiryWheel: one shard's index of entries that expire soon. Internal to storage/.
//
// How the engine finds expired entries without a per-key index (which the memory budget has no
// room for: ~8 B/key would be a timer-wheel pointer):
//   1. Near-term hints. An entry whose deadline falls within the wheel's horizon (kHorizonMs)
//      when it is written gets a *hint* in the bucket of its deadline: the high 32 bits of its
//      table hash (4 bytes, no pointer, so a stale hint is harmless: an entry that was deleted,
//      overwritten or given a new deadline is simply not found expired when the hint is
//      processed). The entry's "hinted" bit says it has one, so it is not registered twice.
//   2. A far scan (shard.cc) walks the table continuously, one pass per kFarScanPeriodMs
//      (shorter than the horizon), and registers hints for volatile entries that have come
//      within the horizon. So every volatile entry gets a hint before its deadline, and only
//      entries expiring within the next ~4 s cost the 4 bytes.
//   3. At each reclaim step the buckets whose tick has come are drained: each hint leads to a
//      probe run in the table, where expired entries with a matching tag are reclaimed.
// Lazy expiry on access still guarantees that expired data is never returned.
//
// Buckets are kTickMs wide (a lateness floor of ~kTickMs) and kept in a ring of kBuckets
// allocated on first use (24 KB per shard that has near-term deadlines).
//
// Not thread-safe: guarded by its shard's mutex.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hourglass::storage::internal {

class ExpiryWheel {
 public:
  // 4 ms buckets: enough resolution for a 100 ms p99 lateness goal, and a 4 s horizon with
  // 1024 buckets.
  static constexpr uint64_t kTickMs = 4;
  static constexpr uint64_t kBuckets = 1024;
  static constexpr uint64_t kHorizonMs = kTickMs * kBuckets;

  struct Due {
    uint32_t hint;
    uint64_t tick;  // the bucket it came from
  };

  explicit ExpiryWheel(uint64_t now_rel) : next_tick_(now_rel / kTickMs) {}

  static uint64_t TickOf(uint64_t deadline_rel) { return deadline_rel / kTickMs; }

  // Whether a deadline (ms since the store epoch) is within the horizon.
  bool InWindow(uint64_t deadline_rel) const {
    return TickOf(deadline_rel) < next_tick_ + kBuckets;
  }
  // Registers a hint. False (nothing registered) when the deadline is beyond the horizon.
  bool Add(uint64_t deadline_rel, uint32_t hint);
  // Moves up to `max` hints from due buckets (tick <= the tick of now_rel) to `out`. The bucket
  // of the current tick is due in part: the caller re-adds the hints whose entries have not
  // expired yet, after it has finished taking (so they are not taken twice in one step).
  // Returns whether hints may remain due (the limit was reached).
  bool TakeDue(uint64_t now_rel, size_t max, std::vector<Due>* out);

  size_t pending() const { return count_; }
  size_t memory_bytes() const;

 private:
  std::vector<std::vector<uint32_t>> buckets_;  // empty until the first Add
  uint64_t next_tick_;                          // the oldest bucket not yet drained
  size_t count_ = 0;
};

}  // namespace hourglass::storage::internal
