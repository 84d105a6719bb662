// Store::Export and Store::Import: what a snapshot needs from the engine.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/cursor_impl.h"
#include "storage/sharded_store.h"

namespace hourglass::storage::internal {

bool Shard::ExportChunk(ExportPosition* pos, int64_t now, size_t max_entries, size_t max_bytes,
                        std::vector<ExportItem>* items, std::string* bytes) {
  // Slot numbers mean nothing across a rebuild (entries are re-placed): start the shard over.
  // Entries already handed out are handed out again, which the contract allows; an entry that
  // stays put for the whole pass that completes is never missed.
  if (pos->started && pos->generation != table_.generation()) {
    pos->slot = 0;
    ++pos->restarts;
  }
  pos->started = true;
  // A shard rebuilt under every attempt (heavy growth) is copied in one lock hold: bounded
  // work rather than an export that never ends.
  const bool whole = pos->restarts >= kMaxExportRestarts;
  const uint64_t now_rel = ToRel(now);
  const size_t cap = table_.capacity();
  size_t copied = 0;
  while (pos->slot < cap) {
    if (!whole && (items->size() >= max_entries || copied >= max_bytes)) break;
    const size_t s = pos->slot++;
    if (!table_.occupied(s)) continue;
    const Entry* e = table_.entry(s);
    const uint64_t d = e->deadline_rel();
    if (d != 0 && d <= now_rel) continue;  // expired: the reclaimer's, not the export's
    const std::string_view key = e->key();
    const std::string_view value = e->value();
    items->push_back(ExportItem{e->space(), static_cast<uint32_t>(key.size()),
                                static_cast<uint32_t>(value.size()), ToAbs(d)});
    bytes->append(key);
    bytes->append(value);
    copied += key.size() + value.size();
  }
  pos->generation = table_.generation();
  return pos->slot >= cap;
}

absl::Status ShardedStore::Export(absl::FunctionRef<absl::Status(const ExportedEntry&)> sink) {
  std::vector<Shard::ExportItem> items;
  std::string bytes;
  for (const auto& s : shards_) {
    Shard& shard = *s;
    Shard::ExportPosition pos;
    bool done = false;
    while (!done) {
      items.clear();
      bytes.clear();
      {
        MutexLock lock(&shard.mu);
        done = shard.ExportChunk(&pos, options_.clock->MonotonicMs(), kExportChunkEntries,
                                 kExportChunkBytes, &items, &bytes);
      }
      size_t offset = 0;
      for (const Shard::ExportItem& item : items) {
        ExportedEntry entry;
        entry.space = item.space;
        entry.key = std::string_view(bytes.data() + offset, item.key_size);
        offset += item.key_size;
        entry.value = std::string_view(bytes.data() + offset, item.value_size);
        offset += item.value_size;
        entry.deadline = item.deadline;
        absl::Status status = sink(entry);
        if (!status.ok()) return status;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ShardedStore::Import(const KeyRef& key, std::string_view value,
                                          int64_t deadline) {
  absl::Status st = ValidateKey(key);
  if (!st.ok()) return st;
  if (value.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat("value: ", value.size(), " bytes too large"));
  }
  const KeyLoc loc = Locate(key, ctx_.shard_mask);
  Shard& shard = ShardOf(loc);
  absl::StatusOr<bool> result = true;
  std::vector<Removed> removed;
  {
    MutexLock lock(&shard.mu);
    const int64_t now = options_.clock->MonotonicMs();
    uint64_t rel = 0;
    if (deadline <= now) {
      result = false;
    } else if (deadline != kNoDeadline) {
      // The snapshot may come from a server with a longer --max_ttl (or a wall clock that
      // stepped back): keep the entry, within this store's limit.
      const int64_t capped =
          deadline - now > options_.max_ttl_ms ? now + options_.max_ttl_ms : deadline;
      rel = shard.ToRel(capped);
      if (rel > kMaxRelDeadline) result = absl::InvalidArgumentError("deadline: out of range");
    }
    if (result.ok() && *result) {
      // An expired entry met here is removed as usual (EXPIRED, hooks): Import only replaces
      // live state.
      const size_t slot = shard.FindLive(loc.hash, key.space, key.key, now);
      const bool exists = slot != EntryTable::kNotFound;
      const uint64_t new_charge = ChargeFor(key.key.size(), value.size());
      const uint64_t old_charge = exists ? shard.entry(slot)->charge() : 0;
      // No eviction: a restore that does not fit keeps what it already restored.
      if (new_charge > old_charge && !budget_.TryReserve(new_charge - old_charge)) {
        result = absl::ResourceExhaustedError("maxmemory: the entry does not fit");
      } else {
        Entry* e = Entry::Create(key.space, key.key, value, rel);
        if (exists) {
          shard.ReplaceAt(slot, loc.hash, e);
        } else {
          shard.InsertNew(loc.hash, e, now);
        }
        if (old_charge > new_charge) budget_.Release(old_charge - new_charge);
      }
    }
    if (shard.hooks_pending()) shard.RunHooks(now);
    removed = shard.TakeRemoved();
  }
  if (!removed.empty()) Dispatch(removed);
  return result;
}

}  // namespace hourglass::storage::internal
