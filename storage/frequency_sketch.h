#pragma once

// FrequencySketch: how often each key was asked for recently, present in the store or not, in
// ~8 bytes per resident key. Internal to storage/; owned by a shard, used under its lock.
//
// A count-min sketch of 4-bit counters, as Caffeine's FrequencySketch: each key maps to one
// counter in each of 4 rows (here: 4 counters of one 64-bit word per row, words chosen by 4
// independent hashes); its frequency is the minimum of the four. Counters saturate at 15. After
// 10 x width increments every counter is halved ("aging"), so the sketch follows a popularity
// that shifts, and one-time scans fade.
//
// The width is a power of two >= the number of resident keys it must tell apart (8 bytes a key,
// up to 16 just after a doubling); EnsureCapacity doubles it, keeping every count, when the
// shard outgrows it.

#include <cstddef>
#include <cstdint>
#include <memory>

namespace hourglass::storage::internal {

class FrequencySketch {
 public:
  FrequencySketch() = default;
  FrequencySketch(const FrequencySketch&) = delete;
  FrequencySketch& operator=(const FrequencySketch&) = delete;

  // Makes room to tell `keys` keys apart (no-op when it already can).
  void EnsureCapacity(size_t keys);
  bool enabled() const { return words_ != 0; }
  // Counts one access to the key with 64-bit hash `hash`. No-op until EnsureCapacity.
  void Increment(uint64_t hash);
  // The key's estimated recent access count, 0..15.
  uint32_t Frequency(uint64_t hash) const;
  size_t memory_bytes() const { return words_ * sizeof(uint64_t); }

 private:
  static constexpr int kDepth = 4;
  size_t Index(uint64_t hash, int row) const;
  void Age();

  std::unique_ptr<uint64_t[]> table_;
  size_t words_ = 0;  // power of two
  size_t additions_ = 0;
  size_t sample_size_ = 0;  // additions between agings: 10 x words
};

}  // namespace hourglass::storage::internal
