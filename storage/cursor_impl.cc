#include "storage/cursor_impl.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace hourglass::storage::internal {

absl::Status ValidateKey(const KeyRef& key) {
  if (static_cast<size_t>(key.space) >= static_cast<size_t>(kNumSpaces)) {
    return absl::InvalidArgumentError("space: out of range");
  }
  if (key.key.size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key: ", key.key.size(), " bytes exceeds max ", kMaxKeyBytes));
  }
  return absl::OkStatus();
}

absl::Status CheckFutureDeadline(const StoreContext& ctx, int64_t deadline, int64_t now) {
  // deadline > now here, so the subtraction cannot overflow unless now is hugely negative.
  int64_t ahead;
  if (__builtin_sub_overflow(deadline, now, &ahead) || ahead > ctx.max_ttl_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("deadline: more than max_ttl (", ctx.max_ttl_ms, " ms) ahead"));
  }
  if (static_cast<uint64_t>(deadline - ctx.epoch_ms) > kMaxRelDeadline) {
    return absl::InvalidArgumentError("deadline: out of range");
  }
  return absl::OkStatus();
}

CursorImpl::~CursorImpl() {
  if (staged_ != nullptr) Entry::Destroy(staged_);
}

void CursorImpl::Bind(Shard* shard, const KeyRef& key, uint64_t hash, size_t slot, int64_t now) {
  shard->AssertHeld();
  shard_ = shard;
  space_ = key.space;
  key_ = key.key;
  hash_ = hash;
  entry_ = slot == EntryTable::kNotFound ? nullptr : shard->entry(slot);
  now_ = now;
}

bool CursorImpl::found() const {
  switch (state_) {
    case State::kPut:
    case State::kDeadline:
      return true;
    case State::kErased:
      return false;
    case State::kUntouched:
      break;
  }
  return entry_ != nullptr;
}

std::string_view CursorImpl::value() const {
  switch (state_) {
    case State::kPut:
      return staged_->value();
    case State::kErased:
      return {};
    case State::kUntouched:
    case State::kDeadline:
      break;
  }
  return entry_ != nullptr ? entry_->value() : std::string_view();
}

int64_t CursorImpl::deadline() const {
  switch (state_) {
    case State::kPut:
      return shard_->ToAbs(staged_->deadline_rel());
    case State::kDeadline:
      return shard_->ToAbs(staged_deadline_);
    case State::kErased:
      return kNoDeadline;
    case State::kUntouched:
      break;
  }
  return entry_ != nullptr ? shard_->ToAbs(entry_->deadline_rel()) : kNoDeadline;
}

// Steps compute deadlines from their own clock reading, taken after the store's reading for the
// step, so "their now + max_ttl" may sit a few ms past "the store's now + max_ttl". Tolerate that
// skew (1 s: far more than a step lasts) rather than refuse a valid request; the 40-bit deadline
// has decades of headroom beyond max_ttl (<= 2^39 ms), so this never overflows. Client TTLs are
// checked exactly at the edge.
constexpr int64_t kStepClockSkewMs = 1000;

bool CursorImpl::CheckDeadline(int64_t deadline) {
  if (deadline == kNoDeadline || deadline <= now_) return true;
  absl::Status st = CheckFutureDeadline(shard_->ctx(), deadline, now_ + kStepClockSkewMs);
  if (!st.ok()) {
    if (error_.ok()) error_ = st;
    return false;
  }
  return true;
}

void CursorImpl::Put(std::string_view value, int64_t deadline) {
  if (!CheckDeadline(deadline)) return;
  if (value.size() > kMaxValueBytes) {
    if (error_.ok()) error_ = absl::InvalidArgumentError("value: too large");
    return;
  }
  if (deadline != kNoDeadline && deadline <= now_) {
    Erase();
    return;
  }
  const uint64_t rel = deadline == kNoDeadline ? 0 : shard_->ToRel(deadline);
  // Build first: `value` may view the entry being replaced.
  Entry* e = Entry::Create(space_, key_, value, rel);
  if (staged_ != nullptr) Entry::Destroy(staged_);
  staged_ = e;
  state_ = State::kPut;
}

void CursorImpl::SetDeadline(int64_t deadline) {
  if (!found() || !CheckDeadline(deadline)) return;
  if (deadline != kNoDeadline && deadline <= now_) {
    Erase();
    return;
  }
  const uint64_t rel = deadline == kNoDeadline ? 0 : shard_->ToRel(deadline);
  if (state_ == State::kPut) {
    staged_->set_deadline_rel(rel);
  } else {
    state_ = State::kDeadline;
    staged_deadline_ = rel;
  }
}

void CursorImpl::Erase() {
  if (staged_ != nullptr) {
    Entry::Destroy(staged_);
    staged_ = nullptr;
  }
  state_ = State::kErased;
}

int64_t CursorImpl::ChargeDelta() const {
  const int64_t old = entry_ != nullptr ? static_cast<int64_t>(entry_->charge()) : 0;
  switch (state_) {
    case State::kPut:
      return static_cast<int64_t>(staged_->charge()) - old;
    case State::kErased:
      return -old;
    case State::kUntouched:
    case State::kDeadline:
      break;
  }
  return 0;
}

void CursorImpl::Apply() {
  shard_->AssertHeld();
  if (state_ == State::kUntouched) return;
  // Look the slot up again: another cursor of the same step may have rebuilt the table.
  const size_t slot =
      entry_ != nullptr ? shard_->FindLive(hash_, space_, key_, now_) : EntryTable::kNotFound;
  switch (state_) {
    case State::kPut:
      if (slot != EntryTable::kNotFound) {
        shard_->ReplaceAt(slot, hash_, staged_);
      } else {
        shard_->InsertNew(hash_, staged_, now_);
      }
      staged_ = nullptr;
      break;
    case State::kDeadline:
      shard_->SetDeadlineAt(slot, hash_, staged_deadline_);
      break;
    case State::kErased:
      if (slot != EntryTable::kNotFound) shard_->Unlink(slot, EventKind::kDeleted, now_);
      break;
    case State::kUntouched:
      break;
  }
  state_ = State::kUntouched;
  entry_ = nullptr;
}

absl::Status CommitCursors(absl::Span<CursorImpl* const> cursors, Shard& reserve_shard, int64_t now,
                           bool enforce_cap) {
  reserve_shard.AssertHeld();
  int64_t delta = 0;
  for (const CursorImpl* c : cursors) {
    if (!c->error().ok()) return c->error();
    delta += c->ChargeDelta();
  }
  MemoryBudget& budget = *reserve_shard.ctx().budget;
  if (delta > 0) {
    if (enforce_cap) {
      // Eviction must leave the step's shards' bound entries alone (cursors point at them).
      absl::InlinedVector<Shard*, 4> held = {&reserve_shard};
      absl::InlinedVector<const Entry*, 8> pinned;
      for (const CursorImpl* c : cursors) {
        if (std::find(held.begin(), held.end(), c->shard()) == held.end()) {
          held.push_back(c->shard());
        }
        if (c->bound_entry() != nullptr) pinned.push_back(c->bound_entry());
      }
      if (!reserve_shard.ReserveForWrite(static_cast<uint64_t>(delta), now, {held, pinned})) {
        return absl::ResourceExhaustedError("maxmemory: the write does not fit");
      }
    } else {
      budget.ForceReserve(static_cast<uint64_t>(delta));
    }
  }
  for (CursorImpl* c : cursors) c->Apply();
  reserve_shard.EndAdmission();
  if (delta < 0) budget.Release(static_cast<uint64_t>(-delta));
  return absl::OkStatus();
}

absl::Status UpdateLocked(Shard& shard, const KeyRef& key, uint64_t hash,
                          absl::FunctionRef<absl::Status(Cursor&)> fn, int64_t now,
                          bool enforce_cap, bool count_lookup) {
  shard.AssertHeld();
  const size_t slot = shard.FindLive(hash, key.space, key.key, now);
  if (count_lookup) {
    shard.CountLookup(slot != EntryTable::kNotFound);
    shard.Touch(slot, hash, now);
  }
  CursorImpl cursor;
  cursor.Bind(&shard, key, hash, slot, now);
  absl::Status st = fn(cursor);
  if (!st.ok()) return st;
  if (!cursor.dirty()) return cursor.error();
  CursorImpl* const one[] = {&cursor};
  return CommitCursors(one, shard, now, enforce_cap);
}

absl::Status ShardEditorImpl::Update(const KeyRef& key,
                                     absl::FunctionRef<absl::Status(Cursor&)> fn) {
  absl::Status st = ValidateKey(key);
  if (!st.ok()) return st;
  const KeyLoc loc = Locate(key, shard_->ctx().shard_mask);
  if (loc.shard != shard_->index()) {
    return absl::FailedPreconditionError("ShardEditor: key maps to another shard");
  }
  shard_->AssertHeld();
  return UpdateLocked(*shard_, key, loc.hash, fn, now_, /*enforce_cap=*/false,
                      /*count_lookup=*/false);
}

}  // namespace hourglass::storage::internal
