#pragma once

// ShardedStore: the Store implementation (Store::Create returns one). Internal to storage/;
// code outside storage/ uses store.h only.
//
// Layout of the implementation:
//   entry.h          one allocation per entry: 15-byte header + key + value; charging; hashing
//   entry_table.h    a shard's open-addressing table of entry pointers (8 B a slot)
//   expiry_wheel.h   a shard's near-expiry hints (4 B per key expiring in the next ~4 s)
//   memory_budget.h  the cap: one atomic counter
//   shard.h          a shard: lock + table + wheel + stats; removal protocol, reclaim step
//   cursor_impl.h    atomic steps (Update, UpdateMany, ShardEditor)
//   int_codec.h      Redis's decimal int64 parsing
//   sharded_store.*  the operations of store.h, UpdateMany's lock ordering, the reclaimer thread
//   export_import.cc Export and Import (snapshots)

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "storage/memory_budget.h"
#include "storage/shard.h"
#include "storage/store.h"

namespace hourglass::storage::internal {

class ShardedStore final : public Store {
 public:
  // `options` must have been validated by Store::Create.
  explicit ShardedStore(Options options);
  ~ShardedStore() override;

  absl::StatusOr<GetResult> Get(const KeyRef& key, const GetOptions& options) override;
  absl::StatusOr<SetResult> Set(const KeyRef& key, std::string_view value,
                                const SetOptions& options) override;
  uint64_t Delete(absl::Span<const KeyRef> keys) override;
  absl::StatusOr<bool> Expire(const KeyRef& key, Expiry expiry, ExpireCondition condition) override;
  bool Persist(const KeyRef& key) override;
  TtlInfo GetTtl(const KeyRef& key) override;
  absl::StatusOr<IncrementResult> Increment(const KeyRef& key, int64_t delta,
                                            std::optional<int64_t> ttl_on_create_ms) override;
  absl::Status Update(const KeyRef& key, absl::FunctionRef<absl::Status(Cursor&)> fn) override;
  absl::Status UpdateMany(absl::Span<const KeyRef> keys,
                          absl::FunctionRef<absl::Status(absl::Span<Cursor* const>)> fn) override;
  absl::Status Export(absl::FunctionRef<absl::Status(const ExportedEntry&)> sink) override;
  absl::StatusOr<bool> Import(const KeyRef& key, std::string_view value, int64_t deadline) override;
  void SetRemovalHook(Space space, RemovalHook hook) override;
  void SetMaxMemory(uint64_t bytes) override;
  uint64_t max_memory() const override { return budget_.max(); }
  void SetEvictionPolicy(EvictionPolicy policy) override {
    policy_.store(policy, std::memory_order_relaxed);
  }
  EvictionPolicy eviction_policy() const override {
    return policy_.load(std::memory_order_relaxed);
  }
  uint64_t RunReclaimStep() override;
  StoreStats GetStats() const override;
  size_t shard_count() const override { return shards_.size(); }
  const Clock& clock() const override { return *options_.clock; }

 private:
  class Guard;

  Shard& ShardOf(const KeyLoc& loc) const { return *shards_[loc.shard]; }
  // Raises the events of removed entries (outside every lock) and frees them.
  void Dispatch(std::vector<Removed>& removed) const;
  // One step over shards first, first + stride, ...; *backlog when some has more due work.
  uint64_t ReclaimShards(size_t first, size_t stride, bool* backlog);
  uint64_t ReclaimAll(bool* backlog) { return ReclaimShards(0, 1, backlog); }
  // Evicts toward a shrunk cap over shards first, first + stride, ... (bounded per step).
  void ShrinkToCap(size_t first, size_t stride, bool* backlog);
  void ReclaimerLoop();
  void BurstHelperLoop();
  // Validates a write's new deadline (`ttl` or absolute) into a relative one; sets *past when
  // the deadline is <= now (the write deletes instead).
  absl::Status ResolveDeadline(Expiry expiry, int64_t now, bool allow_zero_ttl, int64_t* abs,
                               bool* past) const;

  const Options options_;
  MemoryBudget budget_;
  std::atomic<uint64_t> rejected_writes_{0};
  std::atomic<EvictionPolicy> policy_;
  std::array<RemovalHook, kNumSpaces> hooks_;
  StoreContext ctx_;
  std::vector<std::unique_ptr<Shard>> shards_;

  // The background reclaimer (reclaim_interval_ms > 0), and its burst helper: while a step
  // leaves a backlog (many keys sharing a deadline), the helper works through the odd shards
  // and the reclaimer through the even ones, so a 2-core machine frees a burst twice as fast.
  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  std::condition_variable helper_cv_;
  bool stop_ = false;   // guarded by thread_mu_
  bool burst_ = false;  // guarded by thread_mu_
  std::thread reclaimer_;
  std::thread helper_;
};

}  // namespace hourglass::storage::internal
