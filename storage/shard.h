#pragma once

// Shard: one lock, one table, one near-expiry wheel, per-shard stats. Internal to storage/.
//
// Every method that touches state requires `mu`. The store locks shards (one per operation, or
// several in ascending index order for UpdateMany); code that receives a shard whose lock the
// caller holds calls AssertHeld() for clang's -Wthread-safety.
//
// Removal protocol. An entry leaves the table through Unlink/Remove, which keeps the counters
// right and queues the entry in the shard's graveyard; the entry stays allocated until the lock
// is released, when the store raises its event (with views into the entry) and frees it. If the
// entry was removed by expiry or eviction and its space has a RemovalHook, it is also queued for
// the hook; RunHooks() calls the hooks one at a time, under the lock, never nested (a hook's
// edits can expire further entries: their hooks run after it returns). Lookups (FindLive) run
// pending hooks before returning, so a caller always sees their edits.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/types/span.h"
#include "storage/entry.h"
#include "storage/entry_table.h"
#include "storage/eviction.h"
#include "storage/expiry_wheel.h"
#include "storage/frequency_sketch.h"
#include "storage/memory_budget.h"
#include "storage/mutex.h"
#include "storage/store.h"

namespace hourglass::storage::internal {

// Where a key lives.
struct KeyLoc {
  size_t shard;
  uint64_t hash;  // TableHash
};
inline KeyLoc Locate(const KeyRef& key, uint64_t shard_mask) {
  const uint64_t kh = KeyHash(key.key);
  const uint64_t sh = key.affinity.empty() ? kh : KeyHash(key.affinity);
  return KeyLoc{static_cast<size_t>(sh & shard_mask), TableHash(kh, key.space)};
}

// What the shards share with their store. Read-only once the store is shared between threads.
struct StoreContext {
  const Clock* clock = nullptr;
  int64_t epoch_ms = 0;  // stored deadlines are relative to this instant
  int64_t max_ttl_ms = 0;
  uint64_t shard_mask = 0;
  MemoryBudget* budget = nullptr;
  std::atomic<uint64_t>* rejected_writes = nullptr;
  const RemovalHook* hooks = nullptr;  // kNumSpaces of them
  bool has_listener = false;
  const std::atomic<EvictionPolicy>* policy = nullptr;
  const std::vector<std::unique_ptr<class Shard>>* shards = nullptr;  // every shard of the store
};

// An entry that left the table, waiting for its event and its free.
struct Removed {
  Entry* entry;
  EventKind kind;
  int64_t time_ms;
};

struct ShardStats {
  std::array<SpaceStats, kNumSpaces> spaces{};
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t expired = 0;
  uint64_t evicted = 0;
  LatenessHistogram lateness;
};

// Per-step limits of the reclaimer (see ReclaimStep).
//   kMaxHintsPerStep: near-expiry hints processed per shard per step. A hint costs ~50-150 ns,
//     so a step holds the lock for at most ~0.5 ms; a backlog (1 M keys sharing a deadline)
//     is worked through by back-to-back steps.
//   kMaxScanSlotsPerStep: far-scan slots per shard per step (~10 ns a persistent slot, up to
//     ~200 ns a volatile one that gets hinted): ~0.5-1 ms.
//   kFarScanPeriodMs: one far-scan pass over a table every this many ms, half the wheel's
//     horizon, so every volatile entry is seen (and hinted) at least once before its deadline
//     comes within reach. Costs one entry read per volatile key per 2 s (~5 % of a core for
//     1 M volatile keys).
inline constexpr size_t kMaxHintsPerStep = 4096;
inline constexpr size_t kMaxScanSlotsPerStep = 4096;
inline constexpr int64_t kFarScanPeriodMs = 2000;
static_assert(kFarScanPeriodMs * 2 <= static_cast<int64_t>(ExpiryWheel::kHorizonMs));

// Eviction limits (see shard_eviction.cc).
//   kEvictionSamples: keys sampled per eviction (Redis's maxmemory-samples default).
//   kEvictionSlack: evictions a write may make beyond the one per 32 bytes (the smallest charge)
//     it needs, to absorb concurrent writers taking the room it freed; past that the write is
//     refused. Also what one write may do toward a shrunk cap (the reclaimer does the rest).
//   kMaxEvictionsPerStep: evictions per shard per reclaimer step while over a shrunk cap
//     (~150 ns each: ~0.15 ms of lock hold).
inline constexpr size_t kEvictionSamples = 5;
inline constexpr size_t kEvictionSlack = 64;
inline constexpr size_t kMaxEvictionsPerStep = 1024;

class ShardEditorImpl;

// What a write's step holds: its locked shards (the reserving one among them) and the entries
// bound to its cursors, which eviction must not touch.
struct WriteScope {
  absl::Span<Shard* const> held;
  absl::Span<const Entry* const> pinned;
};

class alignas(64) Shard {
 public:
  Shard(const StoreContext* ctx, size_t index);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  Mutex mu;

  size_t index() const { return index_; }
  const StoreContext& ctx() const { return *ctx_; }
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK(mu) {}

  // ---- Time: absolute monotonic ms <-> ms since the store epoch ----
  uint64_t ToRel(int64_t abs_ms) const { return static_cast<uint64_t>(abs_ms - ctx_->epoch_ms); }
  int64_t ToAbs(uint64_t rel) const {
    return rel == 0 ? kNoDeadline : ctx_->epoch_ms + static_cast<int64_t>(rel);
  }

  // ---- Lookup ----
  // The slot of the key's live entry, or EntryTable::kNotFound. An expired entry met on the
  // way is removed (EXPIRED) and pending removal hooks run before this returns.
  size_t FindLive(uint64_t hash, Space space, std::string_view key, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Entry* entry(size_t slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return table_.entry(slot); }
  void CountLookup(bool hit) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++(hit ? stats_.hits : stats_.misses);
  }

  // ---- Mutations. They keep counters, volatile bits and hints right. Growth must have been
  // reserved from the budget by the caller (ReserveForWrite); Unlink leaves the release to the
  // caller too, Remove releases. ----
  // Inserts a new key, with fresh policy metadata (and TinyLFU's admission test when this write
  // evicted).
  void InsertNew(uint64_t hash, Entry* e, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Replaces the entry at `slot` (same key) and frees the old one: an overwrite, no event. The
  // new entry inherits the old one's policy metadata (Redis's dbOverwrite keeps the LFU count).
  void ReplaceAt(size_t slot, uint64_t hash, Entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Sets the deadline (0 = persistent) of the entry at `slot`.
  void SetDeadlineAt(size_t slot, uint64_t hash, uint64_t deadline_rel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Takes the entry out (event `kind`); returns its charge, not yet released.
  uint64_t Unlink(size_t slot, EventKind kind, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Remove(size_t slot, EventKind kind, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ctx_->budget->Release(Unlink(slot, kind, now));
  }

  // ---- Eviction (shard_eviction.cc) ----
  // Policy bookkeeping of one access to a key: `slot` is its live entry or kNotFound (a miss,
  // which TinyLFU counts too). Called once per logical operation (not for TTL reads).
  void Touch(size_t slot, uint64_t hash, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Reserves `bytes` of growth for a write, evicting under the store's policy when it does not
  // fit: from this shard, then the other shards of `scope`, then any other shard whose lock is
  // free (try-lock: never waits). False (a rejected write counted) when it still does not fit.
  // Removal hooks of the evicted entries are deferred until the step's lock is released
  // (RunHooks before unlocking), so they see the step's writes and never its cursors' entries.
  bool ReserveForWrite(uint64_t bytes, int64_t now, const WriteScope& scope)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Ends the admission window a ReserveForWrite opened (InsertNew consults it): called when a
  // step's writes are applied, so a later unrelated insert is not judged against this victim.
  void EndAdmission() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { victim_freq_ = -1; }
  // Evicts from this shard while the store is over its cap (after a shrink), at most `max`
  // entries. Returns how many it evicted.
  size_t EvictOverCap(int64_t now, size_t max) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Runs queued removal hooks until none is left (no-op when called from inside a hook).
  void RunHooks(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool hooks_pending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return hook_next_ < hook_queue_.size();
  }

  // Moves the removed entries out, for the caller to dispatch and free after unlocking.
  std::vector<Removed> TakeRemoved() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // ---- Expiry ----
  // One bounded reclamation step at `now`: drains due near-expiry hints, advances the far scan
  // by the share of a pass that the elapsed time calls for, and shrinks the table if it got
  // sparse. Returns the number of entries reclaimed; sets *backlog when a limit cut it short.
  size_t ReclaimStep(int64_t now, bool* backlog) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // ---- Export (export_import.cc) ----
  // Where an export of this shard stands between chunks.
  struct ExportPosition {
    size_t slot = 0;
    uint64_t generation = 0;  // the table's generation when `slot` was saved
    bool started = false;
    int restarts = 0;  // times the table was rebuilt under the export (it then starts over)
  };
  // Copies the live entries (deadline > now) from `pos` on into `out`, until `max_entries`
  // entries or `max_bytes` of keys and values are copied (at least one entry), and advances
  // `pos`. Returns true when the shard is done. A table rebuilt since the previous chunk moves
  // entries: the export then starts the shard over (entries seen twice, never missed); after
  // kMaxExportRestarts it copies the rest of the shard in one go.
  static constexpr int kMaxExportRestarts = 3;
  struct ExportItem {
    Space space;
    uint32_t key_size;
    uint32_t value_size;
    int64_t deadline;
  };
  bool ExportChunk(ExportPosition* pos, int64_t now, size_t max_entries, size_t max_bytes,
                   std::vector<ExportItem>* items, std::string* bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // ---- Stats ----
  void AddStats(StoreStats* out) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  size_t size() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return table_.size(); }

 private:
  // Registers a near-expiry hint for a volatile entry if its deadline is within the horizon.
  void MaybeHint(Entry* e, uint64_t hash) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void CountIn(const Entry* e, int sign) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  EvictionPolicy policy() const { return ctx_->policy->load(std::memory_order_relaxed); }
  // Evicts one entry of this shard chosen by `policy`, never one of `pinned`; its bytes are
  // released. False when nothing here may be evicted. With TinyLFU, raises *victim_freq to the
  // victim's sketch frequency.
  bool EvictOne(EvictionPolicy policy, int64_t now, absl::Span<const Entry* const> pinned,
                int* victim_freq = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Evicts one entry from another shard: a held one of `scope`, else one whose lock is free.
  bool EvictElsewhere(EvictionPolicy policy, int64_t now, const WriteScope& scope);
  // Keys this shard may evict under `policy` (kIndex never; volatile-* only keys with a TTL).
  uint64_t EvictableKeys(bool volatile_only) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Up to `want` (<= kEvictionSamples) evictable slots, from a random position on (Redis's
  // dictGetSomeKeys).
  size_t SampleSlots(bool volatile_only, absl::Span<const Entry* const> pinned, size_t want,
                     size_t* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Higher = evict first.
  uint64_t VictimScore(EvictionPolicy policy, const Entry* e, uint64_t hash, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The slot of a pooled candidate if its entry is still in the table, else kNotFound.
  size_t Relocate(const PoolCandidate& c) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void InitMeta(Entry* e, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  size_t ProcessHints(int64_t now, bool* backlog) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  size_t FarScan(int64_t now, bool* backlog) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void RecordLateness(int64_t lateness_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  const StoreContext* const ctx_;
  const size_t index_;
  EntryTable table_ ABSL_GUARDED_BY(mu);
  ExpiryWheel wheel_ ABSL_GUARDED_BY(mu);
  ShardStats stats_ ABSL_GUARDED_BY(mu);
  std::vector<Removed> graveyard_ ABSL_GUARDED_BY(mu);
  std::vector<Entry*> hook_queue_ ABSL_GUARDED_BY(mu);
  size_t hook_next_ ABSL_GUARDED_BY(mu) = 0;
  bool in_hooks_ ABSL_GUARDED_BY(mu) = false;
  // Far scan: next slot, slots owed (a fraction of a pass per elapsed ms), last step's time.
  size_t scan_pos_ ABSL_GUARDED_BY(mu) = 0;
  uint64_t scan_owed_ ABSL_GUARDED_BY(mu) = 0;
  int64_t scan_time_ms_ ABSL_GUARDED_BY(mu);
  // Scratch buffers of ReclaimStep, kept to avoid reallocating every tick.
  std::vector<ExpiryWheel::Due> due_ ABSL_GUARDED_BY(mu);
  std::vector<ExpiryWheel::Due> keep_ ABSL_GUARDED_BY(mu);
  // Eviction state: sampling randomness, the candidate pool (and the policy its scores were
  // computed for), TinyLFU's sketch, and the highest sketch frequency among the entries this
  // shard evicted for the write in progress (-1: none), for the admission test in InsertNew.
  Rng rng_ ABSL_GUARDED_BY(mu);
  EvictionPool pool_ ABSL_GUARDED_BY(mu);
  EvictionPolicy pool_policy_ ABSL_GUARDED_BY(mu) = EvictionPolicy::kNoEviction;
  FrequencySketch sketch_ ABSL_GUARDED_BY(mu);
  int victim_freq_ ABSL_GUARDED_BY(mu) = -1;
};

}  // namespace hourglass::storage::internal
