#include "storage/frequency_sketch.h"

#include <algorithm>
#include <utility>

namespace hourglass::storage::internal {

namespace {
// Row seeds (Caffeine's): each row picks its word with a differently mixed hash.
constexpr uint64_t kSeeds[4] = {0xc3a5c85c97cb3127ULL, 0xb492b66fbe98f273ULL, 0x9ae16a3b2f90404fULL,
                                0xcbf29ce484222325ULL};
// The smallest sketch: 64 words (1024 counters), 512 bytes.
constexpr size_t kMinWords = 64;
}  // namespace

void FrequencySketch::EnsureCapacity(size_t keys) {
  if (words_ == 0) {
    words_ = kMinWords;
    table_.reset(new uint64_t[words_]());
  }
  while (words_ < keys) {
    // Doubling keeps every count: a word's index is the hash's low bits, so after doubling a
    // key's word is its old index or old index + old width, and both halves start as copies.
    std::unique_ptr<uint64_t[]> grown(new uint64_t[2 * words_]);
    std::copy(table_.get(), table_.get() + words_, grown.get());
    std::copy(table_.get(), table_.get() + words_, grown.get() + words_);
    table_ = std::move(grown);
    words_ *= 2;
  }
  sample_size_ = 10 * words_;
}

size_t FrequencySketch::Index(uint64_t hash, int row) const {
  uint64_t h = (hash + kSeeds[row]) * kSeeds[row];
  h += h >> 32;
  return static_cast<size_t>(h) & (words_ - 1);
}

void FrequencySketch::Increment(uint64_t hash) {
  if (words_ == 0) return;
  // Which of a word's 16 counters a row uses: 4 counters (one per row) out of the 16, picked
  // by 2 bits of the hash, so keys sharing a word mostly use different counters.
  const int start = static_cast<int>((hash >> 60) & 3) << 2;
  bool added = false;
  for (int row = 0; row < kDepth; ++row) {
    uint64_t& word = table_[Index(hash, row)];
    const int shift = (start + row) << 2;
    if (((word >> shift) & 0xF) != 0xF) {
      word += uint64_t{1} << shift;
      added = true;
    }
  }
  if (added && ++additions_ >= sample_size_) Age();
}

uint32_t FrequencySketch::Frequency(uint64_t hash) const {
  if (words_ == 0) return 0;
  const int start = static_cast<int>((hash >> 60) & 3) << 2;
  uint32_t freq = 15;
  for (int row = 0; row < kDepth; ++row) {
    const uint64_t word = table_[Index(hash, row)];
    freq = std::min(freq, static_cast<uint32_t>((word >> ((start + row) << 2)) & 0xF));
  }
  return freq;
}

void FrequencySketch::Age() {
  // Halve every counter at once: shift the word right and clear the bit each counter got from
  // its neighbour.
  constexpr uint64_t kResetMask = 0x7777777777777777ULL;
  for (size_t i = 0; i < words_; ++i) table_[i] = (table_[i] >> 1) & kResetMask;
  additions_ /= 2;
}

}  // namespace hourglass::storage::internal
