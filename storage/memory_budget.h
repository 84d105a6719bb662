#pragma once

// MemoryBudget: the byte cap, held exactly under concurrency. Internal to storage/.
//
// One atomic counter for the whole store rather than per-shard budgets: a per-shard split
// strands capacity (a hot shard refuses writes while others have room), needs re-splitting on
// every SetMaxMemory, and would make the eviction issue's "evict until it fits" a cross-shard
// negotiation. The price is one compare-and-swap on a shared cache line per growing write; at
// 2-8 cores and sub-microsecond operations it does not show in profiles.
//
// Tenants (security issue): each namespace gets a MemoryBudget of its own, and a write reserves
// from its namespace's budget and from the store's (release both on failure). Nothing else in
// the engine has to change: charges already flow through TryReserve/Release.
//
// Thread-safe.

#include <atomic>
#include <cstdint>

namespace hourglass::storage::internal {

class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t max_bytes) : max_(max_bytes) {}

  // Adds `bytes` if the total stays <= the cap. False (nothing added) otherwise.
  bool TryReserve(uint64_t bytes) {
    const uint64_t max = max_.load(std::memory_order_relaxed);
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (used > max || bytes > max - used) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  // Adds `bytes` whatever the cap (index clean-ups from removal hooks).
  void ForceReserve(uint64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  void Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  void set_max(uint64_t bytes) { max_.store(bytes, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> max_;
};

}  // namespace hourglass::storage::internal
