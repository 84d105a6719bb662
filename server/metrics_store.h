#pragma once

// StoreCollector: the store's state as Prometheus metrics, read at scrape time (one
// Store::GetStats(), which takes each shard lock briefly; nothing is recorded on the request
// path):
//
//   hourglass_keys                     gauge {space}  kv | session | token | rate_limit | cache
//   hourglass_keys_with_expiry         gauge {space}    | index (internal indexes: a user's
//                                                        sessions, a subject's tokens, cache tags)
//   hourglass_memory_used_bytes        gauge  accounted bytes (what --maxmemory caps)
//   hourglass_memory_max_bytes         gauge  --maxmemory (as changed by UpdateConfig)
//   hourglass_expired_keys_total       counter
//   hourglass_evicted_keys_total       counter
//   hourglass_rejected_writes_total    counter  writes refused for lack of memory
//   hourglass_keyspace_hits_total      counter
//   hourglass_keyspace_misses_total    counter
//   hourglass_expiry_lateness_seconds  histogram  reclaim instant - deadline of reclaimed keys
//                                                 (storage::kLatenessBucketsMs)
//   hourglass_sessions_active          gauge  live session entries
//   hourglass_process_resident_memory_bytes  gauge  RSS, from /proc/self/statm
//
// Thread-safety: thread-safe (Collect may run on several scrape threads at once).

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "storage/store.h"

namespace hourglass::server {

// The `space` label value of a store space.
std::string_view SpaceLabel(storage::Space space);

// Resident set size of this process in bytes; nullopt where /proc is not readable.
std::optional<uint64_t> ProcessResidentBytes();

class StoreCollector final : public prometheus::Collectable {
 public:
  // `store` must outlive every Collect() call.
  explicit StoreCollector(const storage::Store& store) : store_(store) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const storage::Store& store_;
};

}  // namespace hourglass::server
