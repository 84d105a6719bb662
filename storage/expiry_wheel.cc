#include "storage/expiry_wheel.h"

namespace hourglass::storage::internal {

namespace {
// A drained bucket that grew past this many hints (a burst of keys sharing a deadline) gives
// its memory back instead of keeping it for the next lap of the ring.
constexpr size_t kKeepBucketCapacity = 1024;
}  // namespace

bool ExpiryWheel::Add(uint64_t deadline_rel, uint32_t hint) {
  uint64_t tick = TickOf(deadline_rel);
  if (tick >= next_tick_ + kBuckets) return false;
  if (tick < next_tick_) tick = next_tick_;
  if (buckets_.empty()) buckets_.resize(kBuckets);
  buckets_[tick % kBuckets].push_back(hint);
  ++count_;
  return true;
}

bool ExpiryWheel::TakeDue(uint64_t now_rel, size_t max, std::vector<Due>* out) {
  const uint64_t now_tick = TickOf(now_rel);
  size_t taken = 0;
  while (true) {
    if (count_ == 0) {
      // Nothing registered: jump over any number of empty ticks at once.
      if (next_tick_ < now_tick) next_tick_ = now_tick;
      return false;
    }
    if (next_tick_ > now_tick) return false;
    std::vector<uint32_t>& bucket = buckets_[next_tick_ % kBuckets];
    while (!bucket.empty() && taken < max) {
      out->push_back(Due{bucket.back(), next_tick_});
      bucket.pop_back();
      ++taken;
      --count_;
    }
    if (!bucket.empty()) return true;  // limit reached
    if (bucket.capacity() > kKeepBucketCapacity) std::vector<uint32_t>().swap(bucket);
    if (next_tick_ == now_tick) return false;  // the current bucket stays current
    ++next_tick_;
    if (taken >= max) return true;
  }
}

size_t ExpiryWheel::memory_bytes() const {
  size_t bytes = buckets_.capacity() * sizeof(std::vector<uint32_t>);
  for (const auto& b : buckets_) bytes += b.capacity() * sizeof(uint32_t);
  return bytes;
}

}  // namespace hourglass::storage::internal
