// Concurrency of SessionManager: bounded stress with exact totals (also run under TSan).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "server/domain/sessions.h"
#include "tests/domain/session_harness.h"

namespace hourglass::domain::testing {
namespace {

using storage::Space;

constexpr int kThreads = 4;

template <typename Fn>
void RunThreads(int n, Fn fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back([&fn, t] { fn(t); });
  for (std::thread& thread : threads) thread.join();
}

TEST(SessionStressTest, ConcurrentUpdatesAndTouchesLoseNothing) {
  SessionHarness h(/*shards=*/4);
  const Session s = *h.sessions->Create(MakeSession("u", 60'000));
  constexpr int kUpdates = 200;
  std::atomic<int> touches{0};
  RunThreads(kThreads + 1, [&](int t) {
    if (t == kThreads) {  // a toucher racing the writers
      for (int i = 0; i < kUpdates; ++i) {
        if (h.sessions->Get(s.id, true).value().has_value()) touches.fetch_add(1);
      }
      return;
    }
    for (int i = 0; i < kUpdates; ++i) {
      SessionChange change;
      change.set = {{"t" + std::to_string(t) + "-" + std::to_string(i), "v"}};
      if (i % 10 == 0) change.idle_timeout_ms = 60'000 + i;
      ASSERT_TRUE(h.sessions->Update(s.id, change).ok());
    }
  });
  EXPECT_EQ(touches.load(), kUpdates);
  const Session after = h.sessions->Get(s.id, false).value().value();
  EXPECT_EQ(after.data.size(), static_cast<size_t>(kThreads * kUpdates));
  EXPECT_GE(*h.SessionIndexDeadline("u"), after.expire_deadline_ms);
}

TEST(SessionStressTest, ConcurrentCreatesRespectTheCapExactly) {
  SessionHarness h(/*shards=*/4);
  constexpr uint32_t kCap = 5;
  constexpr int kCreates = 50;
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < kCreates; ++i) {
      ASSERT_TRUE(h.sessions->Create(MakeSession("u", 60'000, std::nullopt, kCap)).ok());
    }
  });
  EXPECT_EQ(h.Keys(Space::kSession), kCap);
  EXPECT_EQ(h.SessionIndex("u").size(), kCap);
  EXPECT_EQ(h.sessions->List("u")->size(), kCap);
}

TEST(SessionStressTest, ConcurrentRotationsOfOneIdHaveOneWinner) {
  SessionHarness h(/*shards=*/4);
  constexpr int kRounds = 50;
  for (int round = 0; round < kRounds; ++round) {
    const Session s = *h.sessions->Create(MakeSession("u", 60'000));
    std::atomic<int> winners{0};
    std::atomic<int> not_found{0};
    RunThreads(kThreads, [&](int) {
      absl::StatusOr<Session> rotated = h.sessions->Rotate(s.id);
      if (rotated.ok()) {
        winners.fetch_add(1);
      } else if (rotated.status().code() == absl::StatusCode::kNotFound) {
        not_found.fetch_add(1);
      }
    });
    ASSERT_EQ(winners.load(), 1);
    ASSERT_EQ(not_found.load(), kThreads - 1);
    ASSERT_EQ(h.SessionIndex("u").size(), 1u);
    ASSERT_EQ(*h.sessions->DeleteAll("u", ""), 1);
  }
  EXPECT_EQ(h.Keys(Space::kSession), 0u);
  EXPECT_EQ(h.Keys(Space::kIndex), 0u);
}

TEST(SessionStressTest, CreatesDeletesAndListsRaceWithoutLeaks) {
  SessionHarness h(/*shards=*/4);
  constexpr int kOps = 150;
  std::atomic<int64_t> created{0};
  std::atomic<int64_t> deleted{0};
  RunThreads(kThreads, [&](int t) {
    for (int i = 0; i < kOps; ++i) {
      switch ((t + i) % 3) {
        case 0:
        case 1:
          ASSERT_TRUE(h.sessions->Create(MakeSession("u", 60'000)).ok());
          created.fetch_add(1);
          break;
        default: {
          absl::StatusOr<std::vector<Session>> list = h.sessions->List("u");
          ASSERT_TRUE(list.ok());
          if (!list->empty() && h.sessions->Delete(list->back().id).value()) deleted.fetch_add(1);
        }
      }
    }
  });
  const int64_t left = created.load() - deleted.load();
  EXPECT_EQ(static_cast<int64_t>(h.SessionIndex("u").size()), left);
  EXPECT_EQ(static_cast<int64_t>(h.Keys(Space::kSession)), left);
  EXPECT_EQ(*h.sessions->DeleteAll("u", ""), left);
  EXPECT_EQ(h.Keys(Space::kIndex), 0u);
}

}  // namespace
}  // namespace hourglass::domain::testing
