#include "storage/entry_table.h"

#include <cstdlib>

namespace hourglass::storage::internal {

uint64_t EntryTable::Encode(Entry* e, uint32_t hint) {
  const uint64_t p = reinterpret_cast<uint64_t>(e);
  // A pointer above 2^48 would need 5-level paging and an explicit high mmap hint; nothing in
  // this process asks for one. Fail loudly rather than corrupt the table.
  if ((p & ~kPtrMask) != 0) std::abort();
  return p | (e->has_deadline() ? kVolatileBit : 0) | (TagOf(hint) << kTagShift);
}

size_t EntryTable::CapacityFor(size_t n) {
  const size_t c = n * 10 / 7 + 1;
  return c < kMinCapacity ? kMinCapacity : c;
}

size_t EntryTable::Find(uint64_t hash, Space space, std::string_view key) const {
  if (cap_ == 0) return kNotFound;
  const uint32_t hint = HintOf(hash);
  const uint64_t tag = TagOf(hint);
  for (size_t i = Home(hint);; i = Next(i)) {
    const uint64_t s = slots_[i];
    if (s == kEmpty) return kNotFound;
    if ((s >> kTagShift) == tag && s > kTomb && EntryOf(s)->Matches(space, key)) return i;
  }
}

void EntryTable::Place(uint64_t word, uint32_t hint) {
  for (size_t i = Home(hint);; i = Next(i)) {
    const uint64_t s = slots_[i];
    if (s <= kTomb) {
      if (s == kTomb) --tombs_;
      slots_[i] = word;
      ++live_;
      return;
    }
  }
}

void EntryTable::Insert(uint64_t hash, Entry* e) {
  // Keep at least 15% of the slots empty (not tombstones): linear probing's expected run of an
  // unsuccessful search is ~23 slots at 0.85 (three cache lines, and tags spare the entry
  // reads); a successful one ~4.
  if ((live_ + tombs_ + 1) * 20 > cap_ * 17) Rebuild(CapacityFor(live_ + 1));
  const uint32_t hint = HintOf(hash);
  Place(Encode(e, hint), hint);
}

void EntryTable::Replace(size_t slot, Entry* e) {
  const uint64_t tag_bits = slots_[slot] & ~(kPtrMask | kVolatileBit);
  slots_[slot] = reinterpret_cast<uint64_t>(e) | (e->has_deadline() ? kVolatileBit : 0) | tag_bits;
}

void EntryTable::SyncVolatile(size_t slot) {
  if (entry(slot)->has_deadline()) {
    slots_[slot] |= kVolatileBit;
  } else {
    slots_[slot] &= ~kVolatileBit;
  }
}

void EntryTable::EraseAt(size_t slot) {
  slots_[slot] = kTomb;
  --live_;
  ++tombs_;
}

bool EntryTable::MaybeShrink() {
  if (cap_ <= 64) {
    if (live_ == 0 && cap_ > 0 && tombs_ > 0) {
      Rebuild(kMinCapacity);
      return true;
    }
    return false;
  }
  if (live_ * 5 < cap_ || tombs_ * 4 > cap_) {
    Rebuild(CapacityFor(live_));
    return true;
  }
  return false;
}

void EntryTable::Rebuild(size_t new_cap) {
  std::unique_ptr<uint64_t[]> old = std::move(slots_);
  const size_t old_cap = cap_;
  slots_.reset(new uint64_t[new_cap]());
  cap_ = new_cap;
  live_ = 0;
  tombs_ = 0;
  ++generation_;
  mult_ = static_cast<uint32_t>(Mix64(generation_ ^ reinterpret_cast<uintptr_t>(this))) | 1u;
  // Recomputing a hash reads the entry: prefetch a few slots ahead so the misses overlap
  // (a rebuild of a 60 k-entry shard goes from ~6 ms to ~1.5 ms).
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < old_cap; ++i) {
    if (i + kAhead < old_cap && old[i + kAhead] > kTomb) {
      __builtin_prefetch(EntryOf(old[i + kAhead]));
    }
    const uint64_t s = old[i];
    if (s <= kTomb) continue;
    Entry* e = EntryOf(s);
    const uint64_t hash = TableHashOf(e);
    const uint32_t hint = HintOf(hash);
    Place((s & (kPtrMask | kVolatileBit)) | (TagOf(hint) << kTagShift), hint);
    if (observer_ != nullptr && (s & kVolatileBit) != 0) observer_(observer_arg_, e, hash);
  }
}

}  // namespace hourglass::storage::internal
