// Shard: eviction under the cap (the policy side of shard.h).
//
// Victims are chosen as Redis's evict.c does: sample a few keys (kEvictionSamples) from a random
// place in the table, score them by the policy, keep the best in a 16-candidate pool that
// survives between evictions, evict the pool's best. No per-entry list pointers: what a policy
// needs lives in the entry's 24 metadata bits (eviction.h) and, for TinyLFU, in a per-shard
// frequency sketch.

#include <algorithm>

#include "storage/shard.h"

namespace hourglass::storage::internal {

namespace {
bool Contains(absl::Span<const Entry* const> pinned, const Entry* e) {
  return std::find(pinned.begin(), pinned.end(), e) != pinned.end();
}
// Marks a pooled candidate TinyLFU refused admission: evicted first, never re-scored.
constexpr uint64_t kRefusedScore = UINT64_MAX;
}  // namespace

void Shard::InitMeta(Entry* e, int64_t now) {
  const uint64_t now_rel = ToRel(now);
  e->set_meta(IsLfuPolicy(policy()) ? LfuMeta(LfuMinutes(now_rel), kLfuInitValue)
                                    : LruClock(now_rel));
}

void Shard::Touch(size_t slot, uint64_t hash, int64_t now) {
  const EvictionPolicy p = policy();
  if (p == EvictionPolicy::kAllKeysTinyLfu) {
    // Sized to the keys it must tell apart; misses count too (the point of TinyLFU: a key asked
    // for often but not resident is known to be worth admitting).
    sketch_.EnsureCapacity(table_.size());
    sketch_.Increment(hash);
  }
  if (slot == EntryTable::kNotFound) return;
  Entry* e = table_.entry(slot);
  const uint64_t now_rel = ToRel(now);
  if (IsLfuPolicy(p)) {
    const uint32_t minutes = LfuMinutes(now_rel);
    const uint32_t counter = LfuLogIncr(LfuDecayed(e->meta(), minutes), rng_.Uniform01());
    e->set_meta(LfuMeta(minutes, counter));
  } else {
    e->set_meta(LruClock(now_rel));
  }
}

uint64_t Shard::EvictableKeys(bool volatile_only) const {
  uint64_t n = 0;
  for (size_t i = 0; i < kNumSpaces; ++i) {
    if (static_cast<Space>(i) == Space::kIndex) continue;
    n += volatile_only ? stats_.spaces[i].keys_with_expiry : stats_.spaces[i].keys;
  }
  return n;
}

size_t Shard::SampleSlots(bool volatile_only, absl::Span<const Entry* const> pinned, size_t want,
                          size_t* out) {
  const size_t cap = table_.capacity();
  if (cap == 0) return 0;
  size_t s = static_cast<size_t>(((rng_.Next() >> 32) * cap) >> 32);
  size_t n = 0;
  size_t visited = 0;
  // Walks on from a random slot: usually a handful of slots, at most one pass (when few keys
  // are evictable, e.g. volatile-* over mostly persistent keys). Each sampled entry is a cache
  // miss: the slot words tell occupancy, volatility and the pointer without touching the entry,
  // so a batch is gathered and prefetched first, then its entries are read (kIndex is in the
  // entry) with the misses overlapped rather than one after the other.
  while (n < want && visited < cap) {
    size_t batch[kEvictionSamples];
    size_t gathered = 0;
    for (; visited < cap && gathered < want - n; ++visited, s = table_.Next(s)) {
      if (!table_.occupied(s) || (volatile_only && !table_.is_volatile(s))) continue;
      if (Contains(pinned, table_.entry(s))) continue;
      __builtin_prefetch(table_.entry(s));
      batch[gathered++] = s;
    }
    for (size_t i = 0; i < gathered; ++i) {
      if (table_.entry(batch[i])->space() != Space::kIndex) out[n++] = batch[i];
    }
  }
  return n;
}

uint64_t Shard::VictimScore(EvictionPolicy policy, const Entry* e, uint64_t hash, int64_t now) {
  const uint64_t now_rel = ToRel(now);
  switch (policy) {
    case EvictionPolicy::kAllKeysLfu:
    case EvictionPolicy::kVolatileLfu:
      return 255 - LfuDecayed(e->meta(), LfuMinutes(now_rel));
    case EvictionPolicy::kVolatileTtl:
      return kMaxRelDeadline - e->deadline_rel();
    case EvictionPolicy::kAllKeysTinyLfu:
      // Least often asked for first; among equals, the least recently used.
      return (uint64_t{16 - sketch_.Frequency(hash)} << 24) | LruIdle(LruClock(now_rel), e->meta());
    default:
      return LruIdle(LruClock(now_rel), e->meta());
  }
}

size_t Shard::Relocate(const PoolCandidate& c) const {
  if (table_.capacity() == 0) return EntryTable::kNotFound;
  if (c.generation == table_.generation()) {
    // No rebuild since it was pooled: the entry is at its slot, or gone.
    return c.slot < table_.capacity() && table_.occupied(c.slot) && table_.entry(c.slot) == c.entry
               ? c.slot
               : EntryTable::kNotFound;
  }
  if (!c.has_hash) return EntryTable::kNotFound;
  const uint32_t hint = EntryTable::HintOf(c.hash);
  for (size_t s = table_.Home(hint); !table_.empty_slot(s); s = table_.Next(s)) {
    if (table_.occupied(s) && table_.entry(s) == c.entry) return s;
  }
  return EntryTable::kNotFound;
}

bool Shard::EvictOne(EvictionPolicy policy, int64_t now, absl::Span<const Entry* const> pinned,
                     int* victim_freq) {
  const bool volatile_only = IsVolatilePolicy(policy);
  if (EvictableKeys(volatile_only) == 0) return false;
  size_t victim = EntryTable::kNotFound;
  uint64_t victim_hash = 0;  // known for TinyLFU's victims (every TinyLFU candidate has it)
  if (IsRandomPolicy(policy)) {
    size_t slot;
    if (SampleSlots(volatile_only, pinned, 1, &slot) == 1) victim = slot;
  } else {
    if (pool_policy_ != policy) {
      pool_.Clear();  // scores of another policy do not compare
      pool_policy_ = policy;
    }
    size_t slots[kEvictionSamples];
    const size_t n = SampleSlots(volatile_only, pinned, kEvictionSamples, slots);
    // Only TinyLFU's score needs the key's hash (~20 ns a key): the others read the entry only.
    const bool needs_hash = policy == EvictionPolicy::kAllKeysTinyLfu;
    for (size_t i = 0; i < n; ++i) {
      Entry* e = table_.entry(slots[i]);
      PoolCandidate c;
      c.entry = e;
      c.slot = slots[i];
      c.generation = table_.generation();
      c.has_hash = needs_hash;
      c.hash = needs_hash ? TableHashOf(e) : 0;
      c.score = VictimScore(policy, e, c.hash, now);
      pool_.Offer(c);
    }
    // The best pooled candidate still in the table and still evictable. A pooled score may be
    // stale (the key was read since it was sampled): re-score, and put it back if others now
    // rank above it. Each candidate is popped at most twice, so this ends.
    for (size_t tries = 0; tries < 2 * EvictionPool::kSize && !pool_.empty(); ++tries) {
      PoolCandidate c = pool_.PopBest();
      const size_t slot = Relocate(c);
      if (slot == EntryTable::kNotFound) continue;
      Entry* e = table_.entry(slot);
      if (e->space() == Space::kIndex || (volatile_only && !e->has_deadline()) ||
          Contains(pinned, e)) {
        continue;
      }
      if (c.score != kRefusedScore) {
        const uint64_t fresh = VictimScore(policy, e, c.has_hash ? c.hash : 0, now);
        if (fresh < c.score && fresh < pool_.best_score()) {
          c.score = fresh;
          pool_.Offer(c);
          continue;
        }
      }
      victim = slot;
      victim_hash = c.hash;
      break;
    }
  }
  if (victim == EntryTable::kNotFound) return false;
  if (victim_freq != nullptr && policy == EvictionPolicy::kAllKeysTinyLfu) {
    const int freq = static_cast<int>(sketch_.Frequency(victim_hash));
    *victim_freq = std::max(*victim_freq, freq);
  }
  Remove(victim, EventKind::kEvicted, now);
  return true;
}

// Locks other shards with try-lock only (a shard never waits for a second shard's lock, so no
// lock order is needed), and never those this step already holds.
bool Shard::EvictElsewhere(EvictionPolicy policy, int64_t now,
                           const WriteScope& scope) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (Shard* held : scope.held) {
    if (held != this && held->EvictOne(policy, now, scope.pinned)) return true;
  }
  const auto& shards = *ctx_->shards;
  const size_t n = shards.size();
  const size_t start = static_cast<size_t>(((rng_.Next() >> 32) * n) >> 32);
  for (size_t k = 0; k < n; ++k) {
    Shard& other = *shards[(start + k) % n];
    if (&other == this ||
        std::find(scope.held.begin(), scope.held.end(), &other) != scope.held.end() ||
        !other.mu.TryLock()) {
      continue;
    }
    const bool evicted = other.EvictOne(policy, now, {});
    // The other shard's step ends here: its hooks run under its lock, and its removed entries
    // travel with this shard's, to be announced and freed after this step unlocks.
    other.RunHooks(now);
    std::vector<Removed> removed = other.TakeRemoved();
    other.mu.Unlock();
    graveyard_.insert(graveyard_.end(), removed.begin(), removed.end());
    if (evicted) return true;
  }
  return false;
}

bool Shard::ReserveForWrite(uint64_t bytes, int64_t now, const WriteScope& scope) {
  MemoryBudget& budget = *ctx_->budget;
  victim_freq_ = -1;
  if (bytes == 0 || budget.TryReserve(bytes)) return true;
  const EvictionPolicy p = policy();
  if (p != EvictionPolicy::kNoEviction) {
    // One eviction at a time, re-trying the reservation after each: a full store evicts exactly
    // what a write needs.
    const uint64_t limit = kEvictionSlack + bytes / 32;
    for (uint64_t i = 0; i < limit; ++i) {
      if (!EvictOne(p, now, scope.pinned, &victim_freq_) && !EvictElsewhere(p, now, scope)) {
        break;
      }
      if (budget.TryReserve(bytes)) return true;
    }
  }
  victim_freq_ = -1;
  ctx_->rejected_writes->fetch_add(1, std::memory_order_relaxed);
  return false;
}

size_t Shard::EvictOverCap(int64_t now, size_t max) {
  const EvictionPolicy p = policy();
  if (p == EvictionPolicy::kNoEviction) return 0;
  const MemoryBudget& budget = *ctx_->budget;
  size_t n = 0;
  while (n < max && budget.used() > budget.max() && EvictOne(p, now, {})) ++n;
  RunHooks(now);
  return n;
}

}  // namespace hourglass::storage::internal
