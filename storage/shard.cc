#include "storage/shard.h"

#include <algorithm>
#include <utility>

#include "storage/cursor_impl.h"

namespace hourglass::storage::internal {

Shard::Shard(const StoreContext* ctx, size_t index)
    : ctx_(ctx),
      index_(index),
      wheel_(static_cast<uint64_t>(ctx->clock->MonotonicMs() - ctx->epoch_ms)),
      scan_time_ms_(ctx->clock->MonotonicMs()),
      rng_(Mix64(reinterpret_cast<uintptr_t>(this) ^ (index * 0x9e3779b97f4a7c15ULL))) {
  // A rebuild moves entries under the far scan's feet (a pass may then miss some); but it
  // visits every entry itself, so it registers the hints that pass would have.
  table_.set_rebuild_observer(
      [](void* self, Entry* e, uint64_t hash) {
        Shard* shard = static_cast<Shard*>(self);
        shard->AssertHeld();  // rebuilds happen inside table mutations, under the lock
        shard->MaybeHint(e, hash);
      },
      this);
}

Shard::~Shard() {
  MutexLock lock(&mu);
  table_.ForEach([](Entry* e) { Entry::Destroy(e); });
  for (const Removed& r : graveyard_) Entry::Destroy(r.entry);
}

size_t Shard::FindLive(uint64_t hash, Space space, std::string_view key, int64_t now) {
  while (true) {
    const size_t slot = table_.Find(hash, space, key);
    if (slot == EntryTable::kNotFound) return slot;
    const uint64_t d = table_.entry(slot)->deadline_rel();
    // Visible while now < deadline: a key with deadline D is there at D-1 and gone at D.
    if (d == 0 || d > ToRel(now)) return slot;
    Remove(slot, EventKind::kExpired, now);
    if (!hooks_pending() || in_hooks_) return EntryTable::kNotFound;
    RunHooks(now);
    // A hook may have re-created the key: look again (at most once per expired entry).
  }
}

void Shard::CountIn(const Entry* e, int sign) {
  SpaceStats& s = stats_.spaces[static_cast<size_t>(e->space())];
  const uint64_t charge = e->charge();
  if (sign > 0) {
    ++s.keys;
    s.bytes += charge;
    if (e->has_deadline()) ++s.keys_with_expiry;
  } else {
    --s.keys;
    s.bytes -= charge;
    if (e->has_deadline()) --s.keys_with_expiry;
  }
}

void Shard::MaybeHint(Entry* e, uint64_t hash) {
  const uint64_t d = e->deadline_rel();
  if (d != 0 && !e->hinted() && wheel_.Add(d, EntryTable::HintOf(hash))) e->set_hinted(true);
}

void Shard::InsertNew(uint64_t hash, Entry* e, int64_t now) {
  InitMeta(e, now);
  table_.Insert(hash, e);
  CountIn(e, +1);
  MaybeHint(e, hash);
  if (victim_freq_ >= 0) {
    // This write evicted: TinyLFU's admission test. A newcomer asked for less often than what
    // it displaced is not refused (a write must land) but becomes the next victim.
    if (policy() == EvictionPolicy::kAllKeysTinyLfu && pool_policy_ == policy() &&
        !TinyLfuAdmits(sketch_.Frequency(hash), static_cast<uint32_t>(victim_freq_), rng_.Next())) {
      PoolCandidate c;
      c.score = UINT64_MAX;
      c.entry = e;
      c.generation = UINT64_MAX;  // slot unknown: found again through the hash
      c.hash = hash;
      c.has_hash = true;
      pool_.Offer(c);
    }
    victim_freq_ = -1;
  }
}

void Shard::ReplaceAt(size_t slot, uint64_t hash, Entry* e) {
  Entry* old = table_.entry(slot);
  // Same deadline (keep-TTL, Increment): the old entry's hint, if any, serves the new one.
  if (old->hinted() && old->deadline_rel() == e->deadline_rel()) e->set_hinted(true);
  e->set_meta(old->meta());
  victim_freq_ = -1;
  CountIn(old, -1);
  table_.Replace(slot, e);
  CountIn(e, +1);
  MaybeHint(e, hash);
  Entry::Destroy(old);
}

void Shard::SetDeadlineAt(size_t slot, uint64_t hash, uint64_t deadline_rel) {
  Entry* e = table_.entry(slot);
  CountIn(e, -1);
  e->set_deadline_rel(deadline_rel);
  e->set_hinted(false);  // any hint registered for the old deadline is now stale
  CountIn(e, +1);
  table_.SyncVolatile(slot);
  MaybeHint(e, hash);
}

uint64_t Shard::Unlink(size_t slot, EventKind kind, int64_t now) {
  Entry* e = table_.entry(slot);
  table_.EraseAt(slot);
  CountIn(e, -1);
  const uint64_t charge = e->charge();
  bool hooked = false;
  if (kind == EventKind::kExpired) {
    ++stats_.expired;
    RecordLateness(now - ToAbs(e->deadline_rel()));
  } else if (kind == EventKind::kEvicted) {
    ++stats_.evicted;
  }
  if (kind != EventKind::kDeleted && ctx_->hooks[static_cast<size_t>(e->space())]) {
    hook_queue_.push_back(e);
    hooked = true;
  }
  if (hooked || ctx_->has_listener) {
    graveyard_.push_back(Removed{e, kind, now});
  } else {
    Entry::Destroy(e);
  }
  return charge;
}

void Shard::RecordLateness(int64_t lateness_ms) {
  if (lateness_ms < 0) lateness_ms = 0;
  LatenessHistogram& h = stats_.lateness;
  size_t b = 0;
  while (b < kLatenessBucketsMs.size() && lateness_ms > kLatenessBucketsMs[b]) ++b;
  ++h.counts[b];
  ++h.total;
  h.sum_ms += static_cast<double>(lateness_ms);
}

void Shard::RunHooks(int64_t now) {
  if (in_hooks_) return;
  in_hooks_ = true;
  while (hook_next_ < hook_queue_.size()) {
    Entry* e = hook_queue_[hook_next_++];
    ShardEditorImpl editor(this, now);
    ctx_->hooks[static_cast<size_t>(e->space())](e->key(), e->value(), editor);
  }
  hook_queue_.clear();
  hook_next_ = 0;
  in_hooks_ = false;
}

std::vector<Removed> Shard::TakeRemoved() {
  std::vector<Removed> out;
  out.swap(graveyard_);
  return out;
}

size_t Shard::ReclaimStep(int64_t now, bool* backlog) {
  bool hints_left = false;
  size_t n = ProcessHints(now, &hints_left);
  n += FarScan(now, backlog);
  // Not in the middle of a burst: each rebuild re-reads every survivor (and, with glibc, the
  // new slot array's allocation consolidates every chunk freed so far), so shrinking at each
  // step of a 1 M-key burst cost more than the reclamation itself. Tombstones left meanwhile do
  // not lengthen probe runs (they end at empty slots, whose number erasing does not change).
  if (!hints_left) table_.MaybeShrink();
  if (hints_left) *backlog = true;
  return n;
}

size_t Shard::ProcessHints(int64_t now, bool* backlog) {
  const uint64_t now_rel = ToRel(now);
  due_.clear();
  keep_.clear();
  if (wheel_.TakeDue(now_rel, kMaxHintsPerStep, &due_)) *backlog = true;
  size_t reclaimed = 0;
  uint64_t released = 0;  // one budget update per step, not one atomic per entry
  // Hints of a burst point all over the table: a two-stage prefetch (the head of a probe run
  // kSlotAhead hints ahead, the entry it points to kEntryAhead hints ahead) overlaps the two
  // cache misses of each hint with the work on the previous ones.
  constexpr size_t kSlotAhead = 16;
  constexpr size_t kEntryAhead = 8;
  for (size_t i = 0; i < due_.size(); ++i) {
    if (table_.capacity() == 0) break;
    if (i + kSlotAhead < due_.size()) table_.PrefetchSlot(table_.Home(due_[i + kSlotAhead].hint));
    if (i + kEntryAhead < due_.size()) {
      const uint32_t h = due_[i + kEntryAhead].hint;
      const size_t s = table_.Home(h);
      if (table_.occupied(s) && table_.TagMatches(s, h)) __builtin_prefetch(table_.entry(s));
    }
    const ExpiryWheel::Due due = due_[i];
    bool kept = false;
    for (size_t s = table_.Home(due.hint); !table_.empty_slot(s); s = table_.Next(s)) {
      if (!table_.occupied(s) || !table_.TagMatches(s, due.hint) || !table_.is_volatile(s)) {
        continue;
      }
      Entry* e = table_.entry(s);
      const uint64_t d = e->deadline_rel();
      if (d <= now_rel) {
        // One entry per hint: every hinted entry has a hint of its own, so the walk can stop
        // here instead of running to the end of the probe run.
        released += Unlink(s, EventKind::kExpired, now);
        ++reclaimed;
        if (hooks_pending()) {
          ctx_->budget->Release(released);
          released = 0;
          RunHooks(now);
        }
        break;
      } else if (!kept && e->hinted() && ExpiryWheel::TickOf(d) == due.tick) {
        // The current bucket, not due yet: this hint is still the entry's.
        keep_.push_back(due);
        kept = true;
      }
    }
  }
  ctx_->budget->Release(released);
  for (const ExpiryWheel::Due& k : keep_) wheel_.Add(k.tick * ExpiryWheel::kTickMs, k.hint);
  return reclaimed;
}

size_t Shard::FarScan(int64_t now, bool* backlog) {
  const size_t cap = table_.capacity();
  int64_t elapsed = now - scan_time_ms_;
  scan_time_ms_ = now;
  if (cap == 0) {
    scan_owed_ = 0;
    return 0;
  }
  if (elapsed > kFarScanPeriodMs) elapsed = kFarScanPeriodMs;
  if (elapsed < 0) elapsed = 0;
  // Owe the share of a pass that the elapsed time calls for (never more than one pass).
  scan_owed_ +=
      (static_cast<uint64_t>(cap) * static_cast<uint64_t>(elapsed) + kFarScanPeriodMs - 1) /
      kFarScanPeriodMs;
  if (scan_owed_ > cap) scan_owed_ = cap;
  size_t todo = std::min<uint64_t>(scan_owed_, kMaxScanSlotsPerStep);
  scan_owed_ -= todo;
  if (scan_owed_ > 0) *backlog = true;

  const uint64_t now_rel = ToRel(now);
  size_t reclaimed = 0;
  constexpr size_t kAhead = 8;
  while (todo-- > 0) {
    size_t cap_now = table_.capacity();
    if (cap_now == 0) break;
    if (scan_pos_ >= cap_now) scan_pos_ = 0;
    const size_t ahead = scan_pos_ + kAhead;
    if (ahead < cap_now && table_.occupied(ahead) && table_.is_volatile(ahead)) {
      __builtin_prefetch(table_.entry(ahead));
    }
    const size_t s = scan_pos_++;
    if (!table_.occupied(s) || !table_.is_volatile(s)) continue;
    Entry* e = table_.entry(s);
    const uint64_t d = e->deadline_rel();
    if (d <= now_rel) {
      Remove(s, EventKind::kExpired, now);
      ++reclaimed;
      RunHooks(now);  // a rebuild moves entries: a pass may then miss some, the next one won't
    } else if (!e->hinted() && wheel_.InWindow(d)) {
      if (wheel_.Add(d, EntryTable::HintOf(TableHashOf(e)))) e->set_hinted(true);
    }
  }
  return reclaimed;
}

void Shard::AddStats(StoreStats* out) const {
  for (size_t i = 0; i < kNumSpaces; ++i) {
    out->spaces[i].keys += stats_.spaces[i].keys;
    out->spaces[i].keys_with_expiry += stats_.spaces[i].keys_with_expiry;
    out->spaces[i].bytes += stats_.spaces[i].bytes;
  }
  out->hits += stats_.hits;
  out->misses += stats_.misses;
  out->expired += stats_.expired;
  out->evicted += stats_.evicted;
  for (size_t b = 0; b < out->lateness.counts.size(); ++b) {
    out->lateness.counts[b] += stats_.lateness.counts[b];
  }
  out->lateness.total += stats_.lateness.total;
  out->lateness.sum_ms += stats_.lateness.sum_ms;
}

}  // namespace hourglass::storage::internal
