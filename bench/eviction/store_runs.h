#pragma once

// The hourglass half of the eviction benchmark, in process against storage::Store (the real
// SystemClock and reclaimer thread, as the server runs it).
//
// Thread-safety: each run owns its store; run them one at a time (they measure wall time).

#include <cstdint>
#include <string_view>

#include "bench/eviction/zipf_trace.h"
#include "storage/store.h"

namespace hourglass::bench {

// Redis spelling ("allkeys-lru") of every policy, indexed by the enum value.
std::string_view PolicyName(storage::EvictionPolicy policy);
// false when `name` is not one of them.
bool ParsePolicy(std::string_view name, storage::EvictionPolicy* policy);

struct HitRatioResult {
  uint64_t measured = 0;         // requests after the warm-up
  uint64_t hits = 0;             // GETs that found the key, among those
  uint64_t rejected_writes = 0;  // read-through SETs refused with RESOURCE_EXHAUSTED (whole run)
  uint64_t writes = 0;           // read-through SETs attempted (whole run)
  uint64_t resident_keys = 0;    // at the end
  uint64_t evicted = 0;          // StoreStats::evicted at the end
  uint64_t used_bytes = 0;
  double seconds = 0;  // whole replay, warm-up included
};

// Replays `trace` read-through: per batch of kBatch requests, GET each key, then SET every miss
// (64 B value, 1 h TTL) — the order the pipelined Redis client uses, so both systems see the
// same operations. A SET refused with RESOURCE_EXHAUSTED counts as "not cached"; any other error
// aborts.
HitRatioResult ReplayOnStore(const Trace& trace, storage::EvictionPolicy policy, uint64_t cap_bytes,
                             size_t shards);

struct FloodResult {
  uint64_t resident_before = 0;  // keys when the flood starts
  uint64_t writes = 0;
  uint64_t rejected = 0;  // RESOURCE_EXHAUSTED during the flood
  uint64_t evicted = 0;   // evictions during the flood
  double seconds = 0;
  double cpu_seconds = 0;  // process CPU during the flood (request thread + reclaimer)
  double ops_per_second() const { return seconds > 0 ? writes / seconds : 0; }
};

// Writes when full: a store capped at `cap_bytes` under allkeys-lru is filled with distinct keys
// until it first evicts (or refuses a write), then `writes` further distinct keys are SET
// (16 B key, 64 B value, 1 h TTL): every one of them has to evict.
FloodResult FloodFullStore(uint64_t cap_bytes, size_t shards, uint64_t writes, uint64_t id_base);
// The same flood into an uncapped store pre-filled with `resident` keys.
FloodResult FloodUncappedStore(uint64_t resident, size_t shards, uint64_t writes, uint64_t id_base);

}  // namespace hourglass::bench
