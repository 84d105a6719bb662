#pragma once

// SessionManager: server-side sessions with a sliding idle deadline, an optional absolute
// deadline and a per-user index (API.md "SessionService"), over the store's atomic steps.
//
// Storage
//   - A session is one storage::Space::kSession entry: key = the session id, value =
//     session_codec.h's record, deadline = the idle deadline (so the store expires it).
//   - Session ids are 256 random bits (43 base64url characters) followed by the user's routing
//     tag (routing.h); the tag is the KeyRef::affinity of the session and of its user's index.
//   - The user's index is the storage::Space::kIndex entry "s:" + user_id listing the user's
//     session ids in creation order (member_index.h), on the same shard as the sessions.
//   - The idle deadline never passes the absolute one; a session whose absolute deadline has
//     passed is reported as missing even if its entry is still stored.
//
// Atomicity: every operation's decision and writes happen in ONE store step (Update or
// UpdateMany over the session, its index and, for whole-user operations, every listed
// session), so no interleaving can lose an update, resurrect a rotated id or leak an index
// entry. Operations that start from a session id and must also change the index (touch, a new
// idle timeout, rotate, delete) first read the session's user id (immutable for an id) to name
// the index, then re-check everything inside the step.
//
// The index never leaks: explicit removals (delete, rotate, delete-all, max_sessions_per_user)
// update it in the same step; removals by expiry or eviction update it from the kSession
// RemovalHook that the constructor registers, under the same shard lock. Its deadline is kept
// >= its members' (member_index.h).
//
// Thread-safety: thread-safe (all state is in the store). Construct before the store is shared
// between threads (the constructor registers the kSession removal hook); at most one
// SessionManager per store.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/domain/session_codec.h"
#include "storage/store.h"

namespace hourglass::domain {

// A session as read. Deadlines: `expire_deadline_ms` is a monotonic instant (Clock); the
// creation and absolute instants are wall-clock Unix ms.
struct Session {
  std::string id;
  std::string user_id;
  StringMap data;
  StringMap labels;
  int64_t create_wall_ms = 0;
  int64_t idle_timeout_ms = 0;
  int64_t expire_deadline_ms = 0;
  int64_t absolute_wall_ms = kNoAbsoluteDeadline;  // kNoAbsoluteDeadline: none
};

struct NewSession {
  std::string user_id;  // required
  StringMap data;
  StringMap labels;
  int64_t idle_timeout_ms = 0;                    // > 0
  std::optional<int64_t> absolute_timeout_ms;     // > 0 when set
  std::optional<uint32_t> max_sessions_per_user;  // > 0 when set
};

struct SessionChange {
  StringMap set;                           // merged into data (after the removals)
  std::vector<std::string> remove_keys;    // missing keys are ignored
  std::optional<int64_t> idle_timeout_ms;  // > 0 when set; also slides the idle deadline
};

class SessionManager {
 public:
  struct Options {
    // Bound on the encoded size of data plus labels (--max_value_bytes).
    uint64_t max_content_bytes = 1 << 20;
  };

  // Registers the kSession removal hook on `store`, which must outlive this object.
  SessionManager(storage::Store& store, Options options);
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // Creates a session with a fresh id; with max_sessions_per_user, deletes the user's oldest
  // live sessions to make room, in the same step. INVALID_ARGUMENT (empty user id, timeouts
  // <= 0, max 0, content too large), RESOURCE_EXHAUSTED (does not fit), INTERNAL (CSPRNG).
  absl::StatusOr<Session> Create(NewSession spec);

  // The session, or nullopt when missing, expired or malformed. With `touch`, the idle deadline
  // becomes now + idle timeout, capped by the absolute deadline, atomically with the read.
  absl::StatusOr<std::optional<Session>> Get(std::string_view id, bool touch);

  // Applies `change` (removals, then merges, then the optional new idle timeout).
  // NOT_FOUND when there is no live session `id`; INVALID_ARGUMENT when the result is too large.
  absl::StatusOr<Session> Update(std::string_view id, const SessionChange& change);

  // Moves the session to a new id (same user, content, create time and deadlines); the old id
  // is gone in the same step. NOT_FOUND when there is no live session `id`.
  absl::StatusOr<Session> Rotate(std::string_view id);

  // Whether a live session was deleted.
  absl::StatusOr<bool> Delete(std::string_view id);

  // The user's live sessions, newest (latest create time) first.
  absl::StatusOr<std::vector<Session>> List(std::string_view user_id);

  // Deletes the user's sessions except `except_id` (when it is one of them; empty = none) and
  // returns how many live sessions were deleted.
  absl::StatusOr<int64_t> DeleteAll(std::string_view user_id, std::string_view except_id);

 private:
  // The user id of session `id` (nullopt when missing or, with `require_alive`, past its
  // absolute deadline). A plain read: callers re-check inside their step.
  absl::StatusOr<std::optional<std::string>> ReadUserId(std::string_view id, bool require_alive);

  storage::Store& store_;
  const storage::Clock& clock_;
  const Options options_;
};

// The public WatchEvents key of a removed session (API.md "AdminService"): user_id + ":" + the
// first 16 hex digits of SHA-256(session id). Never the id itself. nullopt for a value that is
// not a session record. Pure; thread-safe. For EventHub::SetKeyFormatter(Space::kSession, ...).
std::optional<std::string> SessionEventKey(std::string_view key, std::string_view value);

}  // namespace hourglass::domain
