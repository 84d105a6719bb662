#pragma once

// The Redis half of the eviction benchmark: the same trace and the same write flood against a
// private redis-server that the driver script started (loopback port, no persistence). The
// client pipelines each batch of kBatch commands in one write (resp_client.h).
//
// Thread-safety: one run at a time per server (they FLUSHALL and reconfigure it).

#include <cstdint>
#include <string>

#include "bench/eviction/store_runs.h"
#include "bench/eviction/zipf_trace.h"

namespace hourglass::bench {

struct RedisTarget {
  int port = 0;
  int pid = 0;  // the server's PID, for its CPU time from /proc; 0 = not measured
};

struct RedisHitRatioResult {
  HitRatioResult hit;              // rejected_writes is always 0 (an error reply aborts)
  std::string policy;              // the server's maxmemory-policy, as it reported it
  uint64_t maxmemory = 0;          // the server's maxmemory
  double server_cpu_seconds = -1;  // -1 when pid is 0
};

// Replays `trace` read-through into an empty server already configured with its maxmemory and
// policy (checked: the server must hold no keys when the replay starts). Per batch: kBatch GETs
// pipelined, then `SET key value EX 3600` for every miss, pipelined. Every reply type is
// checked; an error reply aborts.
RedisHitRatioResult ReplayOnRedis(const Trace& trace, const RedisTarget& target);

struct RedisFloodResult {
  FloodResult flood;
  double server_cpu_seconds = -1;  // -1 when pid is 0
};

// Writes when full, as FloodFullStore: FLUSHALL, CONFIG SET maxmemory `cap_bytes` and
// allkeys-lru, fill with distinct keys until INFO's evicted_keys moves, then `writes` pipelined
// `SETEX key 3600 value` of new keys.
RedisFloodResult FloodFullRedis(const RedisTarget& target, uint64_t cap_bytes, uint64_t writes,
                                uint64_t id_base);
// The same flood with maxmemory 0 (uncapped) after a pre-fill of `resident` keys.
RedisFloodResult FloodUncappedRedis(const RedisTarget& target, uint64_t resident, uint64_t writes,
                                    uint64_t id_base);

}  // namespace hourglass::bench
