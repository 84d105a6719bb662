// SessionManager behaviour on a fake clock: ids, deadlines at every boundary, touch, update,
// rotate, delete, list, delete-all, max_sessions_per_user, validation.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "server/domain/base64url.h"
#include "server/domain/routing.h"
#include "server/domain/sessions.h"
#include "tests/domain/session_harness.h"

namespace hourglass::domain::testing {
namespace {

using storage::FakeClock;

class SessionTest : public ::testing::Test {
 protected:
  Session Create(std::string_view user, int64_t idle_ms,
                 std::optional<int64_t> absolute_ms = std::nullopt,
                 std::optional<uint32_t> max_sessions = std::nullopt) {
    absl::StatusOr<Session> session =
        h.sessions->Create(MakeSession(user, idle_ms, absolute_ms, max_sessions));
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? *session : Session{};
  }
  bool Found(std::string_view id, bool touch = false) {
    absl::StatusOr<std::optional<Session>> got = h.sessions->Get(id, touch);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() && got->has_value();
  }
  std::optional<Session> Touch(std::string_view id) {
    absl::StatusOr<std::optional<Session>> got = h.sessions->Get(id, /*touch=*/true);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }

  SessionHarness h;
};

TEST_F(SessionTest, CreateGeneratesRoutedIdAndDeadlines) {
  NewSession spec = MakeSession("u42", 1800);
  spec.data = {{"cart", std::string("a\0b", 3)}};
  spec.labels = {{"device", "ios"}};
  absl::StatusOr<Session> session = h.sessions->Create(spec);
  ASSERT_TRUE(session.ok()) << session.status();
  // 43 characters of 256 random bits, then the user's 4-character routing tag.
  EXPECT_EQ(session->id.size(), 47u);
  EXPECT_TRUE(IsBase64Url(session->id));
  EXPECT_EQ(session->id.substr(43), RoutingTag("u42"));
  EXPECT_EQ(session->user_id, "u42");
  EXPECT_EQ(session->data.at("cart"), std::string("a\0b", 3));
  EXPECT_EQ(session->labels.at("device"), "ios");
  EXPECT_EQ(session->create_wall_ms, FakeClock::kStartWallMs);
  EXPECT_EQ(session->idle_timeout_ms, 1800);
  EXPECT_EQ(session->expire_deadline_ms, h.now() + 1800);
  EXPECT_EQ(session->absolute_wall_ms, kNoAbsoluteDeadline);

  absl::StatusOr<std::optional<Session>> got = h.sessions->Get(session->id, false);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->data, session->data);
  EXPECT_EQ((*got)->labels, session->labels);
  EXPECT_EQ((*got)->expire_deadline_ms, session->expire_deadline_ms);
}

TEST_F(SessionTest, IdsAreUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.insert(Create("u", 1000).id);
  EXPECT_EQ(ids.size(), 200u);
}

TEST_F(SessionTest, AbsoluteTimeoutShorterThanIdleCapsTheFirstDeadline) {
  const Session s = Create("u", 1000, 400);
  EXPECT_EQ(s.expire_deadline_ms, h.now() + 400);
  EXPECT_EQ(s.absolute_wall_ms, FakeClock::kStartWallMs + 400);
}

TEST_F(SessionTest, IdleExpiryJustBeforeAtAndAfterTheDeadline) {
  const Session s = Create("u", 1000);
  h.Advance(999);
  EXPECT_TRUE(Found(s.id));  // 1 ms before
  h.Advance(1);
  EXPECT_FALSE(Found(s.id));  // at the deadline: gone
  h.Advance(1);
  EXPECT_FALSE(Found(s.id));
}

TEST_F(SessionTest, GetWithoutTouchDoesNotSlide) {
  const Session s = Create("u", 1000);
  h.Advance(500);
  absl::StatusOr<std::optional<Session>> got = h.sessions->Get(s.id, false);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->expire_deadline_ms, s.expire_deadline_ms);
  h.Advance(500);
  EXPECT_FALSE(Found(s.id));
}

TEST_F(SessionTest, TouchSlidesTheIdleDeadline) {
  const Session s = Create("u", 1000);
  h.Advance(999);
  std::optional<Session> touched = Touch(s.id);
  ASSERT_TRUE(touched);
  EXPECT_EQ(touched->expire_deadline_ms, h.now() + 1000);
  EXPECT_EQ(h.SessionDeadline(s.id), h.now() + 1000);
  h.Advance(999);
  EXPECT_TRUE(Found(s.id));
  h.Advance(1);
  EXPECT_FALSE(Found(s.id));
  EXPECT_FALSE(Touch(s.id));  // a touch never revives
}

TEST_F(SessionTest, TouchIsCappedByTheAbsoluteDeadline) {
  const int64_t start = h.now();
  const Session s = Create("u", 1000, 2500);
  h.Advance(900);
  EXPECT_EQ(Touch(s.id)->expire_deadline_ms, start + 1900);
  h.Advance(900);  // t = 1800: now + idle = 2800 > absolute 2500
  EXPECT_EQ(Touch(s.id)->expire_deadline_ms, start + 2500);
  h.Advance(699);  // t = 2499
  std::optional<Session> last = Touch(s.id);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->expire_deadline_ms, start + 2500);
  h.Advance(1);  // t = 2500: the absolute deadline
  EXPECT_FALSE(Found(s.id));
  EXPECT_FALSE(Touch(s.id));
}

TEST_F(SessionTest, WallClockStepPastTheAbsoluteDeadlineEndsTheSession) {
  const Session s = Create("u", 10'000, 5'000);
  h.clock.JumpWallMs(6'000);  // past the absolute deadline, a wall-clock instant
  EXPECT_FALSE(Found(s.id));
  EXPECT_FALSE(Touch(s.id));
  absl::StatusOr<std::vector<Session>> list = h.sessions->List("u");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_EQ(h.sessions->Update(s.id, {}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionTest, WallClockStepOntoTheAbsoluteDeadlineEndsTheSession) {
  const Session s = Create("u", 10'000, 5'000);
  h.clock.JumpWallMs(5'000);
  EXPECT_FALSE(Found(s.id));
  EXPECT_FALSE(Touch(s.id));
}

TEST_F(SessionTest, TouchAfterAWallClockStepNeverPassesTheAbsoluteDeadline) {
  const Session s = Create("u", 10'000, 5'000);
  h.clock.JumpWallMs(3'000);  // 2 s of absolute lifetime left, by the wall clock
  std::optional<Session> touched = Touch(s.id);
  ASSERT_TRUE(touched);
  EXPECT_LE(touched->expire_deadline_ms, h.clock.MonotonicMs() + 2'000);
}

TEST_F(SessionTest, MalformedOrUnknownIdsAreSimplyMissing) {
  EXPECT_FALSE(Found("nope"));
  EXPECT_FALSE(Found(std::string(47, '!')));
  const Session s = Create("u", 1000);
  std::string other = s.id;
  other[0] = other[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Found(other));
  EXPECT_FALSE(Found(other, /*touch=*/true));
  EXPECT_EQ(h.sessions->Get("", false).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionTest, UpdateRemovesThenMergesAndKeepsTheDeadline) {
  NewSession spec = MakeSession("u", 1000);
  spec.data = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  spec.labels = {{"ip", "10.0.0.1"}};
  absl::StatusOr<Session> s = h.sessions->Create(spec);
  ASSERT_TRUE(s.ok());
  h.Advance(100);
  SessionChange change;
  change.remove_keys = {"a", "b", "missing"};
  change.set = {{"b", "20"}, {"d", "4"}};
  absl::StatusOr<Session> updated = h.sessions->Update(s->id, change);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->data, (StringMap{{"b", "20"}, {"c", "3"}, {"d", "4"}}));
  EXPECT_EQ(updated->labels, s->labels);
  EXPECT_EQ(updated->expire_deadline_ms, s->expire_deadline_ms);
  EXPECT_EQ(updated->create_wall_ms, s->create_wall_ms);
  EXPECT_EQ(h.sessions->Get(s->id, false)->value().data, updated->data);
}

TEST_F(SessionTest, UpdateWithIdleTimeoutSlidesCappedByAbsolute) {
  const int64_t start = h.now();
  const Session s = Create("u", 1000, 3000);
  h.Advance(500);
  SessionChange change;
  change.idle_timeout_ms = 2000;
  absl::StatusOr<Session> updated = h.sessions->Update(s.id, change);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->idle_timeout_ms, 2000);
  EXPECT_EQ(updated->expire_deadline_ms, start + 2500);
  h.Advance(1000);  // t = 1500: 1500 + 2000 > 3000
  EXPECT_EQ(Touch(s.id)->expire_deadline_ms, start + 3000);
  // A shorter timeout moves the deadline earlier as well.
  change.idle_timeout_ms = 10;
  EXPECT_EQ(h.sessions->Update(s.id, change)->expire_deadline_ms, h.now() + 10);
  h.Advance(10);
  EXPECT_FALSE(Found(s.id));
}

TEST_F(SessionTest, UpdateOfAMissingSessionIsNotFound) {
  const Session s = Create("u", 1000);
  SessionChange change;
  change.set = {{"k", "v"}};
  EXPECT_EQ(h.sessions->Update("unknown", change).status().code(), absl::StatusCode::kNotFound);
  h.Advance(1000);
  EXPECT_EQ(h.sessions->Update(s.id, change).status().code(), absl::StatusCode::kNotFound);
  change.idle_timeout_ms = 5;
  EXPECT_EQ(h.sessions->Update(s.id, change).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h.sessions->Update("", change).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionTest, ContentLimitCoversDataPlusLabelsAndRefusesWithoutChange) {
  SessionHarness small(/*shards=*/4, /*max_content_bytes=*/100);
  NewSession spec = MakeSession("u", 1000);
  spec.data = {{"k", std::string(60, 'x')}};
  spec.labels = {{"l", std::string(40, 'y')}};
  absl::Status too_big = small.sessions->Create(spec).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.message().find("exceeds max 100"), std::string_view::npos) << too_big;

  spec.labels.clear();
  absl::StatusOr<Session> s = small.sessions->Create(spec);
  ASSERT_TRUE(s.ok()) << s.status();
  SessionChange change;
  change.set = {{"k2", std::string(40, 'z')}};
  EXPECT_EQ(small.sessions->Update(s->id, change).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(small.sessions->Get(s->id, false)->value().data.size(), 1u);
  // Removing in the same change makes room.
  change.remove_keys = {"k"};
  EXPECT_TRUE(small.sessions->Update(s->id, change).ok());
}

TEST_F(SessionTest, RotateMovesEverythingToANewIdAndKillsTheOld) {
  const int64_t start = h.now();
  NewSession spec = MakeSession("u", 1000, 5000);
  spec.data = {{"k", "v"}};
  const Session s = *h.sessions->Create(spec);
  h.Advance(300);
  absl::StatusOr<Session> rotated = h.sessions->Rotate(s.id);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_NE(rotated->id, s.id);
  EXPECT_EQ(rotated->id.substr(43), s.id.substr(43));  // same user, same shard
  EXPECT_EQ(rotated->user_id, "u");
  EXPECT_EQ(rotated->data, s.data);
  EXPECT_EQ(rotated->create_wall_ms, s.create_wall_ms);
  EXPECT_EQ(rotated->expire_deadline_ms, start + 1000);
  EXPECT_EQ(rotated->absolute_wall_ms, s.absolute_wall_ms);
  EXPECT_FALSE(Found(s.id));
  EXPECT_FALSE(Touch(s.id));
  EXPECT_TRUE(Found(rotated->id));
  EXPECT_EQ(h.sessions->Rotate(s.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h.sessions->Rotate("bogus").status().code(), absl::StatusCode::kNotFound);
  h.Advance(700);
  EXPECT_EQ(h.sessions->Rotate(rotated->id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionTest, DeleteReportsWhetherALiveSessionWentAway) {
  const Session s = Create("u", 1000);
  EXPECT_TRUE(*h.sessions->Delete(s.id));
  EXPECT_FALSE(*h.sessions->Delete(s.id));
  EXPECT_FALSE(Found(s.id));
  EXPECT_FALSE(*h.sessions->Delete("short"));
  EXPECT_EQ(h.sessions->Delete("").status().code(), absl::StatusCode::kInvalidArgument);
  const Session expired = Create("u", 10);
  h.Advance(10);
  EXPECT_FALSE(*h.sessions->Delete(expired.id));
}

TEST_F(SessionTest, ListIsNewestFirstAndSkipsTheExpired) {
  const Session a = Create("u", 1000);
  h.Advance(10);
  const Session b = Create("u", 100);  // expires first
  h.Advance(10);
  const Session c = Create("u", 1000);
  Create("other", 1000);
  absl::StatusOr<std::vector<Session>> list = h.sessions->List("u");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, c.id);
  EXPECT_EQ((*list)[1].id, b.id);
  EXPECT_EQ((*list)[2].id, a.id);
  h.Advance(100);  // b is due, not yet reclaimed
  list = h.sessions->List("u");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, c.id);
  EXPECT_EQ((*list)[1].id, a.id);
  EXPECT_TRUE(h.sessions->List("nobody")->empty());
  EXPECT_EQ(h.sessions->List("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionTest, DeleteAllWithAndWithoutException) {
  const Session a = Create("u", 1000);
  const Session b = Create("u", 1000);
  const Session c = Create("u", 1000);
  const Session other = Create("v", 1000);
  EXPECT_EQ(*h.sessions->DeleteAll("u", b.id), 2);
  EXPECT_FALSE(Found(a.id));
  EXPECT_TRUE(Found(b.id));
  EXPECT_FALSE(Found(c.id));
  // An id that is not one of the user's keeps nothing.
  EXPECT_EQ(*h.sessions->DeleteAll("u", other.id), 1);
  EXPECT_FALSE(Found(b.id));
  EXPECT_TRUE(Found(other.id));
  EXPECT_EQ(*h.sessions->DeleteAll("u", ""), 0);
  EXPECT_EQ(*h.sessions->DeleteAll("v", ""), 1);
  EXPECT_EQ(h.sessions->DeleteAll("", "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionTest, DeleteAllDoesNotCountTheExpired) {
  Create("u", 10);
  Create("u", 1000);
  h.Advance(10);
  EXPECT_EQ(*h.sessions->DeleteAll("u", ""), 1);
}

TEST_F(SessionTest, MaxSessionsPerUserRemovesTheOldest) {
  const Session a = Create("u", 1000, std::nullopt, 3);
  const Session b = Create("u", 1000, std::nullopt, 3);
  const Session c = Create("u", 1000, std::nullopt, 3);
  EXPECT_TRUE(Found(a.id));
  const Session d = Create("u", 1000, std::nullopt, 3);
  EXPECT_FALSE(Found(a.id));
  EXPECT_TRUE(Found(b.id) && Found(c.id) && Found(d.id));
  // A smaller cap removes as many as needed.
  const Session e = Create("u", 1000, std::nullopt, 1);
  EXPECT_FALSE(Found(b.id) || Found(c.id) || Found(d.id));
  EXPECT_TRUE(Found(e.id));
  absl::StatusOr<std::vector<Session>> list = h.sessions->List("u");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, e.id);
}

TEST_F(SessionTest, MaxSessionsCountsOnlyLiveSessionsAndKeepsRotatedOnesInPlace) {
  const Session a = Create("u", 1000);
  const Session b = Create("u", 50);
  const Session c = Create("u", 1000);
  // Rotating the oldest keeps it the oldest.
  const Session a2 = *h.sessions->Rotate(a.id);
  h.Advance(50);  // b expired (not reclaimed): it does not count toward the cap
  const Session d = Create("u", 1000, std::nullopt, 3);
  EXPECT_TRUE(Found(a2.id) && Found(c.id) && Found(d.id));
  const Session e = Create("u", 1000, std::nullopt, 3);
  EXPECT_FALSE(Found(a2.id));
  EXPECT_TRUE(Found(c.id) && Found(d.id) && Found(e.id));
  EXPECT_FALSE(Found(b.id));
}

TEST_F(SessionTest, CreateValidatesItsInput) {
  EXPECT_EQ(h.sessions->Create(MakeSession("", 1000)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sessions->Create(MakeSession("u", 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sessions->Create(MakeSession("u", 1000, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.sessions->Create(MakeSession("u", 1000, std::nullopt, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  SessionChange change;
  change.idle_timeout_ms = 0;
  EXPECT_EQ(h.sessions->Update(Create("u", 1000).id, change).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionTest, EventKeysShowUserAndIdHashNeverTheId) {
  const Session s = Create("u42", 1000);
  ASSERT_TRUE(*h.sessions->Delete(s.id));
  const Session t = Create("u42", 10);
  h.Advance(10);
  h.Reclaim();
  int seen = 0;
  for (const RecordedEvent& event : h.events()) {
    if (event.space != storage::Space::kSession) continue;
    ++seen;
    ASSERT_TRUE(event.shown.has_value());
    EXPECT_EQ(event.shown->size(), 3u + 1 + 16);
    EXPECT_EQ(event.shown->substr(0, 4), "u42:");
    EXPECT_EQ(event.shown->find(s.id), std::string::npos);
    EXPECT_EQ(event.shown->find(t.id), std::string::npos);
  }
  EXPECT_EQ(seen, 2);
  SessionRecord record;
  record.user_id = "u42";
  const std::string value = EncodeSessionRecord(record);
  std::optional<std::string> a = SessionEventKey(s.id, value);
  std::optional<std::string> b = SessionEventKey(t.id, value);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(*a, SessionEventKey(s.id, value));
  EXPECT_FALSE(SessionEventKey(s.id, "garbage").has_value());
}

}  // namespace
}  // namespace hourglass::domain::testing
