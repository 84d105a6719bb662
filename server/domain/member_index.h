#pragma once

// Owner indexes (a user's sessions, a subject's tokens): one storage::Space::kIndex entry per
// owner whose value lists its members' keys in insertion order, placed on the members' shard
// (same affinity) so that every change to a member and to its index is one atomic step.
//
// Invariants kept by the callers (SessionManager, TokenManager):
//   - a member is listed while it is stored; explicit writes fix the index in the same step,
//     and removals by expiry or eviction fix it from the space's RemovalHook, under the same
//     shard lock (RemoveMember below);
//   - an index without members does not exist (RemoveMember erases it);
//   - the index's deadline is >= every member's deadline (AddMember raises it; steps that see
//     every member recompute it exactly), so an index never outlives its members even if a
//     removal path were missed.
//
// Thread-safety: the functions are stateless. Those taking a Cursor run inside a store step.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "storage/store.h"

namespace hourglass::domain {

// Index value codec. Decoding a malformed value yields the members parsed before the damage.
std::vector<std::string_view> DecodeMembers(std::string_view value);
std::string EncodeMembers(absl::Span<const std::string_view> members);

// Appends `member` (unless listed) and raises the index deadline to at least `member_deadline`.
// Creates the index when absent.
void AddMember(storage::Cursor& index, std::string_view member, int64_t member_deadline);

// Replaces `old_member` by `new_member` in place (keeping the order), or appends `new_member`
// when `old_member` is not listed. Raises the deadline to at least `member_deadline`.
void ReplaceMember(storage::Cursor& index, std::string_view old_member, std::string_view new_member,
                   int64_t member_deadline);

// Unlists `member`; erases the index when it was the last one. The deadline is kept (still an
// upper bound of the remaining members').
void RemoveMember(storage::Cursor& index, std::string_view member);

// Rewrites the index as exactly `members` with deadline `deadline` (the max of theirs), or
// erases it when `members` is empty.
void SetMembers(storage::Cursor& index, absl::Span<const std::string_view> members,
                int64_t deadline);

// What UpdateOverIndex hands its callback: every cursor of the step.
struct IndexStep {
  absl::Span<storage::Cursor* const> extra;  // one per `extra` key, in order
  std::vector<std::string_view> members;     // the index's members, in order (deduplicated)
  absl::Span<storage::Cursor* const> member_cursors;  // one per member
  storage::Cursor* index = nullptr;
};

// Reads `index`, then runs `fn` in ONE UpdateMany over `extra`, every listed member and the
// index (all on the index's shard when affinities agree, so one lock). If the index changed
// between the read and the step (a concurrent writer, or a removal hook that ran at the start of
// the step), the step is abandoned and started over, so `fn` always sees cursors for exactly
// the members the index lists; after kMaxIndexRetries such races it gives up with ABORTED.
// `member_affinity` maps a member key to its KeyRef::affinity. Returns `fn`'s status, or the
// store's (RESOURCE_EXHAUSTED...).
inline constexpr int kMaxIndexRetries = 16;
absl::Status UpdateOverIndex(storage::Store& store, const storage::KeyRef& index,
                             storage::Space member_space,
                             absl::FunctionRef<std::string_view(std::string_view)> member_affinity,
                             absl::Span<const storage::KeyRef> extra,
                             absl::FunctionRef<absl::Status(const IndexStep&)> fn);

}  // namespace hourglass::domain
