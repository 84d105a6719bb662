// Concurrency of TokenManager: exactly-once consumption and exact attempt counting under
// racing threads (bounded; also run under TSan).

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "server/domain/tokens.h"
#include "tests/domain/session_harness.h"

namespace hourglass::domain::testing {
namespace {

constexpr int kThreads = 8;

template <typename Fn>
void RunThreads(int n, Fn fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back([&fn, t] { fn(t); });
  for (std::thread& thread : threads) thread.join();
}

TEST(TokenStressTest, EachSingleUseTokenIsConsumedExactlyOnce) {
  SessionHarness h(/*shards=*/4);
  constexpr int kTokens = 200;
  std::vector<std::string> tokens;
  for (int i = 0; i < kTokens; ++i) {
    // Half share one subject (one index, one shard), half are spread.
    const std::string subject = i % 2 == 0 ? "shared" : "s" + std::to_string(i);
    tokens.push_back(h.tokens->Issue(MakeToken("email-verify", subject, 60'000)).value().token);
  }
  std::vector<std::atomic<int>> wins(kTokens);
  std::atomic<int> used_up{0};
  RunThreads(kThreads, [&](int t) {
    for (int k = 0; k < kTokens; ++k) {
      const int i = (k + t * 37) % kTokens;  // threads meet on every token in different orders
      absl::StatusOr<TokenCheck> check = h.tokens->Consume(Query("email-verify", tokens[i]));
      ASSERT_TRUE(check.ok());
      if (check->valid()) {
        wins[i].fetch_add(1);
      } else {
        ASSERT_EQ(check->reason, TokenReason::kUsedUp);
        used_up.fetch_add(1);
      }
    }
  });
  for (int i = 0; i < kTokens; ++i) ASSERT_EQ(wins[i].load(), 1) << i;
  EXPECT_EQ(used_up.load(), kTokens * (kThreads - 1));
}

TEST(TokenStressTest, MultiUseTokensGiveExactlyMaxUses) {
  SessionHarness h(/*shards=*/4);
  constexpr uint32_t kUses = 5;
  constexpr int kTokens = 20;
  constexpr int kTriesPerThread = 4;  // 8 x 4 = 32 tries per token for 5 uses
  std::vector<std::string> tokens;
  for (int i = 0; i < kTokens; ++i) {
    NewToken spec = MakeToken("invite", "team", 60'000);
    spec.max_uses = kUses;
    tokens.push_back(h.tokens->Issue(spec).value().token);
  }
  std::vector<std::atomic<int>> wins(kTokens);
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < kTokens; ++i) {
      for (int k = 0; k < kTriesPerThread; ++k) {
        if (h.tokens->Consume(Query("invite", tokens[i])).value().valid()) wins[i].fetch_add(1);
      }
    }
  });
  for (int i = 0; i < kTokens; ++i) ASSERT_EQ(wins[i].load(), static_cast<int>(kUses)) << i;
}

TEST(TokenStressTest, RacingWrongGuessesAreCountedExactly) {
  SessionHarness h(/*shards=*/4);
  constexpr uint32_t kMaxAttempts = 5;
  constexpr int kCodes = 20;
  std::vector<std::string> wrong;
  for (int i = 0; i < kCodes; ++i) {
    NewToken spec = MakeToken("otp", "u" + std::to_string(i), 60'000, TokenFormat::kNumeric);
    spec.max_attempts = kMaxAttempts;
    std::string code = h.tokens->Issue(spec).value().token;
    code[0] = code[0] == '9' ? '0' : static_cast<char>(code[0] + 1);
    wrong.push_back(code);
  }
  std::vector<std::atomic<int>> wrong_answers(kCodes);
  std::vector<std::atomic<int>> dead_answers(kCodes);
  RunThreads(kThreads, [&](int t) {
    for (int i = 0; i < kCodes; ++i) {
      const std::string subject = "u" + std::to_string(i);
      const TokenQuery query = Query("otp", wrong[i], subject);
      const TokenReason reason =
          (t % 2 == 0 ? h.tokens->Verify(query) : h.tokens->Consume(query)).value().reason;
      if (reason == TokenReason::kWrongCode) wrong_answers[i].fetch_add(1);
      if (reason == TokenReason::kTooManyAttempts) dead_answers[i].fetch_add(1);
    }
  });
  for (int i = 0; i < kCodes; ++i) {
    ASSERT_EQ(wrong_answers[i].load(), static_cast<int>(kMaxAttempts)) << i;
    ASSERT_EQ(dead_answers[i].load(), kThreads - static_cast<int>(kMaxAttempts)) << i;
  }
}

TEST(TokenStressTest, IssueConsumeAndRevokeSubjectRaceWithoutLeaks) {
  SessionHarness h(/*shards=*/4);
  constexpr int kOps = 150;
  std::atomic<int64_t> issued{0};
  std::atomic<int64_t> consumed{0};
  std::atomic<int64_t> revoked{0};
  RunThreads(4, [&](int t) {
    for (int i = 0; i < kOps; ++i) {
      if (t == 3) {
        if (i % 10 == 0) revoked.fetch_add(h.tokens->RevokeSubject("u", "").value());
        continue;
      }
      const std::string token = h.tokens->Issue(MakeToken("p", "u", 60'000)).value().token;
      issued.fetch_add(1);
      if (i % 2 == 0 && h.tokens->Consume(Query("p", token)).value().valid()) {
        consumed.fetch_add(1);
      }
    }
  });
  // Everything issued was consumed (a tombstone), revoked, or is still live.
  const int64_t live = h.tokens->RevokeSubject("u", "").value();
  EXPECT_EQ(issued.load(), consumed.load() + revoked.load() + live);
  EXPECT_EQ(static_cast<int64_t>(h.TokenIndex("u").size()), consumed.load());  // tombstones
  EXPECT_EQ(static_cast<int64_t>(h.Keys(storage::Space::kToken)), consumed.load());
}

}  // namespace
}  // namespace hourglass::domain::testing
