#include "server/domain/cache.h"

#include <algorithm>
#include <cassert>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "server/domain/base64url.h"
#include "server/domain/cache_codec.h"
#include "server/domain/secure_random.h"

namespace hourglass::domain {
namespace {

using cache_codec::DecodeRecord;
using cache_codec::DecodeTagIndex;
using cache_codec::EncodeRecord;
using cache_codec::EncodeTagIndex;
using cache_codec::Record;
using cache_codec::TagMember;
using storage::Cursor;
using storage::KeyRef;
using storage::Space;

// Tag indexes share Space::kIndex with other services' indexes; the prefix keeps them apart.
constexpr std::string_view kTagIndexPrefix = "ct:";

// Keys per UpdateMany when invalidating: bounds how long one step holds shard locks (512 keys
// is some tens of microseconds) while keeping the rewrites of a big tag's index few.
constexpr size_t kMaxKeysPerStep = 512;

// Lease ids are 128 bits from the CSPRNG, base64url (22 characters): unguessable, so one client
// cannot complete another's lease by accident or on purpose. Drawn 32 at a time per thread and
// refilled before the store step, so no CSPRNG call runs under a shard lock and a FRESH hit pays
// for none.
constexpr size_t kLeaseIdBytes = 16;
constexpr size_t kLeaseIdsPerRefill = 32;

struct LeaseIdPool {
  std::string bytes;  // kLeaseIdsPerRefill ids
  size_t next = kLeaseIdsPerRefill;
};
thread_local LeaseIdPool lease_id_pool;

absl::Status EnsureLeaseId() {
  if (lease_id_pool.next < kLeaseIdsPerRefill) return absl::OkStatus();
  absl::StatusOr<std::string> bytes = RandomBytes(kLeaseIdBytes * kLeaseIdsPerRefill);
  if (!bytes.ok()) return bytes.status();
  lease_id_pool.bytes = std::move(*bytes);
  lease_id_pool.next = 0;
  return absl::OkStatus();
}

// Precondition: EnsureLeaseId() succeeded on this thread since the last TakeLeaseId().
std::string TakeLeaseId() {
  assert(lease_id_pool.next < kLeaseIdsPerRefill);
  const std::string_view id = std::string_view(lease_id_pool.bytes)
                                  .substr(lease_id_pool.next * kLeaseIdBytes, kLeaseIdBytes);
  ++lease_id_pool.next;
  return Base64UrlEncode(id);
}

std::vector<std::string_view> Distinct(absl::Span<const std::string_view> items) {
  std::vector<std::string_view> out(items.begin(), items.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string TagIndexKey(std::string_view tag) {
  std::string key(kTagIndexPrefix);
  key.append(tag);
  return key;
}

bool HasLiveValue(const std::optional<Record>& record, int64_t now) {
  return record.has_value() && record->has_value && now < record->stale_until_ms;
}

// Rewrites the tag index under `cursor`: drops the members `drop` names and every member past
// its deadline, then adds `add` (replacing the key's old member) when given. The index's
// deadline becomes its latest member's; an index left empty is erased. Writes only on change.
void EditTagIndex(Cursor& cursor, int64_t now, absl::FunctionRef<bool(std::string_view)> drop,
                  const TagMember* add) {
  std::vector<TagMember> members;
  bool changed = add != nullptr;
  if (cursor.found()) {
    std::optional<std::vector<TagMember>> decoded = DecodeTagIndex(cursor.value());
    if (decoded.has_value()) {
      members = std::move(*decoded);
    } else {
      changed = true;  // unreadable: replaced by what we know
    }
  }
  std::vector<TagMember> kept;
  kept.reserve(members.size() + 1);
  for (const TagMember& m : members) {
    if (m.deadline_ms <= now || drop(m.key) || (add != nullptr && m.key == add->key)) {
      changed = true;
      continue;
    }
    kept.push_back(m);
  }
  if (add != nullptr) kept.push_back(*add);
  if (!changed) return;
  if (kept.empty()) {
    cursor.Erase();
    return;
  }
  int64_t deadline = now;
  for (const TagMember& m : kept) deadline = std::max(deadline, m.deadline_ms);
  // Encoded before Put: `kept` views the old value, which Put replaces.
  cursor.Put(EncodeTagIndex(kept), deadline);
}

// Removes the lease from `record` (the value under `cursor`): a stale value stays servable
// until its end; a placeholder, or a value already dead, goes.
void ClearLease(Cursor& cursor, const Record& record, int64_t now) {
  if (!record.has_value || now >= record.stale_until_ms) {
    cursor.Erase();
    return;
  }
  Record next = record;
  next.lease_id = {};
  next.lease_until_ms = 0;
  next.lease_seq = 0;
  cursor.Put(EncodeRecord(next), next.stale_until_ms);
}

}  // namespace

Cache::Cache(storage::Store& store)
    : store_(store),
      seq_(static_cast<uint64_t>(std::max<int64_t>(store.clock().WallMs(), 0)) << 20) {}

// absl::Hash is seeded per process, so tag names cannot be crafted to share a slot on purpose.
std::atomic<uint64_t>& Cache::TagSlot(std::string_view tag) {
  const size_t hash = absl::Hash<absl::string_view>{}(absl::string_view(tag.data(), tag.size()));
  return tag_invalidated_seq_[hash & (kTagSlots - 1)];
}

void Cache::MarkTagInvalidated(std::string_view tag, uint64_t seq) {
  std::atomic<uint64_t>& slot = TagSlot(tag);
  uint64_t seen = slot.load();
  while (seen < seq && !slot.compare_exchange_weak(seen, seq)) {
  }
}

bool Cache::TagInvalidatedSince(std::string_view tag, uint64_t seq) {
  return TagSlot(tag).load() > seq;
}

// Called under the lock of the key and of the fill's tag indexes. A tag invalidation of one of
// the fill's tags is ordered against this check by the index's lock: either it came first (its
// slot is raised: refused) or it comes after and will find this fill in the index. The tags of
// the value being replaced are checked too, so the outcome does not depend on whether the
// invalidation had already reached this key.
Cache::LeaseCheck Cache::CheckLease(const std::optional<Record>& current, std::string_view lease_id,
                                    absl::Span<const std::string_view> tags, int64_t now) {
  if (!current.has_value() || current->lease_id != lease_id || now >= current->lease_until_ms) {
    return LeaseCheck::kRefused;
  }
  for (std::string_view tag : tags) {
    if (TagInvalidatedSince(tag, current->lease_seq)) return LeaseCheck::kCancelled;
  }
  for (std::string_view tag : current->tags) {
    if (TagInvalidatedSince(tag, current->lease_seq)) return LeaseCheck::kCancelled;
  }
  return LeaseCheck::kHonoured;
}

absl::StatusOr<CacheLookup> Cache::Lookup(std::string_view key, int64_t lease_ttl_ms) {
  if (lease_ttl_ms <= 0) return absl::InvalidArgumentError("lease_ttl: must be > 0");
  if (absl::Status status = EnsureLeaseId(); !status.ok()) return status;
  CacheLookup result;
  const absl::Status status =
      store_.Update(KeyRef{Space::kCache, key}, [&](Cursor& cursor) -> absl::Status {
        const int64_t now = store_.clock().MonotonicMs();
        std::optional<Record> record;
        if (cursor.found()) record = DecodeRecord(cursor.value());
        const bool live = HasLiveValue(record, now);
        if (live) {
          result.value.assign(record->value);
          result.age_ms = now - record->fill_ms;
          if (now < record->fresh_until_ms) {
            result.state = CacheState::kFresh;
            return absl::OkStatus();
          }
          result.state = CacheState::kStale;
        }
        if (record.has_value() && record->has_lease() && now < record->lease_until_ms) {
          return absl::OkStatus();  // another caller is revalidating
        }
        int64_t lease_until;
        if (__builtin_add_overflow(now, lease_ttl_ms, &lease_until)) {
          return absl::InvalidArgumentError("lease_ttl: out of range");
        }
        // A stale value keeps its value and tags; otherwise the record is a bare placeholder.
        Record next = live ? *record : Record{};
        const std::string lease_id = TakeLeaseId();
        next.lease_id = lease_id;
        next.lease_until_ms = lease_until;
        next.lease_seq = NextSeq();
        const int64_t deadline = live ? std::max(next.stale_until_ms, lease_until) : lease_until;
        cursor.Put(EncodeRecord(next), deadline);
        result.revalidate = true;
        result.lease_id = lease_id;
        return absl::OkStatus();
      });
  if (status.ok()) return result;
  // A stale hit whose lease did not fit under the cap is still a hit: serve it, lease-less.
  if (absl::IsResourceExhausted(status) && result.state == CacheState::kStale) {
    result.revalidate = false;
    result.lease_id.clear();
    return result;
  }
  return status;
}

absl::StatusOr<bool> Cache::Fill(const CacheFill& fill) {
  if (fill.fresh_for_ms <= 0) return absl::InvalidArgumentError("fresh_for: must be > 0");
  if (fill.stale_for_ms < 0) return absl::InvalidArgumentError("stale_for: must not be negative");
  int64_t life_ms;
  if (__builtin_add_overflow(fill.fresh_for_ms, fill.stale_for_ms, &life_ms)) {
    return absl::InvalidArgumentError("fresh_for + stale_for: out of range");
  }
  const std::vector<std::string_view> tags = Distinct(fill.tags);
  std::vector<std::string> index_keys;
  index_keys.reserve(tags.size());
  for (std::string_view tag : tags) index_keys.push_back(TagIndexKey(tag));
  std::vector<KeyRef> refs;
  refs.reserve(1 + tags.size());
  refs.push_back(KeyRef{Space::kCache, fill.key});
  for (const std::string& index_key : index_keys) refs.push_back(KeyRef{Space::kIndex, index_key});

  bool applied = false;
  std::vector<std::string> dropped_tags;  // tags of the replaced value the new one lacks
  const absl::Status status =
      store_.UpdateMany(refs, [&](absl::Span<Cursor* const> cursors) -> absl::Status {
        const int64_t now = store_.clock().MonotonicMs();
        Cursor& entry = *cursors[0];
        std::optional<Record> current;
        if (entry.found()) current = DecodeRecord(entry.value());
        if (!fill.lease_id.empty()) {
          switch (CheckLease(current, fill.lease_id, tags, now)) {
            case LeaseCheck::kHonoured:
              break;
            case LeaseCheck::kRefused:
              return absl::OkStatus();
            case LeaseCheck::kCancelled:
              // The revalidator computed from data older than the invalidation: clear its lease
              // so the next Lookup starts a fresh recomputation instead of waiting it out.
              ClearLease(entry, *current, now);
              return absl::OkStatus();
          }
        }
        Record next;
        next.has_value = true;
        next.value = fill.value;
        next.fill_ms = now;
        if (__builtin_add_overflow(now, life_ms, &next.stale_until_ms)) {
          return absl::InvalidArgumentError("fresh_for + stale_for: out of range");
        }
        next.fresh_until_ms = now + fill.fresh_for_ms;
        next.tags = tags;
        // Copied before Put, which invalidates the views into the old value.
        if (current.has_value()) {
          for (std::string_view tag : current->tags) {
            if (!next.CarriesTag(tag)) dropped_tags.emplace_back(tag);
          }
        }
        entry.Put(EncodeRecord(next), next.stale_until_ms);
        const TagMember member{fill.key, next.stale_until_ms};
        for (size_t i = 1; i < cursors.size(); ++i) {
          EditTagIndex(
              *cursors[i], now, [](std::string_view) { return false; }, &member);
        }
        applied = true;
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (!dropped_tags.empty()) {
    // Best effort: a member left behind is dead at its deadline and never removes wrong data.
    const std::vector<std::string_view> views(dropped_tags.begin(), dropped_tags.end());
    (void)Unindex(fill.key, views);
  }
  return applied;
}

absl::StatusOr<int64_t> Cache::Invalidate(absl::Span<const std::string_view> keys,
                                          absl::Span<const std::string_view> tags) {
  absl::StatusOr<int64_t> removed = InvalidateKeys(Distinct(keys));
  if (!removed.ok()) return removed;
  for (std::string_view tag : Distinct(tags)) {
    absl::StatusOr<int64_t> by_tag = InvalidateTag(tag);
    if (!by_tag.ok()) return by_tag;
    *removed += *by_tag;
  }
  return removed;
}

// `keys` are distinct.
absl::StatusOr<int64_t> Cache::InvalidateKeys(absl::Span<const std::string_view> keys) {
  int64_t removed = 0;
  for (size_t begin = 0; begin < keys.size(); begin += kMaxKeysPerStep) {
    const absl::Span<const std::string_view> chunk = keys.subspan(begin, kMaxKeysPerStep);
    std::vector<KeyRef> refs;
    refs.reserve(chunk.size());
    for (std::string_view key : chunk) refs.push_back(KeyRef{Space::kCache, key});
    int64_t step_removed = 0;
    const absl::Status status =
        store_.UpdateMany(refs, [&](absl::Span<Cursor* const> cursors) -> absl::Status {
          const int64_t now = store_.clock().MonotonicMs();
          step_removed = 0;
          for (Cursor* cursor : cursors) {
            if (!cursor->found()) continue;
            if (HasLiveValue(DecodeRecord(cursor->value()), now)) ++step_removed;
            cursor->Erase();  // also cancels a lease; OnStoreEvent unindexes its tags
          }
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
    removed += step_removed;
  }
  return removed;
}

absl::StatusOr<int64_t> Cache::InvalidateTag(std::string_view tag) {
  const std::string index_key = TagIndexKey(tag);
  const KeyRef index_ref{Space::kIndex, index_key};
  // Step 1, under the index's lock: from here on no lease granted earlier fills this tag (the
  // slot is raised), and every fill that happened earlier is listed in the index.
  std::vector<std::string> members;
  absl::Status status = store_.Update(index_ref, [&](Cursor& cursor) -> absl::Status {
    MarkTagInvalidated(tag, NextSeq());
    members.clear();
    if (!cursor.found()) return absl::OkStatus();
    std::optional<std::vector<TagMember>> decoded = DecodeTagIndex(cursor.value());
    if (!decoded.has_value()) {
      cursor.Erase();  // unreadable: nothing can be found through it
      return absl::OkStatus();
    }
    const int64_t now = store_.clock().MonotonicMs();
    for (const TagMember& m : *decoded) {
      if (m.deadline_ms > now) members.emplace_back(m.key);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());

  // Step 2, in bounded steps: remove each member that still carries the tag (a member re-filled
  // meanwhile with the tag goes too: harmless, it is a cache) and unlist what is gone.
  int64_t removed = 0;
  for (size_t begin = 0; begin < members.size(); begin += kMaxKeysPerStep) {
    const size_t end = std::min(members.size(), begin + kMaxKeysPerStep);
    std::vector<KeyRef> refs;
    refs.reserve(1 + end - begin);
    refs.push_back(index_ref);
    for (size_t i = begin; i < end; ++i) refs.push_back(KeyRef{Space::kCache, members[i]});
    int64_t step_removed = 0;
    status = store_.UpdateMany(refs, [&](absl::Span<Cursor* const> cursors) -> absl::Status {
      const int64_t now = store_.clock().MonotonicMs();
      step_removed = 0;
      for (size_t i = 1; i < cursors.size(); ++i) {
        Cursor& cursor = *cursors[i];
        if (!cursor.found()) continue;
        const std::optional<Record> record = DecodeRecord(cursor.value());
        if (record.has_value() && !record->CarriesTag(tag)) continue;  // re-filled without it
        if (HasLiveValue(record, now)) ++step_removed;
        cursor.Erase();
      }
      // Every member of this step is now gone or no longer carries the tag: unlist them all.
      // `members` is sorted, so membership is a binary search over this step's range.
      const auto first = members.begin() + static_cast<ptrdiff_t>(begin);
      const auto last = members.begin() + static_cast<ptrdiff_t>(end);
      EditTagIndex(
          *cursors[0], now,
          [&](std::string_view key) { return std::binary_search(first, last, key); }, nullptr);
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    removed += step_removed;
  }
  return removed;
}

absl::Status Cache::Unindex(std::string_view key, absl::Span<const std::string_view> tags) {
  const std::vector<std::string_view> distinct = Distinct(tags);
  std::vector<std::string> index_keys;
  index_keys.reserve(distinct.size());
  for (std::string_view tag : distinct) index_keys.push_back(TagIndexKey(tag));
  std::vector<KeyRef> refs;
  refs.reserve(1 + distinct.size());
  refs.push_back(KeyRef{Space::kCache, key});
  for (const std::string& index_key : index_keys) refs.push_back(KeyRef{Space::kIndex, index_key});
  return store_.UpdateMany(refs, [&](absl::Span<Cursor* const> cursors) -> absl::Status {
    const int64_t now = store_.clock().MonotonicMs();
    std::optional<Record> current;
    if (cursors[0]->found()) current = DecodeRecord(cursors[0]->value());
    const bool live = HasLiveValue(current, now);
    for (size_t i = 0; i < distinct.size(); ++i) {
      // A value filled again with the tag since the removal keeps its membership.
      if (live && current->CarriesTag(distinct[i])) continue;
      EditTagIndex(
          *cursors[i + 1], now, [&](std::string_view member) { return member == key; }, nullptr);
    }
    return absl::OkStatus();
  });
}

bool Cache::HeldValue(std::string_view record) {
  const std::optional<Record> decoded = DecodeRecord(record);
  return decoded.has_value() && decoded->has_value;
}

void Cache::OnStoreEvent(const storage::Event& event) {
  if (event.space != Space::kCache) return;
  // An expired value's index members died at the same instant (same deadline): nothing to do.
  if (event.kind == storage::EventKind::kExpired) return;
  const std::optional<Record> record = DecodeRecord(event.value);
  if (!record.has_value() || record->tags.empty()) return;
  // Best effort: a member left behind is dead at its deadline and never removes wrong data.
  (void)Unindex(event.key, record->tags);
}

}  // namespace hourglass::domain
