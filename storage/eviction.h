#pragma once

// Eviction policy arithmetic: what each policy keeps in an entry's 24 metadata bits, how it scores
// a candidate, and the per-shard candidate pool. Internal to storage/; no locking here (every
// object is owned by a shard and used under its lock).
//
// Metadata (Entry::meta(), 24 bits), as Redis's robj.lru:
//   LRU policies, random, volatile-ttl, tinylfu: an LRU clock, the instant of the last access in
//     kLruTickMs ticks since the store epoch, modulo 2^24 (wraps every 12.4 days; an entry idle
//     longer looks idle for that time modulo 12.4 days, as Redis's look idle modulo 194 days).
//   LFU policies: Redis's Morris counter: bits 8..23 the last decrement time in minutes (mod
//     2^16), bits 0..7 a logarithmic access counter (lfu-log-factor 10, lfu-decay-time 1 min,
//     new keys start at 5).
// Switching between an LFU and a non-LFU policy reinterprets the bits (as Redis does): the first
// evictions after a switch choose poorly, accesses rewrite the metadata.

#include <array>
#include <cstddef>
#include <cstdint>

#include "storage/store.h"

namespace hourglass::storage::internal {

// ---- Policy families ----
inline bool IsLfuPolicy(EvictionPolicy p) {
  return p == EvictionPolicy::kAllKeysLfu || p == EvictionPolicy::kVolatileLfu;
}
// volatile-*: only keys with a TTL are victims.
inline bool IsVolatilePolicy(EvictionPolicy p) {
  return p == EvictionPolicy::kVolatileLru || p == EvictionPolicy::kVolatileLfu ||
         p == EvictionPolicy::kVolatileRandom || p == EvictionPolicy::kVolatileTtl;
}
inline bool IsRandomPolicy(EvictionPolicy p) {
  return p == EvictionPolicy::kAllKeysRandom || p == EvictionPolicy::kVolatileRandom;
}

// ---- LRU clock ----
// 64 ms ticks: fine enough to order accesses a few tens of ms apart (a cache under load turns
// over in seconds), coarse enough that 24 bits last 12.4 days before wrapping.
inline constexpr int64_t kLruTickMs = 64;
inline constexpr uint32_t kLruClockMax = (1u << 24) - 1;
inline uint32_t LruClock(uint64_t now_rel_ms) {
  return static_cast<uint32_t>(now_rel_ms / kLruTickMs) & kLruClockMax;
}
// Ticks since `stamp` (modulo the clock's range, as Redis's estimateObjectIdleTime).
inline uint32_t LruIdle(uint32_t clock, uint32_t stamp) { return (clock - stamp) & kLruClockMax; }

// ---- Redis's LFU (evict.c: LFULogIncr, LFUDecrAndReturn) ----
inline constexpr uint32_t kLfuInitValue = 5;
inline constexpr uint32_t kLfuLogFactor = 10;
inline constexpr uint64_t kLfuDecayMinutes = 1;
inline uint32_t LfuMinutes(uint64_t now_rel_ms) {
  return static_cast<uint32_t>(now_rel_ms / 60000) & 0xFFFFu;
}
inline uint32_t LfuMeta(uint32_t minutes, uint32_t counter) { return (minutes << 8) | counter; }
inline uint32_t LfuCounter(uint32_t meta) { return meta & 0xFFu; }
// The counter after decaying one step per kLfuDecayMinutes since the last decrement.
inline uint32_t LfuDecayed(uint32_t meta, uint32_t now_minutes) {
  const uint32_t last = meta >> 8;
  const uint32_t elapsed = (now_minutes - last) & 0xFFFFu;
  const uint64_t periods = elapsed / kLfuDecayMinutes;
  const uint32_t counter = LfuCounter(meta);
  return periods >= counter ? 0 : counter - static_cast<uint32_t>(periods);
}
// Logarithmic increment: with probability 1 / ((counter - 5) * 10 + 1). `uniform01` in [0, 1).
inline uint32_t LfuLogIncr(uint32_t counter, double uniform01) {
  if (counter >= 255) return 255;
  const double base = counter > kLfuInitValue ? counter - kLfuInitValue : 0;
  const double p = 1.0 / (base * kLfuLogFactor + 1);
  return uniform01 < p ? counter + 1 : counter;
}

// ---- TinyLFU admission (Caffeine's BoundedLocalCache.admit) ----
// A new key displacing `victim_freq` stays only if it was asked for more often; frequent ties
// are admitted at random 1 time in 128, so an attacker cannot pin a hot key set by hash flooding.
inline bool TinyLfuAdmits(uint32_t candidate_freq, uint32_t victim_freq, uint64_t random) {
  if (candidate_freq > victim_freq) return true;
  if (candidate_freq >= 6) return (random & 127) == 0;
  return false;
}

// xorshift64*: the shard's private random source for sampling and LFU increments.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed | 1) {}
  uint64_t Next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1DULL;
  }
  double Uniform01() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

class Entry;

// Redis's eviction pool: the best candidates seen by recent samplings, kept sorted by score
// (higher = evict first). Remembering candidates across evictions is what lets 5 samples per
// eviction approximate the true order well (Redis measured ~LRU quality at 10 samples + pool).
// Entries are identified by pointer and re-validated against the table before use (the pool does
// not keep an entry alive: it may have been freed, or its memory reused by another entry).
struct PoolCandidate {
  uint64_t score = 0;
  Entry* entry = nullptr;
  // Where to find the entry again: its slot while the table's generation is unchanged (no
  // rebuild), else through its table hash when known (has_hash). Sampling does not hash keys
  // (LRU, LFU and TTL scores do not need it), so after a rebuild such a candidate is dropped.
  size_t slot = 0;
  uint64_t generation = 0;
  uint64_t hash = 0;
  bool has_hash = false;
};

class EvictionPool {
 public:
  static constexpr size_t kSize = 16;

  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  void Clear() { n_ = 0; }
  // Adds (or re-scores) a candidate; when full, drops the lowest score (possibly this one).
  void Offer(const PoolCandidate& c);
  // Removes and returns the best candidate. Requires !empty().
  PoolCandidate PopBest() { return items_[--n_]; }
  // The best score, 0 when empty.
  uint64_t best_score() const { return n_ == 0 ? 0 : items_[n_ - 1].score; }
  // Forgets `e` (it was evicted or found gone).
  void Forget(const Entry* e);

 private:
  std::array<PoolCandidate, kSize> items_{};  // ascending score
  size_t n_ = 0;
};

}  // namespace hourglass::storage::internal
