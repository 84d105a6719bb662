#include "bench/eviction/store_runs.h"

#include <array>
#include <memory>
#include <string>

#include "bench/eviction/bench_common.h"
#include "bench/eviction/key_format.h"
#include "storage/clock.h"

namespace hourglass::bench {
namespace {

using storage::EvictionPolicy;
using storage::KeyRef;
using storage::SetOptions;
using storage::Space;
using storage::Store;

constexpr std::array<std::string_view, storage::kNumEvictionPolicies> kPolicyNames = {
    "noeviction",     "allkeys-lru",     "volatile-lru", "allkeys-lfu",     "volatile-lfu",
    "allkeys-random", "volatile-random", "volatile-ttl", "allkeys-tinylfu",
};

std::unique_ptr<Store> MakeStore(storage::Clock* clock, uint64_t cap_bytes, size_t shards,
                                 EvictionPolicy policy) {
  Store::Options o;
  o.clock = clock;
  o.shards = shards;
  o.max_memory_bytes = cap_bytes;
  o.eviction_policy = policy;  // reclaim_interval_ms keeps its default: the thread runs
  auto s = Store::Create(std::move(o));
  if (!s.ok()) Die("Store::Create: " + std::string(s.status().message()));
  return std::move(s).value();
}

SetOptions TtlOptions() {
  SetOptions o;
  o.expiry = storage::Expiry::Ttl(kTtlMs);
  return o;
}

// true when stored, false when refused for lack of room; aborts on anything else.
bool SetOrRefused(Store& store, std::string_view key, std::string_view value,
                  const SetOptions& opts) {
  const auto r = store.Set(KeyRef{Space::kKv, key}, value, opts);
  if (r.ok()) {
    if (!r->applied) Die("Set with kAlways not applied");
    return true;
  }
  if (r.status().code() == absl::StatusCode::kResourceExhausted) return false;
  Die("Set: " + r.status().ToString());
}

uint64_t Resident(const Store& store) {
  return store.GetStats().spaces[static_cast<int>(Space::kKv)].keys;
}

// Writes `writes` distinct keys from `id_base` and times them.
FloodResult Flood(Store& store, uint64_t writes, uint64_t id_base) {
  const std::string value(kValueBytes, 'f');
  const SetOptions opts = TtlOptions();
  FloodResult r;
  const storage::StoreStats before = store.GetStats();
  r.resident_before = before.spaces[static_cast<int>(Space::kKv)].keys;
  char key[kKeyBytes];
  const double cpu0 = CpuSeconds();
  const double t0 = NowSeconds();
  for (uint64_t i = 0; i < writes; ++i) {
    if (!SetOrRefused(store, MakeKey(id_base + i, key), value, opts)) ++r.rejected;
  }
  r.seconds = NowSeconds() - t0;
  r.cpu_seconds = CpuSeconds() - cpu0;
  r.writes = writes;
  r.evicted = store.GetStats().evicted - before.evicted;
  return r;
}

}  // namespace

std::string_view PolicyName(EvictionPolicy policy) {
  const auto i = static_cast<size_t>(policy);
  return i < kPolicyNames.size() ? kPolicyNames[i] : "unknown";
}

bool ParsePolicy(std::string_view name, EvictionPolicy* policy) {
  for (size_t i = 0; i < kPolicyNames.size(); ++i) {
    if (kPolicyNames[i] == name) {
      *policy = static_cast<EvictionPolicy>(i);
      return true;
    }
  }
  return false;
}

HitRatioResult ReplayOnStore(const Trace& trace, EvictionPolicy policy, uint64_t cap_bytes,
                             size_t shards) {
  storage::SystemClock clock;
  auto store = MakeStore(&clock, cap_bytes, shards, policy);
  const std::string value(kValueBytes, 'v');
  const SetOptions opts = TtlOptions();
  const uint64_t warmup = trace.header.warmup;
  const uint64_t n = trace.ids.size();
  HitRatioResult r;
  char keys[kBatch][kKeyBytes];
  bool hit[kBatch];
  const double t0 = NowSeconds();
  for (uint64_t start = 0; start < n; start += kBatch) {
    const int len = static_cast<int>(std::min<uint64_t>(kBatch, n - start));
    for (int j = 0; j < len; ++j) {
      const std::string_view key = MakeKey(trace.ids[start + j], keys[j]);
      const auto got = store->Get(KeyRef{Space::kKv, key});
      if (!got.ok()) Die("Get: " + got.status().ToString());
      hit[j] = got->found;
      if (got->found && got->value != value) Die("Get returned a value that was never written");
      if (start + j >= warmup) {
        ++r.measured;
        r.hits += got->found;
      }
    }
    for (int j = 0; j < len; ++j) {
      if (hit[j]) continue;
      ++r.writes;
      if (!SetOrRefused(*store, std::string_view(keys[j], kKeyBytes), value, opts)) {
        ++r.rejected_writes;
      }
    }
  }
  r.seconds = NowSeconds() - t0;
  const storage::StoreStats st = store->GetStats();
  r.resident_keys = st.spaces[static_cast<int>(Space::kKv)].keys;
  r.evicted = st.evicted;
  r.used_bytes = st.used_bytes;
  if (st.rejected_writes != r.rejected_writes) {
    Die("StoreStats::rejected_writes disagrees with the refused Sets counted by the bench");
  }
  if (st.used_bytes > cap_bytes) Die("accounted bytes above the cap");
  return r;
}

FloodResult FloodFullStore(uint64_t cap_bytes, size_t shards, uint64_t writes, uint64_t id_base) {
  storage::SystemClock clock;
  auto store = MakeStore(&clock, cap_bytes, shards, EvictionPolicy::kAllKeysLru);
  // Fill until the first eviction or refusal, checking every 10 k keys (GetStats locks every
  // shard); bounded by what the cap could hold at 16 B per key.
  const std::string value(kValueBytes, 'p');
  const SetOptions opts = TtlOptions();
  char key[kKeyBytes];
  const uint64_t bound = cap_bytes / 16;
  uint64_t id = 0;
  bool full = false;
  while (!full && id < bound) {
    for (int i = 0; i < 10'000; ++i, ++id) {
      if (!SetOrRefused(*store, MakeKey(id_base + id, key), value, opts)) full = true;
    }
    if (store->GetStats().evicted > 0) full = true;
  }
  if (!full) Die("the capped store never filled");
  return Flood(*store, writes, id_base + id);
}

FloodResult FloodUncappedStore(uint64_t resident, size_t shards, uint64_t writes,
                               uint64_t id_base) {
  storage::SystemClock clock;
  auto store = MakeStore(&clock, uint64_t{1} << 40, shards, EvictionPolicy::kAllKeysLru);
  const std::string value(kValueBytes, 'p');
  const SetOptions opts = TtlOptions();
  char key[kKeyBytes];
  for (uint64_t id = 0; id < resident; ++id) {
    if (!SetOrRefused(*store, MakeKey(id_base + id, key), value, opts)) {
      Die("the uncapped store refused a write");
    }
  }
  if (Resident(*store) != resident) Die("the uncapped store lost keys");
  FloodResult r = Flood(*store, writes, id_base + resident);
  if (r.rejected != 0 || r.evicted != 0) Die("the uncapped store refused or evicted");
  return r;
}

}  // namespace hourglass::bench
