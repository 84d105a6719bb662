// Session and token owner indexes under the engine's real eviction (allkeys-lru, a small cap),
// not a replayed hook: whether a member is evicted by a write over the cap or by the reclaimer
// after a shrink, its removal hook unlists it in the same step, so each index lists exactly the
// live members, and the EVICTED events carry only the non-secret keys.

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "server/domain/sessions.h"
#include "server/domain/token_keys.h"
#include "server/domain/tokens.h"
#include "tests/domain/session_harness.h"

namespace hourglass::domain::testing {
namespace {

using storage::EventKind;
using storage::Space;

constexpr uint64_t kSmallCap = 256u << 10;

class IndexEvictionTest : public ::testing::Test {
 protected:
  IndexEvictionTest() { h.store->SetEvictionPolicy(storage::EvictionPolicy::kAllKeysLru); }

  // Creates `per_user` sessions for each of `users` (round robin), ~700 bytes each.
  std::vector<std::vector<std::string>> CreateSessions(const std::vector<std::string>& users,
                                                       int per_user) {
    std::vector<std::vector<std::string>> ids(users.size());
    for (int i = 0; i < per_user; ++i) {
      for (size_t u = 0; u < users.size(); ++u) {
        NewSession spec = MakeSession(users[u], 3'600'000);
        spec.data["pad"] = std::string(600, 'p');
        absl::StatusOr<Session> session = h.sessions->Create(std::move(spec));
        EXPECT_TRUE(session.ok()) << session.status();
        if (session.ok()) ids[u].push_back(session->id);
      }
    }
    return ids;
  }

  // For each user: the sessions Get still finds are exactly those the index holds and those
  // List returns (a user with none has no index). Returns the number of live sessions.
  uint64_t ExpectIndexesListExactlyTheLive(const std::vector<std::string>& users,
                                           const std::vector<std::vector<std::string>>& ids) {
    uint64_t live_total = 0;
    uint64_t users_with_sessions = 0;
    for (size_t u = 0; u < users.size(); ++u) {
      std::set<std::string> live;
      for (const std::string& id : ids[u]) {
        absl::StatusOr<std::optional<Session>> got = h.sessions->Get(id, false);
        EXPECT_TRUE(got.ok()) << got.status();
        if (got.ok() && got->has_value()) live.insert(id);
      }
      users_with_sessions += live.empty() ? 0 : 1;
      const std::vector<std::string> index = h.SessionIndex(users[u]);
      EXPECT_EQ(std::set<std::string>(index.begin(), index.end()), live) << users[u];
      EXPECT_EQ(index.size(), live.size()) << users[u] << ": a member listed twice";
      absl::StatusOr<std::vector<Session>> listed = h.sessions->List(users[u]);
      EXPECT_TRUE(listed.ok()) << listed.status();
      std::set<std::string> listed_ids;
      if (listed.ok()) {
        for (const Session& s : *listed) listed_ids.insert(s.id);
      }
      EXPECT_EQ(listed_ids, live) << users[u];
      live_total += live.size();
    }
    EXPECT_GT(live_total, 0u);
    EXPECT_EQ(h.Keys(Space::kSession), live_total);
    // Indexes are never evicted, and one whose last member left is gone.
    EXPECT_EQ(h.Keys(Space::kIndex), users_with_sessions);
    return live_total;
  }

  // EVICTED events of `space`: how many, each shown key starting with one of `owners` + ":"
  // (sessions: "user:<hash>"; tokens: "purpose:subject").
  uint64_t EvictedEvents(Space space, const std::vector<std::string>& prefixes) {
    uint64_t n = 0;
    for (const RecordedEvent& e : h.events()) {
      if (e.kind != EventKind::kEvicted) continue;
      EXPECT_EQ(e.space, space);
      ++n;
      EXPECT_TRUE(e.shown.has_value());
      bool matched = false;
      for (const std::string& prefix : prefixes) {
        matched = matched || (e.shown && e.shown->rfind(prefix, 0) == 0);
      }
      EXPECT_TRUE(matched) << e.shown.value_or("(hidden)");
    }
    return n;
  }

  SessionHarness h;
};

TEST_F(IndexEvictionTest, SessionsEvictedByWritesOverTheCapLeaveTheirIndexes) {
  h.store->SetMaxMemory(kSmallCap);
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  const auto ids = CreateSessions(users, 300);  // ~630 KiB into 256 KiB
  const storage::StoreStats stats = h.store->GetStats();
  EXPECT_LE(stats.used_bytes, kSmallCap);
  EXPECT_EQ(stats.rejected_writes, 0u);
  ASSERT_GT(stats.evicted, 0u);
  const uint64_t live = ExpectIndexesListExactlyTheLive(users, ids);
  EXPECT_EQ(live + stats.evicted, 900u);
  EXPECT_EQ(EvictedEvents(Space::kSession, {"alice:", "bob:", "carol:"}), stats.evicted);
}

TEST_F(IndexEvictionTest, SessionsEvictedByTheReclaimerAfterAShrinkLeaveTheirIndexes) {
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  const auto ids = CreateSessions(users, 300);
  const uint64_t full = h.store->GetStats().used_bytes;
  ASSERT_EQ(h.store->GetStats().evicted, 0u);
  h.store->SetMaxMemory(full / 3);
  // Each reclaimer step evicts a bounded number per shard: a few steps reach the cap.
  for (int step = 0; step < 100 && h.store->GetStats().used_bytes > full / 3; ++step) {
    h.store->RunReclaimStep();
  }
  const storage::StoreStats stats = h.store->GetStats();
  EXPECT_LE(stats.used_bytes, full / 3);
  ASSERT_GT(stats.evicted, 0u);
  const uint64_t live = ExpectIndexesListExactlyTheLive(users, ids);
  EXPECT_EQ(live + stats.evicted, 900u);
  EXPECT_EQ(EvictedEvents(Space::kSession, {"alice:", "bob:", "carol:"}), stats.evicted);
  // The survivors still work: deleting them all leaves nothing behind.
  for (const std::string& user : users) ASSERT_TRUE(h.sessions->DeleteAll(user, "").ok());
  EXPECT_EQ(h.Keys(Space::kSession), 0u);
  EXPECT_EQ(h.Keys(Space::kIndex), 0u);
}

TEST_F(IndexEvictionTest, TokensEvictedLeaveTheirIndexesAndRevokeCountsOnlyTheLive) {
  h.store->SetMaxMemory(kSmallCap);
  const std::vector<std::string> subjects = {"s1", "s2", "s3"};
  std::vector<std::vector<std::string>> tokens(subjects.size());
  for (int i = 0; i < 300; ++i) {
    for (size_t s = 0; s < subjects.size(); ++s) {
      NewToken spec = MakeToken("email-verify", subjects[s], 3'600'000);
      spec.payload = std::string(600, 'p');
      absl::StatusOr<IssuedToken> issued = h.tokens->Issue(spec);
      ASSERT_TRUE(issued.ok()) << issued.status();
      tokens[s].push_back(issued->token);
    }
  }
  const storage::StoreStats stats = h.store->GetStats();
  EXPECT_LE(stats.used_bytes, kSmallCap);
  ASSERT_GT(stats.evicted, 0u);
  EXPECT_EQ(EvictedEvents(Space::kToken, {"email-verify:s"}), stats.evicted);

  uint64_t live_total = 0;
  for (size_t s = 0; s < subjects.size(); ++s) {
    std::set<std::string> live_keys;
    for (const std::string& token : tokens[s]) {
      absl::StatusOr<TokenCheck> check = h.tokens->Verify(Query("email-verify", token));
      ASSERT_TRUE(check.ok()) << check.status();
      if (check->valid()) live_keys.insert(OpaqueTokenKey(token).key);
    }
    EXPECT_GT(live_keys.size(), 0u) << subjects[s];
    EXPECT_LT(live_keys.size(), tokens[s].size()) << subjects[s];
    const std::vector<std::string> index = h.TokenIndex(subjects[s]);
    EXPECT_EQ(std::set<std::string>(index.begin(), index.end()), live_keys) << subjects[s];
    EXPECT_EQ(index.size(), live_keys.size()) << subjects[s] << ": a member listed twice";
    EXPECT_EQ(*h.tokens->RevokeSubject(subjects[s], ""), static_cast<int64_t>(live_keys.size()));
    EXPECT_TRUE(h.TokenIndex(subjects[s]).empty());
    live_total += live_keys.size();
  }
  EXPECT_EQ(live_total + stats.evicted, 900u);
  EXPECT_EQ(h.Keys(Space::kToken), 0u);
  EXPECT_EQ(h.Keys(Space::kIndex), 0u);
}

}  // namespace
}  // namespace hourglass::domain::testing
