// The per-user session index never leaks: every way a session leaves (expiry, lazy expiry,
// eviction through the removal hook, rotate, delete, delete-all, max_sessions_per_user) leaves
// the index listing exactly the live sessions, and an index with no member does not exist.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/domain/sessions.h"
#include "tests/domain/session_harness.h"

namespace hourglass::domain::testing {
namespace {

using storage::Space;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SessionIndexTest : public ::testing::Test {
 protected:
  Session Create(std::string_view user, int64_t idle_ms,
                 std::optional<int64_t> absolute_ms = std::nullopt,
                 std::optional<uint32_t> max_sessions = std::nullopt) {
    absl::StatusOr<Session> session =
        h.sessions->Create(MakeSession(user, idle_ms, absolute_ms, max_sessions));
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? *session : Session{};
  }
  // Nothing of the user is left: no session, no index.
  void ExpectNothingLeft() {
    EXPECT_EQ(h.Keys(Space::kSession), 0u);
    EXPECT_EQ(h.Keys(Space::kIndex), 0u);
  }

  SessionHarness h;
};

TEST_F(SessionIndexTest, CreateListsInCreationOrderWithDeadlineCoveringAll) {
  const Session a = Create("u", 1000);
  const Session b = Create("u", 3000);
  const Session c = Create("u", 2000);
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(a.id, b.id, c.id));
  EXPECT_EQ(h.SessionIndexDeadline("u"), b.expire_deadline_ms);
  EXPECT_EQ(h.Keys(Space::kIndex), 1u);
}

TEST_F(SessionIndexTest, ReclaimedExpiryUnlistsAndTheLastOneRemovesTheIndex) {
  const Session a = Create("u", 100);
  const Session b = Create("u", 200);
  h.Advance(100);
  h.Reclaim();
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(b.id));
  h.Advance(100);
  h.Reclaim();
  EXPECT_THAT(h.SessionIndex("u"), IsEmpty());
  ExpectNothingLeft();
}

TEST_F(SessionIndexTest, LazyExpiryOnReadUnlistsToo) {
  const Session a = Create("u", 100);
  const Session b = Create("u", 1000);
  h.Advance(100);
  EXPECT_FALSE(h.sessions->Get(a.id, false)->has_value());  // found expired on access
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(b.id));
}

TEST_F(SessionIndexTest, ExpiryAfterTouchesStillCleansUp) {
  const Session a = Create("u", 100, 250);
  for (int i = 0; i < 4; ++i) {  // t = 50..200, each sliding to min(t + 100, 250)
    h.Advance(50);
    ASSERT_TRUE(h.sessions->Get(a.id, true)->has_value());
  }
  // The index deadline followed the touches and stays >= the session's.
  EXPECT_GE(*h.SessionIndexDeadline("u"), *h.SessionDeadline(a.id));
  h.Advance(100);  // t = 350 > absolute 250
  h.Reclaim();
  ExpectNothingLeft();
}

TEST_F(SessionIndexTest, IndexDeadlineIsNeverBelowAMember) {
  const Session a = Create("u", 1000);
  const Session b = Create("u", 100);
  h.Advance(90);
  ASSERT_TRUE(h.sessions->Get(b.id, true)->has_value());  // b: now + 100 = 190 < a's 1000
  EXPECT_EQ(h.SessionIndexDeadline("u"), a.expire_deadline_ms);
  h.Advance(900);                                         // t = 990
  ASSERT_TRUE(h.sessions->Get(a.id, true)->has_value());  // a: 1990
  EXPECT_EQ(h.SessionIndexDeadline("u"), h.now() + 1000);
  SessionChange change;
  change.idle_timeout_ms = 5000;
  ASSERT_TRUE(h.sessions->Update(a.id, change).ok());
  EXPECT_EQ(h.SessionIndexDeadline("u"), h.now() + 5000);
}

TEST_F(SessionIndexTest, EvictionThroughTheRemovalHookUnlists) {
  const Session a = Create("u", 1000);
  const Session b = Create("u", 1000);
  ASSERT_TRUE(h.EvictSession(a.id));
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(b.id));
  ASSERT_TRUE(h.EvictSession(b.id));
  ExpectNothingLeft();
  EXPECT_TRUE(h.sessions->List("u")->empty());
}

TEST_F(SessionIndexTest, RotateReplacesInPlace) {
  const Session a = Create("u", 1000);
  const Session b = Create("u", 1000);
  const Session a2 = *h.sessions->Rotate(a.id);
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(a2.id, b.id));
  EXPECT_EQ(h.Keys(Space::kSession), 2u);
  h.Advance(1000);
  h.Reclaim();
  ExpectNothingLeft();
}

TEST_F(SessionIndexTest, DeleteUnlistsAndTheLastRemovesTheIndex) {
  const Session a = Create("u", 1000);
  const Session b = Create("u", 1000);
  ASSERT_TRUE(*h.sessions->Delete(a.id));
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(b.id));
  ASSERT_TRUE(*h.sessions->Delete(b.id));
  ExpectNothingLeft();
}

TEST_F(SessionIndexTest, DeleteAllLeavesOnlyTheException) {
  Create("u", 1000);
  const Session keep = Create("u", 500);
  Create("u", 2000);
  ASSERT_EQ(*h.sessions->DeleteAll("u", keep.id), 2);
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(keep.id));
  // Recomputed exactly from the one member left.
  EXPECT_EQ(h.SessionIndexDeadline("u"), keep.expire_deadline_ms);
  ASSERT_EQ(*h.sessions->DeleteAll("u", ""), 1);
  ExpectNothingLeft();
}

TEST_F(SessionIndexTest, MaxSessionsKeepsExactlyTheCap) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Create("u", 1000 + i, std::nullopt, 4).id);
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(ids[6], ids[7], ids[8], ids[9]));
  EXPECT_EQ(h.Keys(Space::kSession), 4u);
  EXPECT_EQ(h.SessionIndexDeadline("u"), *h.SessionDeadline(ids[9]));
}

TEST_F(SessionIndexTest, MaxSessionsDropsExpiredMembersFromTheIndex) {
  const Session a = Create("u", 10);
  const Session b = Create("u", 1000);
  h.Advance(10);  // a is due but not reclaimed
  const Session c = Create("u", 1000, std::nullopt, 5);
  EXPECT_THAT(h.SessionIndex("u"), ElementsAre(b.id, c.id));
}

TEST_F(SessionIndexTest, ManyUsersManyPathsNothingLeaks) {
  std::vector<std::string> users;
  for (int u = 0; u < 20; ++u) users.push_back("user-" + std::to_string(u));
  for (const std::string& user : users) {
    const Session a = Create(user, 100);
    const Session b = Create(user, 300, 200);
    const Session c = Create(user, 400, std::nullopt, 3);
    ASSERT_TRUE(h.sessions->Rotate(b.id).ok());
    ASSERT_TRUE(h.sessions->Get(a.id, true)->has_value());
    ASSERT_TRUE(*h.sessions->Delete(c.id));
  }
  EXPECT_EQ(h.Keys(Space::kIndex), users.size());
  h.Advance(150);
  h.Reclaim();
  for (const std::string& user : users) EXPECT_EQ(h.SessionIndex(user).size(), 1u) << user;
  h.Advance(50);  // absolute deadline of the rotated b
  h.Reclaim();
  ExpectNothingLeft();
}

}  // namespace
}  // namespace hourglass::domain::testing
