#pragma once

// EntryTable: one shard's open-addressing hash table of entry pointers. Internal to storage/.
//
// Why our own table and not absl::flat_hash_set<Entry*>: memory. A swiss table costs 9 bytes a
// slot and grows by doubling with a 7/8 maximum load, so it runs between 0.44 and 0.875 full; at
// 1 M keys (just past 7/8 of 2^20) every power-of-two shard count lands at ~0.48, i.e. ~19 B/key
// of a ~110 B/key budget. This table costs 8 bytes a slot (pointer + 15-bit hash tag + a
// "volatile" bit packed in one word), takes any capacity (position = multiply-shift of the hash,
// not a mask) and grows by 1.21x between 0.7 and 0.85 load: 9.4-11.4 B/key.
//
// Slot word:  bits 0..47 entry pointer (x86-64/AArch64 user-space addresses fit in 48 bits),
//             bit 48 volatile (the entry has a deadline: scans skip persistent entries without
//             touching them), bits 49..63 tag (15 bits of the hash; a probe dereferences an entry
//             only when its tag matches, i.e. ~1 time in 32768 for a non-matching slot).
//             0 = empty, 1 = tombstone.
//
// Linear probing. Erase leaves a tombstone (cheap, keeps probe runs stable while a reclaimer
// walks them); tombstones are cleared when an insert or MaybeShrink rebuilds the table.
// A rebuild recomputes hashes from the entries (the table stores no full hashes) and bumps
// generation(), which invalidates slot indexes held by callers.
//
// Not thread-safe: guarded by its shard's mutex. Does not own the entries.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "storage/entry.h"

namespace hourglass::storage::internal {

class EntryTable {
 public:
  static constexpr size_t kNotFound = SIZE_MAX;

  EntryTable() = default;
  EntryTable(const EntryTable&) = delete;
  EntryTable& operator=(const EntryTable&) = delete;

  size_t size() const { return live_; }
  size_t capacity() const { return cap_; }
  size_t tombstones() const { return tombs_; }
  uint64_t generation() const { return generation_; }
  size_t memory_bytes() const { return cap_ * sizeof(uint64_t); }

  // The slot holding (space, key), or kNotFound.
  size_t Find(uint64_t hash, Space space, std::string_view key) const;
  // Inserts an entry whose key is absent. May rebuild the table.
  void Insert(uint64_t hash, Entry* e);
  // Puts `e` (same space and key) in place of the entry at `slot`.
  void Replace(size_t slot, Entry* e);
  // Refreshes the slot's volatile bit after the entry's deadline changed.
  void SyncVolatile(size_t slot);
  // Leaves a tombstone at `slot` (the entry is not freed).
  void EraseAt(size_t slot);
  // Rebuilds the table at the size that fits its live entries when it is mostly empty or
  // tombstones. Returns whether it did.
  bool MaybeShrink();

  // ---- Slot access, for scans and hint probes ----
  bool occupied(size_t slot) const { return slots_[slot] > kTomb; }
  bool empty_slot(size_t slot) const { return slots_[slot] == kEmpty; }
  bool is_volatile(size_t slot) const { return (slots_[slot] & kVolatileBit) != 0; }
  Entry* entry(size_t slot) const { return EntryOf(slots_[slot]); }
  // The probe run of a 32-bit hint (the high half of a table hash): Home(), then Next() until
  // empty_slot().
  size_t Home(uint32_t hint) const {
    return static_cast<size_t>((static_cast<uint64_t>(hint * mult_) * cap_) >> 32);
  }
  size_t Next(size_t slot) const { return slot + 1 == cap_ ? 0 : slot + 1; }
  bool TagMatches(size_t slot, uint32_t hint) const {
    return (slots_[slot] >> kTagShift) == TagOf(hint);
  }
  void PrefetchSlot(size_t slot) const { __builtin_prefetch(&slots_[slot]); }

  // Called for every entry, with its table hash, when a rebuild re-places it (the shard uses
  // the free full pass to register near-expiry hints, see shard.cc).
  using RebuildObserver = void (*)(void* arg, Entry* e, uint64_t hash);
  void set_rebuild_observer(RebuildObserver fn, void* arg) {
    observer_ = fn;
    observer_arg_ = arg;
  }

  // Calls f(Entry*) for every entry (used to free them).
  template <class F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < cap_; ++i) {
      if (slots_[i] > kTomb) f(EntryOf(slots_[i]));
    }
  }

  static uint32_t HintOf(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

 private:
  static constexpr uint64_t kEmpty = 0;
  static constexpr uint64_t kTomb = 1;
  static constexpr uint64_t kPtrMask = (uint64_t{1} << 48) - 1;
  static constexpr uint64_t kVolatileBit = uint64_t{1} << 48;
  static constexpr int kTagShift = 49;
  static constexpr size_t kMinCapacity = 8;

  static uint64_t TagOf(uint32_t hint) { return hint & 0x7FFFu; }
  static Entry* EntryOf(uint64_t s) { return reinterpret_cast<Entry*>(s & kPtrMask); }
  static uint64_t Encode(Entry* e, uint32_t hint);
  // Capacity for `n` live entries at the post-growth load (0.7).
  static size_t CapacityFor(size_t n);
  void Rebuild(size_t new_cap);
  // Places an entry in the first free (empty or tombstone) slot of its run.
  void Place(uint64_t word, uint32_t hint);

  std::unique_ptr<uint64_t[]> slots_;
  size_t cap_ = 0;
  size_t live_ = 0;
  size_t tombs_ = 0;
  uint64_t generation_ = 0;
  // Position = top bits of (hint * mult_) mod 2^32, scaled to the capacity. mult_ is a new odd
  // number at every rebuild: entries removed in table order (reclaimer, far scan) leave
  // survivors whose hints form a narrow range, and with a fixed order-preserving map a shrunk
  // table would pile them into one huge probe run (measured: seconds-long steps after 1 M keys
  // expired together). Multiplying by a fresh odd constant scatters any range.
  uint32_t mult_ = 0x9E3779B1u;
  RebuildObserver observer_ = nullptr;
  void* observer_arg_ = nullptr;
};

}  // namespace hourglass::storage::internal
