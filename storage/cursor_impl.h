#pragma once

// The atomic-step machinery behind Update, UpdateMany and ShardEditor. Internal to storage/.
//
// A CursorImpl is bound to one key of a locked shard. Reads see the live entry; writes are
// staged: Put builds the new entry right away (one copy of the value, and value() then reads
// it), SetDeadline and Erase record intent. CommitCursors reserves the net growth of all
// cursors from the budget in one go, then applies every staged write, or applies nothing.

#include <cstdint>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "storage/entry.h"
#include "storage/shard.h"
#include "storage/store.h"

namespace hourglass::storage::internal {

// INVALID_ARGUMENT for a key the engine cannot hold (space out of range, > 65535 bytes).
absl::Status ValidateKey(const KeyRef& key);
// Checks a deadline that lies in the future (> now): at most now + max_ttl and representable.
// Returns the deadline relative to the store epoch.
absl::Status CheckFutureDeadline(const StoreContext& ctx, int64_t deadline, int64_t now);

class CursorImpl final : public Cursor {
 public:
  CursorImpl() = default;
  ~CursorImpl() override;
  CursorImpl(const CursorImpl&) = delete;
  CursorImpl& operator=(const CursorImpl&) = delete;

  // Binds to `key` on `shard` (locked); `slot` is its live entry or EntryTable::kNotFound.
  void Bind(Shard* shard, const KeyRef& key, uint64_t hash, size_t slot, int64_t now);

  bool found() const override;
  std::string_view value() const override;
  int64_t deadline() const override;
  void Put(std::string_view value, int64_t deadline) override;
  void SetDeadline(int64_t deadline) override;
  void Erase() override;

  // The first invalid write (bad deadline, value too large); the step fails with it.
  const absl::Status& error() const { return error_; }
  bool dirty() const { return state_ != State::kUntouched; }
  // Accounted bytes the staged write adds (negative: frees).
  int64_t ChargeDelta() const;
  // Applies the staged write; the shard is locked and growth reserved. An erase is unlinked
  // without releasing its bytes (CommitCursors releases the net).
  void Apply();
  Shard* shard() const { return shard_; }
  // The live entry the cursor was bound to (null when the key was absent).
  const Entry* bound_entry() const { return entry_; }

 private:
  enum class State : uint8_t { kUntouched, kPut, kDeadline, kErased };
  // Validates `deadline` for a write; false (and the error recorded) when invalid.
  bool CheckDeadline(int64_t deadline);

  Shard* shard_ = nullptr;
  Space space_ = Space::kKv;
  std::string_view key_;
  uint64_t hash_ = 0;
  Entry* entry_ = nullptr;  // the live entry when bound, or null
  int64_t now_ = 0;
  State state_ = State::kUntouched;
  Entry* staged_ = nullptr;       // kPut: the new entry
  uint64_t staged_deadline_ = 0;  // kDeadline: the new deadline (relative, 0 = none)
  absl::Status error_;
};

// Applies the cursors' staged writes, all or nothing. Their shards are locked; `reserve_shard`
// is the one that would evict (next issue). enforce_cap = false forces growth through (hook
// edits).
absl::Status CommitCursors(absl::Span<CursorImpl* const> cursors, Shard& reserve_shard, int64_t now,
                           bool enforce_cap);

// One atomic step on one key of a locked shard.
absl::Status UpdateLocked(Shard& shard, const KeyRef& key, uint64_t hash,
                          absl::FunctionRef<absl::Status(Cursor&)> fn, int64_t now,
                          bool enforce_cap, bool count_lookup);

// What a RemovalHook gets: Update on keys of the shard whose lock is held.
class ShardEditorImpl final : public ShardEditor {
 public:
  ShardEditorImpl(Shard* shard, int64_t now) : shard_(shard), now_(now) {}
  absl::Status Update(const KeyRef& key, absl::FunctionRef<absl::Status(Cursor&)> fn) override;

 private:
  Shard* const shard_;
  const int64_t now_;
};

}  // namespace hourglass::storage::internal
