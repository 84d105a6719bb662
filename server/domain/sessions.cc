#include "server/domain/sessions.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/domain/digest.h"
#include "server/domain/member_index.h"
#include "server/domain/routing.h"

namespace hourglass::domain {
namespace {

using storage::Cursor;
using storage::KeyRef;
using storage::Space;

// Index keys of users' session lists in Space::kIndex ("t:" is the token subject index).
constexpr std::string_view kIndexPrefix = "s:";

// The event key shows this many hex digits of SHA-256(id): 64 bits, enough to tell a user's
// sessions apart, useless to find the id.
constexpr size_t kEventIdHashDigits = 16;

// A user's index: key and routing tag, owned here so KeyRefs can view them.
struct UserIndex {
  explicit UserIndex(std::string_view user_id)
      : key(std::string(kIndexPrefix).append(user_id)), tag(RoutingTag(user_id)) {}
  KeyRef ref() const { return KeyRef{Space::kIndex, key, tag}; }

  std::string key;
  std::string tag;
};

// Only for well-formed ids (IsRoutedSecret).
KeyRef SessionRef(std::string_view id) {
  return KeyRef{Space::kSession, id, TagOfRoutedSecret(id)};
}

// Index members come from our own writes, but a damaged entry must not crash a substr.
std::string_view MemberAffinity(std::string_view id) {
  return id.size() >= kRoutingTagChars ? TagOfRoutedSecret(id) : id;
}

// a + b, saturating at kNoDeadline (and at INT64_MIN): `b` is negative once the wall clock has
// passed an absolute deadline, and must then give a deadline in the past, never "no deadline".
int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? storage::kNoDeadline : std::numeric_limits<int64_t>::min();
  }
  return sum;
}

// The absolute deadline as a monotonic instant, read now (kNoDeadline when none).
int64_t AbsoluteDeadline(int64_t absolute_wall_ms, const storage::Clock& clock) {
  if (absolute_wall_ms == kNoAbsoluteDeadline) return storage::kNoDeadline;
  return SaturatingAdd(clock.MonotonicMs(), absolute_wall_ms - clock.WallMs());
}

// The store expires the idle deadline; the absolute one is ours to enforce on reads (it only
// differs from the capped idle deadline after the wall clock stepped forward).
bool Alive(int64_t absolute_wall_ms, int64_t now, const storage::Clock& clock) {
  return AbsoluteDeadline(absolute_wall_ms, clock) > now;
}

// now + idle timeout, capped by the absolute deadline.
int64_t SlidDeadline(int64_t idle_timeout_ms, int64_t absolute_wall_ms, int64_t now,
                     const storage::Clock& clock) {
  return std::min(SaturatingAdd(now, idle_timeout_ms), AbsoluteDeadline(absolute_wall_ms, clock));
}

Session MakeSession(std::string_view id, SessionRecord record, int64_t deadline) {
  Session session;
  session.id = std::string(id);
  session.user_id = std::move(record.user_id);
  session.data = std::move(record.data);
  session.labels = std::move(record.labels);
  session.create_wall_ms = record.create_wall_ms;
  session.idle_timeout_ms = record.idle_timeout_ms;
  session.expire_deadline_ms = deadline;
  session.absolute_wall_ms = record.absolute_wall_ms;
  return session;
}

// The header of the live session under `cursor` (views into its value), or nullopt: missing,
// damaged, past its absolute deadline, or — when `user` is given — not that user's.
std::optional<SessionHeader> LiveHeader(const Cursor& cursor, const std::string* user, int64_t now,
                                        const storage::Clock& clock) {
  if (!cursor.found()) return std::nullopt;
  std::optional<SessionHeader> header = DecodeSessionHeader(cursor.value());
  if (!header || !Alive(header->absolute_wall_ms, now, clock)) return std::nullopt;
  if (user != nullptr && header->user_id != *user) return std::nullopt;
  return header;
}

// A session's bytes copied under the shard lock, decoded after it is released: decoding data
// and labels costs allocations the other users of the shard should not wait for.
struct StoredSession {
  std::string id;
  std::string value;
  int64_t deadline = 0;
};

std::optional<Session> DecodeStored(const StoredSession& stored) {
  std::optional<SessionRecord> record = DecodeSessionRecord(stored.value);
  if (!record) return std::nullopt;
  return MakeSession(stored.id, std::move(*record), stored.deadline);
}

absl::Status NoSession() { return absl::NotFoundError("session_id: no live session with this id"); }

absl::Status IdCollision() {
  // 2^-256 per pair of ids: a broken CSPRNG, not bad luck.
  return absl::InternalError("generated session id already exists");
}

absl::Status CheckContent(const StringMap& data, const StringMap& labels, uint64_t max_bytes) {
  const uint64_t bytes = SessionContentBytes(data, labels);
  if (bytes > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("data + labels: ", bytes, " bytes exceeds max ", max_bytes));
  }
  return absl::OkStatus();
}

// Removal by expiry or eviction: unlist the session from its user's index, under the shard
// lock the store holds (the index shares the session's shard by affinity).
void OnSessionRemoved(std::string_view id, std::string_view value, storage::ShardEditor& shard) {
  std::optional<SessionHeader> header = DecodeSessionHeader(value);
  if (!header) return;
  const UserIndex index(header->user_id);
  // FAILED_PRECONDITION only if the index were on another shard, which our ids never allow;
  // then the index's own deadline still bounds the leak.
  shard
      .Update(index.ref(),
              [&](Cursor& cursor) {
                RemoveMember(cursor, id);
                return absl::OkStatus();
              })
      .IgnoreError();
}

}  // namespace

SessionManager::SessionManager(storage::Store& store, Options options)
    : store_(store), clock_(store.clock()), options_(options) {
  store_.SetRemovalHook(Space::kSession, OnSessionRemoved);
}

absl::StatusOr<Session> SessionManager::Create(NewSession spec) {
  if (spec.user_id.empty()) return absl::InvalidArgumentError("user_id: required");
  if (spec.idle_timeout_ms <= 0) return absl::InvalidArgumentError("idle_timeout: must be > 0");
  if (spec.absolute_timeout_ms.has_value() && *spec.absolute_timeout_ms <= 0) {
    return absl::InvalidArgumentError("absolute_timeout: must be > 0");
  }
  if (spec.max_sessions_per_user.has_value() && *spec.max_sessions_per_user == 0) {
    return absl::InvalidArgumentError("max_sessions_per_user: must be > 0");
  }
  if (absl::Status s = CheckContent(spec.data, spec.labels, options_.max_content_bytes); !s.ok()) {
    return s;
  }

  const UserIndex index(spec.user_id);
  absl::StatusOr<std::string> id = NewRoutedSecret(index.tag);
  if (!id.ok()) return id.status();
  const KeyRef session_ref = SessionRef(*id);

  const int64_t now = clock_.MonotonicMs();
  SessionRecord record;
  record.user_id = std::move(spec.user_id);
  record.create_wall_ms = clock_.WallMs();
  record.idle_timeout_ms = spec.idle_timeout_ms;
  int64_t deadline = SaturatingAdd(now, spec.idle_timeout_ms);
  if (spec.absolute_timeout_ms.has_value()) {
    record.absolute_wall_ms = record.create_wall_ms + *spec.absolute_timeout_ms;
    deadline = std::min(deadline, SaturatingAdd(now, *spec.absolute_timeout_ms));
  }
  record.data = std::move(spec.data);
  record.labels = std::move(spec.labels);
  const std::string value = EncodeSessionRecord(record);

  absl::Status status;
  if (!spec.max_sessions_per_user.has_value()) {
    // No cap: the new session and one index entry, without looking at the other sessions.
    const KeyRef keys[] = {session_ref, index.ref()};
    status = store_.UpdateMany(keys, [&](absl::Span<Cursor* const> cursors) {
      if (cursors[0]->found()) return IdCollision();
      cursors[0]->Put(value, deadline);
      AddMember(*cursors[1], *id, deadline);
      return absl::OkStatus();
    });
  } else {
    // With a cap: lock every listed session too, delete the oldest live ones beyond
    // max - 1 (index order is creation order), and rewrite the index with an exact deadline.
    const size_t keep = *spec.max_sessions_per_user - 1;
    status = UpdateOverIndex(store_, index.ref(), Space::kSession, MemberAffinity,
                             {&session_ref, 1}, [&](const IndexStep& step) {
                               if (step.extra[0]->found()) return IdCollision();
                               std::vector<size_t> live;
                               for (size_t i = 0; i < step.members.size(); ++i) {
                                 Cursor& member = *step.member_cursors[i];
                                 if (!member.found()) continue;
                                 std::optional<SessionHeader> header =
                                     DecodeSessionHeader(member.value());
                                 if (header && Alive(header->absolute_wall_ms, now, clock_)) {
                                   live.push_back(i);
                                 } else {
                                   // Past its absolute deadline (the wall clock stepped): neither
                                   // counted nor kept.
                                   member.Erase();
                                 }
                               }
                               const size_t excess = live.size() > keep ? live.size() - keep : 0;
                               std::vector<std::string_view> members;
                               int64_t index_deadline = deadline;
                               for (size_t k = 0; k < live.size(); ++k) {
                                 Cursor& member = *step.member_cursors[live[k]];
                                 if (k < excess) {
                                   member.Erase();
                                 } else {
                                   members.push_back(step.members[live[k]]);
                                   index_deadline = std::max(index_deadline, member.deadline());
                                 }
                               }
                               members.push_back(*id);
                               step.extra[0]->Put(value, deadline);
                               SetMembers(*step.index, members, index_deadline);
                               return absl::OkStatus();
                             });
  }
  if (!status.ok()) return status;
  return MakeSession(*id, std::move(record), deadline);
}

absl::StatusOr<std::optional<std::string>> SessionManager::ReadUserId(std::string_view id,
                                                                      bool require_alive) {
  std::optional<std::string> user;
  const int64_t now = clock_.MonotonicMs();
  absl::Status status = store_.Update(SessionRef(id), [&](Cursor& cursor) {
    if (!cursor.found()) return absl::OkStatus();
    std::optional<SessionHeader> header = DecodeSessionHeader(cursor.value());
    if (header && (!require_alive || Alive(header->absolute_wall_ms, now, clock_))) {
      user.emplace(header->user_id);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return user;
}

absl::StatusOr<std::optional<Session>> SessionManager::Get(std::string_view id, bool touch) {
  if (id.empty()) return absl::InvalidArgumentError("session_id: required");
  if (!IsRoutedSecret(id)) return std::nullopt;
  std::optional<StoredSession> stored;

  if (!touch) {
    absl::Status status = store_.Update(SessionRef(id), [&](Cursor& cursor) {
      if (LiveHeader(cursor, nullptr, clock_.MonotonicMs(), clock_)) {
        stored = StoredSession{std::string(id), std::string(cursor.value()), cursor.deadline()};
      }
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return stored ? DecodeStored(*stored) : std::nullopt;
  }

  absl::StatusOr<std::optional<std::string>> user = ReadUserId(id, /*require_alive=*/true);
  if (!user.ok()) return user.status();
  if (!user->has_value()) return std::nullopt;
  const UserIndex index(**user);
  const KeyRef keys[] = {SessionRef(id), index.ref()};
  absl::Status status = store_.UpdateMany(keys, [&](absl::Span<Cursor* const> cursors) {
    const int64_t now = clock_.MonotonicMs();
    std::optional<SessionHeader> header = LiveHeader(*cursors[0], &**user, now, clock_);
    if (!header) return absl::OkStatus();  // gone between the two reads: simply missing
    const int64_t deadline =
        SlidDeadline(header->idle_timeout_ms, header->absolute_wall_ms, now, clock_);
    // Copy before the write: the value view (and `header`) dies with it.
    stored = StoredSession{std::string(id), std::string(cursors[0]->value()), deadline};
    cursors[0]->SetDeadline(deadline);
    // Keep the index's deadline >= every member's.
    if (cursors[1]->found() && cursors[1]->deadline() < deadline) {
      cursors[1]->SetDeadline(deadline);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return stored ? DecodeStored(*stored) : std::nullopt;
}

absl::StatusOr<Session> SessionManager::Update(std::string_view id, const SessionChange& change) {
  if (id.empty()) return absl::InvalidArgumentError("session_id: required");
  if (change.idle_timeout_ms.has_value() && *change.idle_timeout_ms <= 0) {
    return absl::InvalidArgumentError("idle_timeout: must be > 0");
  }
  if (!IsRoutedSecret(id)) return NoSession();
  std::optional<Session> out;

  // The whole read-modify-write on the session; `index` is given when the deadline may move.
  auto apply = [&](Cursor& session, Cursor* index, const std::string* user) -> absl::Status {
    const int64_t now = clock_.MonotonicMs();
    if (!LiveHeader(session, user, now, clock_)) return NoSession();
    std::optional<SessionRecord> record = DecodeSessionRecord(session.value());
    if (!record) return NoSession();
    for (const std::string& key : change.remove_keys) {
      auto it = record->data.find(key);
      if (it != record->data.end()) record->data.erase(it);
    }
    for (const auto& [key, value] : change.set) record->data.insert_or_assign(key, value);
    if (absl::Status s = CheckContent(record->data, record->labels, options_.max_content_bytes);
        !s.ok()) {
      return s;
    }
    int64_t deadline = session.deadline();
    if (change.idle_timeout_ms.has_value()) {
      record->idle_timeout_ms = *change.idle_timeout_ms;
      deadline = SlidDeadline(record->idle_timeout_ms, record->absolute_wall_ms, now, clock_);
    }
    session.Put(EncodeSessionRecord(*record), deadline);
    if (index != nullptr && index->found() && index->deadline() < deadline) {
      index->SetDeadline(deadline);
    }
    out = MakeSession(id, std::move(*record), deadline);
    return absl::OkStatus();
  };

  absl::Status status;
  if (!change.idle_timeout_ms.has_value()) {
    // The deadline stays: the index is not involved.
    status = store_.Update(SessionRef(id),
                           [&](Cursor& cursor) { return apply(cursor, nullptr, nullptr); });
  } else {
    absl::StatusOr<std::optional<std::string>> user = ReadUserId(id, /*require_alive=*/true);
    if (!user.ok()) return user.status();
    if (!user->has_value()) return NoSession();
    const UserIndex index(**user);
    const KeyRef keys[] = {SessionRef(id), index.ref()};
    status = store_.UpdateMany(keys, [&](absl::Span<Cursor* const> cursors) {
      return apply(*cursors[0], cursors[1], &**user);
    });
  }
  if (!status.ok()) return status;
  return std::move(*out);
}

absl::StatusOr<Session> SessionManager::Rotate(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("session_id: required");
  if (!IsRoutedSecret(id)) return NoSession();
  absl::StatusOr<std::optional<std::string>> user = ReadUserId(id, /*require_alive=*/true);
  if (!user.ok()) return user.status();
  if (!user->has_value()) return NoSession();
  const UserIndex index(**user);
  absl::StatusOr<std::string> new_id = NewRoutedSecret(index.tag);
  if (!new_id.ok()) return new_id.status();

  StoredSession stored;
  const KeyRef keys[] = {SessionRef(id), SessionRef(*new_id), index.ref()};
  absl::Status status = store_.UpdateMany(keys, [&](absl::Span<Cursor* const> cursors) {
    Cursor& old_session = *cursors[0];
    Cursor& new_session = *cursors[1];
    if (!LiveHeader(old_session, &**user, clock_.MonotonicMs(), clock_)) return NoSession();
    if (new_session.found()) return IdCollision();
    // Same bytes, same deadline: only the key changes. Copy first: the view dies with Erase.
    stored = StoredSession{*new_id, std::string(old_session.value()), old_session.deadline()};
    new_session.Put(stored.value, stored.deadline);
    old_session.Erase();
    ReplaceMember(*cursors[2], id, *new_id, stored.deadline);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  std::optional<Session> out = DecodeStored(stored);
  if (!out) return absl::InternalError("stored session is damaged");
  return std::move(*out);
}

absl::StatusOr<bool> SessionManager::Delete(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("session_id: required");
  if (!IsRoutedSecret(id)) return false;
  // Also a session past its absolute deadline is removed (and reported as not deleted).
  absl::StatusOr<std::optional<std::string>> user = ReadUserId(id, /*require_alive=*/false);
  if (!user.ok()) return user.status();
  if (!user->has_value()) return false;
  const UserIndex index(**user);
  bool deleted = false;
  const KeyRef keys[] = {SessionRef(id), index.ref()};
  absl::Status status = store_.UpdateMany(keys, [&](absl::Span<Cursor* const> cursors) {
    Cursor& session = *cursors[0];
    if (!session.found()) return absl::OkStatus();
    std::optional<SessionHeader> header = DecodeSessionHeader(session.value());
    deleted = header && header->user_id == **user &&
              Alive(header->absolute_wall_ms, clock_.MonotonicMs(), clock_);
    session.Erase();
    RemoveMember(*cursors[1], id);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return deleted;
}

absl::StatusOr<std::vector<Session>> SessionManager::List(std::string_view user_id) {
  if (user_id.empty()) return absl::InvalidArgumentError("user_id: required");
  const UserIndex index(user_id);
  std::vector<StoredSession> stored;
  absl::Status status = UpdateOverIndex(
      store_, index.ref(), Space::kSession, MemberAffinity, {}, [&](const IndexStep& step) {
        stored.clear();  // a retried step starts over
        const int64_t now = clock_.MonotonicMs();
        for (size_t i = step.members.size(); i-- > 0;) {
          const Cursor& cursor = *step.member_cursors[i];
          if (LiveHeader(cursor, nullptr, now, clock_)) {
            stored.push_back(StoredSession{std::string(step.members[i]),
                                           std::string(cursor.value()), cursor.deadline()});
          }
        }
        return absl::OkStatus();  // read-only: removal hooks keep the index clean
      });
  if (!status.ok()) return status;
  std::vector<Session> out;
  out.reserve(stored.size());
  for (const StoredSession& s : stored) {
    if (std::optional<Session> session = DecodeStored(s)) out.push_back(std::move(*session));
  }
  // Index order (newest last) is creation order; a stable sort by create time only matters
  // when the wall clock stepped back between creations.
  std::stable_sort(out.begin(), out.end(), [](const Session& a, const Session& b) {
    return a.create_wall_ms > b.create_wall_ms;
  });
  return out;
}

absl::StatusOr<int64_t> SessionManager::DeleteAll(std::string_view user_id,
                                                  std::string_view except_id) {
  if (user_id.empty()) return absl::InvalidArgumentError("user_id: required");
  const UserIndex index(user_id);
  int64_t deleted = 0;
  absl::Status status = UpdateOverIndex(
      store_, index.ref(), Space::kSession, MemberAffinity, {}, [&](const IndexStep& step) {
        deleted = 0;
        const int64_t now = clock_.MonotonicMs();
        std::vector<std::string_view> kept;
        int64_t kept_deadline = 0;
        for (size_t i = 0; i < step.members.size(); ++i) {
          Cursor& cursor = *step.member_cursors[i];
          if (!cursor.found()) continue;
          std::optional<SessionHeader> header = DecodeSessionHeader(cursor.value());
          const bool alive = header && Alive(header->absolute_wall_ms, now, clock_);
          if (alive && !except_id.empty() && step.members[i] == except_id) {
            kept.push_back(step.members[i]);
            kept_deadline = cursor.deadline();
            continue;
          }
          cursor.Erase();
          if (alive) ++deleted;
        }
        SetMembers(*step.index, kept, kept_deadline);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return deleted;
}

std::optional<std::string> SessionEventKey(std::string_view key, std::string_view value) {
  std::optional<SessionHeader> header = DecodeSessionHeader(value);
  if (!header) return std::nullopt;
  std::string out(header->user_id);
  out.push_back(':');
  out.append(HexPrefix(Sha256(key), kEventIdHashDigits));
  return out;
}

}  // namespace hourglass::domain
