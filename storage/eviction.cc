#include "storage/eviction.h"

namespace hourglass::storage::internal {

void EvictionPool::Offer(const PoolCandidate& c) {
  // Already pooled (sampled again): drop the old score, keep the fresh one.
  Forget(c.entry);
  if (n_ == kSize) {
    if (c.score <= items_[0].score) return;  // worse than everything kept
    for (size_t i = 1; i < n_; ++i) items_[i - 1] = items_[i];
    --n_;
  }
  size_t pos = n_;
  while (pos > 0 && items_[pos - 1].score > c.score) {
    items_[pos] = items_[pos - 1];
    --pos;
  }
  items_[pos] = c;
  ++n_;
}

void EvictionPool::Forget(const Entry* e) {
  for (size_t i = 0; i < n_; ++i) {
    if (items_[i].entry != e) continue;
    for (size_t j = i + 1; j < n_; ++j) items_[j - 1] = items_[j];
    --n_;
    return;
  }
}

}  // namespace hourglass::storage::internal
