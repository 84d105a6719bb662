#pragma once

// The layout of one stored entry: a single allocation holding a compact header, the key and the
// value. Internal to storage/.
//
//   offset  size  field
//   0       8     word: bits 0..39  deadline, ms since the store epoch (0 = persistent)
//                       bits 40..63 eviction-policy metadata (24 bits: an LRU clock, or an LFU
//                                   counter + decay time, as Redis's robj.lru; unused until the
//                                   eviction issue)
//   8       4     value length
//   12      2     key length (keys are at most 65535 bytes)
//   14      1     bits 0..2 space, bit 3 "hinted" (a near-expiry hint is registered for the
//                 current deadline, see expiry_wheel.h), bits 4..7 free (policy flags)
//   15      k     key bytes
//   15+k    v     value bytes
//
// 15 header bytes: a 16 B key + 64 B value entry is a 95 B allocation, which lands in the 96 B
// size class of mimalloc (glibc: a 112 B chunk). There are no per-entry list pointers: the hash
// table holds the only pointer to an entry, and the expiry index holds hashes, not pointers.
//
// Fields are read and written with memcpy (the header is not naturally aligned past offset 8).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "storage/store.h"

namespace hourglass::storage::internal {

// Deadlines are stored as milliseconds since the store epoch in 40 bits: 2^40 ms = 34.8 years,
// enough for a 10-year --max_ttl plus decades of uptime. kMaxRelDeadline is reserved headroom.
inline constexpr uint64_t kDeadlineBits = 40;
inline constexpr uint64_t kDeadlineMask = (uint64_t{1} << kDeadlineBits) - 1;
inline constexpr uint64_t kMaxRelDeadline = kDeadlineMask - 1;
inline constexpr uint64_t kMetaMask = (uint64_t{1} << 24) - 1;
inline constexpr size_t kMaxKeyBytes = 0xFFFF;
inline constexpr size_t kMaxValueBytes = 0xFFFFFFFFu;

class Entry {
 public:
  static constexpr size_t kHeaderBytes = 15;

  // Allocates an entry (never fails: allocation failure terminates, as operator new).
  static Entry* Create(Space space, std::string_view key, std::string_view value,
                       uint64_t deadline_rel);
  static void Destroy(Entry* e);

  Entry() = delete;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

  uint64_t deadline_rel() const { return word() & kDeadlineMask; }
  bool has_deadline() const { return deadline_rel() != 0; }
  void set_deadline_rel(uint64_t d) { set_word((word() & ~kDeadlineMask) | (d & kDeadlineMask)); }
  uint32_t meta() const { return static_cast<uint32_t>(word() >> kDeadlineBits); }
  void set_meta(uint32_t m) {
    set_word((word() & kDeadlineMask) | (uint64_t{m & kMetaMask} << kDeadlineBits));
  }

  Space space() const { return static_cast<Space>(flags() & 7u); }
  bool hinted() const { return (flags() & 8u) != 0; }
  void set_hinted(bool h) { set_flags(h ? (flags() | 8u) : (flags() & ~8u)); }

  size_t key_size() const {
    uint16_t k;
    std::memcpy(&k, base() + 12, 2);
    return k;
  }
  size_t value_size() const {
    uint32_t v;
    std::memcpy(&v, base() + 8, 4);
    return v;
  }
  std::string_view key() const { return {base() + kHeaderBytes, key_size()}; }
  std::string_view value() const { return {base() + kHeaderBytes + key_size(), value_size()}; }
  // Overwrites the value in place with one of the same size.
  void OverwriteValue(std::string_view v) {
    std::memcpy(base() + kHeaderBytes + key_size(), v.data(), value_size());
  }
  bool Matches(Space space, std::string_view key) const {
    return this->space() == space && key_size() == key.size() &&
           std::memcmp(base() + kHeaderBytes, key.data(), key.size()) == 0;
  }
  // Bytes this entry is charged against the cap (see ChargeFor).
  uint64_t charge() const;

 private:
  const char* base() const { return reinterpret_cast<const char*>(this); }
  char* base() { return reinterpret_cast<char*>(this); }
  uint64_t word() const {
    uint64_t w;
    std::memcpy(&w, base(), 8);
    return w;
  }
  void set_word(uint64_t w) { std::memcpy(base(), &w, 8); }
  uint8_t flags() const { return static_cast<uint8_t>(base()[14]); }
  void set_flags(uint8_t f) { base()[14] = static_cast<char>(f); }
};

// ---- Charging ----
//
// An entry is charged: its allocation as the allocator will round it (estimated as glibc does:
// an 8-byte chunk header, 16-byte granularity, 32-byte minimum; mimalloc's size classes are at
// most as large for the small sizes that dominate, so the estimate errs on the safe side), plus
// its share of the hash table: an 8-byte slot at the 0.7 load a table has right after growing
// (it runs between 0.7 and 0.85), i.e. 8 / 0.7 = 11.4, rounded up.
inline constexpr uint64_t kSlotShareBytes = 12;

inline uint64_t AllocEstimate(uint64_t bytes) {
  const uint64_t chunk = (bytes + 8 + 15) & ~uint64_t{15};
  return chunk < 32 ? 32 : chunk;
}
inline uint64_t ChargeFor(size_t key_size, size_t value_size) {
  return AllocEstimate(Entry::kHeaderBytes + key_size + value_size) + kSlotShareBytes;
}
inline uint64_t Entry::charge() const { return ChargeFor(key_size(), value_size()); }

// ---- Hashing ----
//
// KeyHash: absl::Hash of the key bytes (seeded per process, so hash flooding cannot be planned
// offline). It also places keys on shards (low bits), so that a key without affinity lands on
// the same shard as any key whose affinity string equals it, whatever the space.
// TableHash: the position inside a shard's table; mixes in the space, and runs the result
// through a 64-bit finaliser so its bits are independent of the shard-selection bits.
uint64_t KeyHash(std::string_view key);

inline uint64_t Mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}
inline uint64_t TableHash(uint64_t key_hash, Space space) {
  return Mix64(key_hash ^ (0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(space) + 1)));
}
inline uint64_t TableHashOf(const Entry* e) { return TableHash(KeyHash(e->key()), e->space()); }

}  // namespace hourglass::storage::internal
