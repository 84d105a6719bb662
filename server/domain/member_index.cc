#include "server/domain/member_index.h"

#include <algorithm>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "server/domain/byte_codec.h"

namespace hourglass::domain {
namespace {

// Leading byte of an index value: lets the layout evolve.
constexpr uint8_t kIndexVersion = 1;

void PutMembers(storage::Cursor& index, absl::Span<const std::string_view> members,
                int64_t deadline) {
  if (members.empty()) {
    index.Erase();
  } else {
    index.Put(EncodeMembers(members), deadline);
  }
}

// Sentinel of UpdateOverIndex: the index changed under us, try again. Never leaves this file.
absl::Status IndexChanged() { return absl::AbortedError("index changed during the step"); }

}  // namespace

std::vector<std::string_view> DecodeMembers(std::string_view value) {
  std::vector<std::string_view> members;
  ByteReader reader(value);
  uint8_t version = 0;
  if (!reader.GetByte(&version) || version != kIndexVersion) return members;
  std::string_view member;
  while (!reader.at_end() && reader.GetBytes(&member)) members.push_back(member);
  return members;
}

std::string EncodeMembers(absl::Span<const std::string_view> members) {
  ByteWriter writer;
  size_t size = 1;
  for (std::string_view m : members) size += BytesSize(m.size());
  writer.Reserve(size);
  writer.PutByte(kIndexVersion);
  for (std::string_view m : members) writer.PutBytes(m);
  return writer.Take();
}

void AddMember(storage::Cursor& index, std::string_view member, int64_t member_deadline) {
  ReplaceMember(index, member, member, member_deadline);
}

void ReplaceMember(storage::Cursor& index, std::string_view old_member, std::string_view new_member,
                   int64_t member_deadline) {
  // Copy out before Put: the views point into the cursor's current value.
  const bool found = index.found();
  const std::string current(found ? index.value() : std::string_view());
  std::vector<std::string_view> members = DecodeMembers(current);
  auto it = std::find(members.begin(), members.end(), old_member);
  if (it != members.end()) {
    *it = new_member;
  } else if (std::find(members.begin(), members.end(), new_member) == members.end()) {
    members.push_back(new_member);
  }
  const int64_t deadline = found ? std::max(index.deadline(), member_deadline) : member_deadline;
  PutMembers(index, members, deadline);
}

void RemoveMember(storage::Cursor& index, std::string_view member) {
  if (!index.found()) return;
  const std::string current(index.value());
  std::vector<std::string_view> members = DecodeMembers(current);
  auto it = std::find(members.begin(), members.end(), member);
  if (it == members.end()) return;
  members.erase(it);
  PutMembers(index, members, index.deadline());
}

void SetMembers(storage::Cursor& index, absl::Span<const std::string_view> members,
                int64_t deadline) {
  PutMembers(index, members, deadline);
}

absl::Status UpdateOverIndex(storage::Store& store, const storage::KeyRef& index,
                             storage::Space member_space,
                             absl::FunctionRef<std::string_view(std::string_view)> member_affinity,
                             absl::Span<const storage::KeyRef> extra,
                             absl::FunctionRef<absl::Status(const IndexStep&)> fn) {
  for (int attempt = 0; attempt < kMaxIndexRetries; ++attempt) {
    // 1. Which members to lock: a plain read of the index (the decision is re-checked below,
    //    under the lock, so this read is only a plan).
    std::optional<std::string> seen;
    absl::Status read = store.Update(index, [&](storage::Cursor& cursor) {
      if (cursor.found()) seen.emplace(cursor.value());
      return absl::OkStatus();
    });
    if (!read.ok()) return read;

    IndexStep step;
    if (seen.has_value()) {
      absl::flat_hash_set<std::string_view> unique;
      for (std::string_view m : DecodeMembers(*seen)) {
        if (unique.insert(m).second) step.members.push_back(m);
      }
    }
    std::vector<storage::KeyRef> keys(extra.begin(), extra.end());
    for (std::string_view m : step.members) {
      keys.push_back(storage::KeyRef{member_space, m, member_affinity(m)});
    }
    keys.push_back(index);

    // 2. The atomic step, valid only if the index is still what the plan was made from.
    absl::Status status =
        store.UpdateMany(keys, [&](absl::Span<storage::Cursor* const> cursors) -> absl::Status {
          storage::Cursor* index_cursor = cursors.back();
          const bool unchanged = seen.has_value()
                                     ? index_cursor->found() && index_cursor->value() == *seen
                                     : !index_cursor->found();
          if (!unchanged) return IndexChanged();
          step.extra = cursors.subspan(0, extra.size());
          step.member_cursors = cursors.subspan(extra.size(), step.members.size());
          step.index = index_cursor;
          return fn(step);
        });
    if (status.code() == absl::StatusCode::kAborted && status == IndexChanged()) continue;
    return status;
  }
  return absl::AbortedError("too many concurrent changes to one owner's index; retry");
}

}  // namespace hourglass::domain
