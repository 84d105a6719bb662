#include "storage/sharded_store.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/cursor_impl.h"
#include "storage/int_codec.h"

namespace hourglass::storage {

using internal::ChargeFor;
using internal::CursorImpl;
using internal::Entry;
using internal::EntryTable;
using internal::KeyLoc;
using internal::Removed;
using internal::Shard;

// Deadlines are kept in 40 bits of ms since the store's creation (entry.h): max_ttl may use
// half of that range, leaving the other half (17 years) for uptime.
static constexpr int64_t kMaxMaxTtlMs = int64_t{1} << 39;

absl::StatusOr<std::unique_ptr<Store>> Store::Create(Options options) {
  if (options.clock == nullptr) return absl::InvalidArgumentError("clock: required");
  if (options.shards < 1 || options.shards > 65536 ||
      (options.shards & (options.shards - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shards: ", options.shards, " is not a power of two in [1, 65536]"));
  }
  if (options.max_ttl_ms <= 0 || options.max_ttl_ms > kMaxMaxTtlMs) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_ttl_ms: ", options.max_ttl_ms, " not in [1, ", kMaxMaxTtlMs, "]"));
  }
  if (options.reclaim_interval_ms < 0) {
    return absl::InvalidArgumentError("reclaim_interval_ms: negative");
  }
  return std::unique_ptr<Store>(new internal::ShardedStore(std::move(options)));
}

namespace internal {

// Locks one shard; on release, raises the events of the entries removed meanwhile and frees
// them, after unlocking (so a listener may call back into the store).
class ABSL_SCOPED_LOCKABLE ShardedStore::Guard {
 public:
  Guard(const ShardedStore* store, Shard& shard) ABSL_EXCLUSIVE_LOCK_FUNCTION(shard.mu)
      : store_(store), shard_(shard) {
    shard_.mu.Lock();
  }
  ~Guard() ABSL_UNLOCK_FUNCTION() {
    shard_.AssertHeld();
    // Hooks of entries evicted for a write were deferred until the write applied (shard.h).
    if (shard_.hooks_pending()) shard_.RunHooks(store_->options_.clock->MonotonicMs());
    std::vector<Removed> removed = shard_.TakeRemoved();
    shard_.mu.Unlock();
    if (!removed.empty()) store_->Dispatch(removed);
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  const ShardedStore* const store_;
  Shard& shard_;
};

ShardedStore::ShardedStore(Options options)
    : options_(std::move(options)),
      budget_(options_.max_memory_bytes),
      policy_(options_.eviction_policy) {
  ctx_.clock = options_.clock;
  ctx_.epoch_ms = options_.clock->MonotonicMs();
  ctx_.max_ttl_ms = options_.max_ttl_ms;
  ctx_.shard_mask = options_.shards - 1;
  ctx_.budget = &budget_;
  ctx_.rejected_writes = &rejected_writes_;
  ctx_.hooks = hooks_.data();
  ctx_.has_listener = static_cast<bool>(options_.listener);
  ctx_.policy = &policy_;
  ctx_.shards = &shards_;
  shards_.reserve(options_.shards);
  for (size_t i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(&ctx_, i));
  }
  if (options_.reclaim_interval_ms > 0) {
    // The helper first: the reclaimer reads helper_ (thread creation orders the two).
    if (shards_.size() > 1) helper_ = std::thread([this] { BurstHelperLoop(); });
    reclaimer_ = std::thread([this] { ReclaimerLoop(); });
  }
}

ShardedStore::~ShardedStore() {
  if (reclaimer_.joinable()) {
    {
      std::lock_guard<std::mutex> l(thread_mu_);
      stop_ = true;
    }
    thread_cv_.notify_all();
    helper_cv_.notify_all();
    reclaimer_.join();
    if (helper_.joinable()) helper_.join();
  }
}

void ShardedStore::Dispatch(std::vector<Removed>& removed) const {
  for (const Removed& r : removed) {
    if (options_.listener) {
      const Event ev{r.kind, r.entry->space(), r.entry->key(), r.entry->value(), r.time_ms};
      options_.listener(ev);
    }
    Entry::Destroy(r.entry);
  }
}

absl::Status ShardedStore::ResolveDeadline(Expiry expiry, int64_t now, bool allow_zero_ttl,
                                           int64_t* abs, bool* past) const {
  *past = false;
  switch (expiry.kind) {
    case Expiry::Kind::kTtl:
      if (expiry.ms < 0 || (expiry.ms == 0 && !allow_zero_ttl)) {
        return absl::InvalidArgumentError(absl::StrCat("ttl: ", expiry.ms, " ms must be > 0"));
      }
      if (expiry.ms > options_.max_ttl_ms) {
        return absl::InvalidArgumentError(
            absl::StrCat("ttl: ", expiry.ms, " ms exceeds max ", options_.max_ttl_ms, " ms"));
      }
      *abs = now + expiry.ms;
      break;
    case Expiry::Kind::kDeadline:
      *abs = expiry.ms;
      break;
    default:
      return absl::InvalidArgumentError("expiry: a ttl or a deadline is required");
  }
  if (*abs <= now) {
    *past = true;
    return absl::OkStatus();
  }
  return CheckFutureDeadline(ctx_, *abs, now);
}

absl::StatusOr<GetResult> ShardedStore::Get(const KeyRef& key, const GetOptions& options) {
  absl::Status st = ValidateKey(key);
  if (!st.ok()) return st;
  if (options.delete_after && options.touch != GetOptions::Touch::kNone) {
    return absl::InvalidArgumentError("options: delete and touch conflict");
  }
  const int64_t now = options_.clock->MonotonicMs();
  int64_t touch_deadline = kNoDeadline;
  if (options.touch == GetOptions::Touch::kTtl) {
    bool past;
    st = ResolveDeadline(Expiry::Ttl(options.ttl_ms), now, false, &touch_deadline, &past);
    if (!st.ok()) return st;
  }
  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  GetResult result;
  Guard guard(this, shard);
  const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
  shard.CountLookup(slot != EntryTable::kNotFound);
  shard.Touch(slot, loc.hash, now);
  if (slot == EntryTable::kNotFound) return result;
  Entry* e = shard.entry(slot);
  result.found = true;
  result.value.assign(e->value());
  if (options.touch == GetOptions::Touch::kTtl) {
    shard.SetDeadlineAt(slot, loc.hash, shard.ToRel(touch_deadline));
  } else if (options.touch == GetOptions::Touch::kPersist && e->has_deadline()) {
    shard.SetDeadlineAt(slot, loc.hash, 0);
  }
  result.deadline = shard.ToAbs(e->deadline_rel());
  if (options.delete_after) shard.Remove(slot, EventKind::kDeleted, now);
  return result;
}

absl::StatusOr<SetResult> ShardedStore::Set(const KeyRef& key, std::string_view value,
                                            const SetOptions& options) {
  absl::Status st = ValidateKey(key);
  if (!st.ok()) return st;
  if (value.size() > internal::kMaxValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat("value: ", value.size(), " bytes too large"));
  }
  const int64_t now = options_.clock->MonotonicMs();
  int64_t deadline = kNoDeadline;
  bool past = false;
  const Expiry::Kind kind = options.expiry.kind;
  if (kind == Expiry::Kind::kTtl || kind == Expiry::Kind::kDeadline) {
    st = ResolveDeadline(options.expiry, now, false, &deadline, &past);
    if (!st.ok()) return st;
  } else if (kind != Expiry::Kind::kNone && kind != Expiry::Kind::kKeep) {
    return absl::InvalidArgumentError("expiry: unknown kind");
  }

  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  SetResult result;
  Guard guard(this, shard);
  const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
  shard.Touch(slot, loc.hash, now);
  const bool exists = slot != EntryTable::kNotFound;
  Entry* old = exists ? shard.entry(slot) : nullptr;
  result.had_previous = exists;
  if (exists && options.return_previous) result.previous.assign(old->value());
  if ((options.condition == SetCondition::kIfAbsent && exists) ||
      (options.condition == SetCondition::kIfPresent && !exists)) {
    return result;
  }
  if (past) {
    // A deadline in the past stores nothing and deletes the key (Redis SET ... PXAT <past>).
    if (exists) shard.Remove(slot, EventKind::kDeleted, now);
    result.applied = true;
    return result;
  }
  uint64_t rel = 0;
  if (kind == Expiry::Kind::kKeep) {
    rel = exists ? old->deadline_rel() : 0;
  } else if (deadline != kNoDeadline) {
    rel = shard.ToRel(deadline);
  }
  const uint64_t new_charge = ChargeFor(key.key.size(), value.size());
  const uint64_t old_charge = exists ? old->charge() : 0;
  Shard* const held[] = {&shard};
  const Entry* const pinned[] = {old};
  if (new_charge > old_charge &&
      !shard.ReserveForWrite(new_charge - old_charge, now, {held, pinned})) {
    return absl::ResourceExhaustedError("maxmemory: the write does not fit");
  }
  Entry* e = Entry::Create(key.space, key.key, value, rel);
  if (exists) {
    shard.ReplaceAt(slot, loc.hash, e);
  } else {
    shard.InsertNew(loc.hash, e, now);
  }
  if (old_charge > new_charge) budget_.Release(old_charge - new_charge);
  result.applied = true;
  return result;
}

uint64_t ShardedStore::Delete(absl::Span<const KeyRef> keys) {
  uint64_t deleted = 0;
  for (const KeyRef& key : keys) {
    if (!ValidateKey(key).ok()) continue;  // such a key cannot exist
    const int64_t now = options_.clock->MonotonicMs();
    const KeyLoc loc = Locate(key, ctx_.shard_mask);
    Shard& shard = ShardOf(loc);
    Guard guard(this, shard);
    const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
    if (slot == EntryTable::kNotFound) continue;
    shard.Remove(slot, EventKind::kDeleted, now);
    ++deleted;
  }
  return deleted;
}

absl::StatusOr<bool> ShardedStore::Expire(const KeyRef& key, Expiry expiry,
                                          ExpireCondition condition) {
  absl::Status st = ValidateKey(key);
  if (!st.ok()) return st;
  const int64_t now = options_.clock->MonotonicMs();
  int64_t deadline = kNoDeadline;
  bool past = false;
  // EXPIRE k 0 deletes; a negative ttl is INVALID_ARGUMENT (API.md).
  st = ResolveDeadline(expiry, now, /*allow_zero_ttl=*/true, &deadline, &past);
  if (!st.ok()) return st;

  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  Guard guard(this, shard);
  const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
  if (slot == EntryTable::kNotFound) return false;
  Entry* e = shard.entry(slot);
  // A persistent key counts as an infinite TTL (Redis 7): GT never applies to it, LT always.
  const int64_t current = shard.ToAbs(e->deadline_rel());
  bool holds = true;
  switch (condition) {
    case ExpireCondition::kAlways:
      break;
    case ExpireCondition::kIfNoExpiry:
      holds = current == kNoDeadline;
      break;
    case ExpireCondition::kIfHasExpiry:
      holds = current != kNoDeadline;
      break;
    case ExpireCondition::kIfGreater:
      holds = deadline > current;
      break;
    case ExpireCondition::kIfLess:
      holds = deadline < current;
      break;
  }
  if (!holds) return false;
  if (past) {
    shard.Remove(slot, EventKind::kDeleted, now);
  } else {
    shard.SetDeadlineAt(slot, loc.hash, shard.ToRel(deadline));
  }
  return true;
}

bool ShardedStore::Persist(const KeyRef& key) {
  if (!ValidateKey(key).ok()) return false;
  const int64_t now = options_.clock->MonotonicMs();
  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  Guard guard(this, shard);
  const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
  if (slot == EntryTable::kNotFound || !shard.entry(slot)->has_deadline()) return false;
  shard.SetDeadlineAt(slot, loc.hash, 0);
  return true;
}

TtlInfo ShardedStore::GetTtl(const KeyRef& key) {
  TtlInfo info;
  if (!ValidateKey(key).ok()) return info;
  const int64_t now = options_.clock->MonotonicMs();
  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  Guard guard(this, shard);
  const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
  if (slot == EntryTable::kNotFound) return info;
  info.found = true;
  info.deadline = shard.ToAbs(shard.entry(slot)->deadline_rel());
  return info;
}

absl::StatusOr<IncrementResult> ShardedStore::Increment(const KeyRef& key, int64_t delta,
                                                        std::optional<int64_t> ttl_on_create_ms) {
  absl::Status st = ValidateKey(key);
  if (!st.ok()) return st;
  const int64_t now = options_.clock->MonotonicMs();
  int64_t create_deadline = kNoDeadline;
  if (ttl_on_create_ms.has_value()) {
    bool past;
    st = ResolveDeadline(Expiry::Ttl(*ttl_on_create_ms), now, false, &create_deadline, &past);
    if (!st.ok()) return st;
  }
  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  IncrementResult result;
  char buf[20];
  Guard guard(this, shard);
  const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
  shard.Touch(slot, loc.hash, now);
  Shard* const held[] = {&shard};
  if (slot == EntryTable::kNotFound) {
    const size_t len = internal::FormatInt64(delta, buf);
    if (!shard.ReserveForWrite(ChargeFor(key.key.size(), len), now, {held, {}})) {
      return absl::ResourceExhaustedError("maxmemory: the write does not fit");
    }
    const uint64_t rel = create_deadline == kNoDeadline ? 0 : shard.ToRel(create_deadline);
    shard.InsertNew(loc.hash, Entry::Create(key.space, key.key, std::string_view(buf, len), rel),
                    now);
    result.value = delta;
    result.deadline = create_deadline;
    return result;
  }
  Entry* e = shard.entry(slot);
  const std::optional<int64_t> current = internal::ParseInt64(e->value());
  if (!current.has_value()) {
    return absl::FailedPreconditionError("value is not an integer or out of range");
  }
  int64_t next;
  if (__builtin_add_overflow(*current, delta, &next)) {
    return absl::FailedPreconditionError("increment or decrement would overflow");
  }
  const size_t len = internal::FormatInt64(next, buf);
  const std::string_view text(buf, len);
  if (len == e->value_size()) {
    e->OverwriteValue(text);  // same size, same charge: no allocation (the common case)
  } else {
    const uint64_t new_charge = ChargeFor(key.key.size(), len);
    const uint64_t old_charge = e->charge();
    const Entry* const pinned[] = {e};
    if (new_charge > old_charge &&
        !shard.ReserveForWrite(new_charge - old_charge, now, {held, pinned})) {
      return absl::ResourceExhaustedError("maxmemory: the write does not fit");
    }
    // Increment keeps the TTL (Redis INCR).
    Entry* n = Entry::Create(key.space, key.key, text, e->deadline_rel());
    shard.ReplaceAt(slot, loc.hash, n);
    e = n;
    if (old_charge > new_charge) budget_.Release(old_charge - new_charge);
  }
  result.value = next;
  result.deadline = shard.ToAbs(e->deadline_rel());
  return result;
}

absl::Status ShardedStore::Update(const KeyRef& key, absl::FunctionRef<absl::Status(Cursor&)> fn) {
  absl::Status st = ValidateKey(key);
  if (!st.ok()) return st;
  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  Guard guard(this, shard);
  // Read after the lock: a reading taken before a wait would let the step see an entry that
  // expired while it waited.
  const int64_t now = options_.clock->MonotonicMs();
  return UpdateLocked(shard, key, loc.hash, fn, now, /*enforce_cap=*/true,
                      /*count_lookup=*/true);
}

// Locks a dynamic set of shards, which -Wthread-safety cannot follow; the shards are locked in
// ascending index order (the only multi-lock order anywhere, so no deadlock) and each shard
// method asserts its lock.
absl::Status ShardedStore::UpdateMany(absl::Span<const KeyRef> keys,
                                      absl::FunctionRef<absl::Status(absl::Span<Cursor* const>)> fn)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const size_t n = keys.size();
  for (const KeyRef& key : keys) {
    absl::Status st = ValidateKey(key);
    if (!st.ok()) return st;
  }
  // Keys must be distinct (space + key).
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  auto less = [&](size_t a, size_t b) {
    if (keys[a].space != keys[b].space) return keys[a].space < keys[b].space;
    return keys[a].key < keys[b].key;
  };
  std::sort(order.begin(), order.end(), less);
  for (size_t i = 1; i < n; ++i) {
    if (!less(order[i - 1], order[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("keys: duplicate key in UpdateMany (index ", order[i], ")"));
    }
  }
  std::vector<KeyLoc> locs(n);
  std::vector<size_t> shard_ids(n);
  for (size_t i = 0; i < n; ++i) {
    locs[i] = Locate(keys[i], ctx_.shard_mask);
    shard_ids[i] = locs[i].shard;
  }
  std::sort(shard_ids.begin(), shard_ids.end());
  shard_ids.erase(std::unique(shard_ids.begin(), shard_ids.end()), shard_ids.end());

  for (size_t id : shard_ids) shards_[id]->mu.Lock();
  const int64_t now = options_.clock->MonotonicMs();
  absl::Status result;
  {
    // First expire what is expired among the keys (running removal hooks, which may edit other
    // keys of the step), then bind the cursors to what is left.
    for (size_t i = 0; i < n; ++i) {
      ShardOf(locs[i]).FindLive(locs[i].hash, keys[i].space, keys[i].key, now);
    }
    std::unique_ptr<CursorImpl[]> cursors(new CursorImpl[n]);
    std::vector<CursorImpl*> impls(n);
    std::vector<Cursor*> views(n);
    for (size_t i = 0; i < n; ++i) {
      Shard& shard = ShardOf(locs[i]);
      const size_t slot = shard.FindLive(locs[i].hash, keys[i].space, keys[i].key, now);
      shard.CountLookup(slot != EntryTable::kNotFound);
      shard.Touch(slot, locs[i].hash, now);
      cursors[i].Bind(&shard, keys[i], locs[i].hash, slot, now);
      impls[i] = &cursors[i];
      views[i] = &cursors[i];
    }
    result = fn(absl::MakeConstSpan(views));
    if (result.ok() && n > 0) {
      result = CommitCursors(impls, ShardOf(locs[0]), now, /*enforce_cap=*/true);
    }
  }
  std::vector<Removed> removed;
  for (size_t id : shard_ids) {
    shards_[id]->RunHooks(now);  // deferred hooks of entries evicted for this step
    std::vector<Removed> r = shards_[id]->TakeRemoved();
    removed.insert(removed.end(), r.begin(), r.end());
  }
  for (auto it = shard_ids.rbegin(); it != shard_ids.rend(); ++it) shards_[*it]->mu.Unlock();
  if (!removed.empty()) Dispatch(removed);
  return result;
}

// Hooks are read only under a shard lock (Unlink, RunHooks); holding every shard lock while
// assigning makes the change safe even with the reclaimer thread already running.
void ShardedStore::SetRemovalHook(Space space, RemovalHook hook) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (static_cast<size_t>(space) >= hooks_.size()) return;
  for (auto& s : shards_) s->mu.Lock();
  hooks_[static_cast<size_t>(space)] = std::move(hook);
  for (auto it = shards_.rbegin(); it != shards_.rend(); ++it) (*it)->mu.Unlock();
}

uint64_t ShardedStore::ReclaimShards(size_t first, size_t stride, bool* backlog) {
  uint64_t reclaimed = 0;
  for (size_t i = first; i < shards_.size(); i += stride) {
    Shard& shard = *shards_[i];
    Guard guard(this, shard);
    const int64_t now = options_.clock->MonotonicMs();
    reclaimed += shard.ReclaimStep(now, backlog);
  }
  ShrinkToCap(first, stride, backlog);
  return reclaimed;
}

void ShardedStore::ShrinkToCap(size_t first, size_t stride, bool* backlog) {
  // Over a shrunk cap: evict down to it in rounds over the shards, a few victims per shard per
  // round, so every shard gives up its own least valuable keys (shard by shard, the first shards
  // would be emptied whatever the policy thinks of their keys). Each lock hold is short; a step
  // stops after kMaxEvictionsPerStep per shard and leaves a backlog for the next one.
  constexpr size_t kPerRound = 8;
  const size_t budget =
      internal::kMaxEvictionsPerStep * ((shards_.size() - first + stride - 1) / stride);
  size_t evicted = 0;
  bool progress = true;
  while (progress && budget_.used() > budget_.max() && evicted < budget) {
    progress = false;
    for (size_t i = first; i < shards_.size() && budget_.used() > budget_.max(); i += stride) {
      Guard guard(this, *shards_[i]);
      const size_t n = shards_[i]->EvictOverCap(options_.clock->MonotonicMs(), kPerRound);
      evicted += n;
      progress = progress || n > 0;
    }
  }
  if (progress && budget_.used() > budget_.max()) *backlog = true;
}

void ShardedStore::SetMaxMemory(uint64_t bytes) {
  const bool shrinking = bytes < budget_.used();
  budget_.set_max(bytes);
  if (shrinking) thread_cv_.notify_all();  // the reclaimer evicts down to it now, not next tick
}

uint64_t ShardedStore::RunReclaimStep() {
  bool backlog = false;
  return ReclaimAll(&backlog);
}

void ShardedStore::ReclaimerLoop() {
  const auto interval = std::chrono::milliseconds(options_.reclaim_interval_ms);
  bool burst = false;
  while (true) {
    bool backlog = false;
    if (burst) {
      ReclaimShards(0, 2, &backlog);  // the helper has the odd shards
    } else {
      ReclaimAll(&backlog);
    }
    std::unique_lock<std::mutex> l(thread_mu_);
    if (stop_) return;
    if (backlog && !burst && helper_.joinable()) {
      burst_ = true;
      helper_cv_.notify_one();
    }
    burst = backlog && burst_;
    // With a backlog steps run back to back: each holds a shard lock for a bounded time
    // (kMaxHintsPerStep, kMaxScanSlotsPerStep), so requests interleave.
    if (!backlog) thread_cv_.wait_for(l, interval, [this] { return stop_; });
    if (stop_) return;
  }
}

void ShardedStore::BurstHelperLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> l(thread_mu_);
      helper_cv_.wait(l, [this] { return stop_ || burst_; });
      if (stop_) return;
    }
    bool backlog = true;
    while (backlog) {
      backlog = false;
      ReclaimShards(1, 2, &backlog);
      std::lock_guard<std::mutex> l(thread_mu_);
      if (stop_) return;
    }
    std::lock_guard<std::mutex> l(thread_mu_);
    burst_ = false;
  }
}

StoreStats ShardedStore::GetStats() const {
  StoreStats stats;
  stats.shard_keys.reserve(shards_.size());
  for (const auto& s : shards_) {
    MutexLock lock(&s->mu);
    s->AddStats(&stats);
    stats.shard_keys.push_back(s->size());
  }
  stats.used_bytes = budget_.used();
  stats.max_bytes = budget_.max();
  stats.rejected_writes = rejected_writes_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace internal
}  // namespace hourglass::storage
