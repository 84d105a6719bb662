// TokenManager behaviour on a fake clock: shapes, purpose binding, uses and tombstones, expiry
// boundaries, numeric codes and attempts, revocation, validation, event keys.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "server/domain/base64url.h"
#include "server/domain/routing.h"
#include "server/domain/token_keys.h"
#include "server/domain/tokens.h"
#include "tests/domain/session_harness.h"

namespace hourglass::domain::testing {
namespace {

using storage::Space;

class TokenTest : public ::testing::Test {
 protected:
  IssuedToken Issue(const NewToken& spec) {
    absl::StatusOr<IssuedToken> issued = h.tokens->Issue(spec);
    EXPECT_TRUE(issued.ok()) << issued.status();
    return issued.ok() ? *issued : IssuedToken{};
  }
  IssuedToken IssueCode(std::string_view purpose, std::string_view subject, int64_t ttl_ms,
                        uint32_t max_attempts = kDefaultMaxAttempts) {
    NewToken spec = MakeToken(purpose, subject, ttl_ms, TokenFormat::kNumeric);
    spec.max_attempts = max_attempts;
    return Issue(spec);
  }
  TokenReason Verify(std::string_view purpose, std::string_view token,
                     std::string_view subject = {}) {
    absl::StatusOr<TokenCheck> check = h.tokens->Verify(Query(purpose, token, subject));
    EXPECT_TRUE(check.ok()) << check.status();
    return check.ok() ? check->reason : TokenReason::kNotFound;
  }
  TokenReason Consume(std::string_view purpose, std::string_view token,
                      std::string_view subject = {}) {
    absl::StatusOr<TokenCheck> check = h.tokens->Consume(Query(purpose, token, subject));
    EXPECT_TRUE(check.ok()) << check.status();
    return check.ok() ? check->reason : TokenReason::kNotFound;
  }
  // The stored record of `key` (nullopt when absent).
  std::optional<TokenRecord> Stored(const TokenKey& key) {
    absl::StatusOr<storage::GetResult> got = h.store->Get(key.ref(), {});
    if (!got.ok() || !got->found) return std::nullopt;
    return DecodeTokenRecord(got->value);
  }

  SessionHarness h;
};

TEST_F(TokenTest, OpaqueTokenShapeAndStorageHoldOnlyAHash) {
  NewToken spec = MakeToken("email-verify", "u42", 86'400'000);
  spec.payload = std::string("p\0q", 3);
  const IssuedToken issued = Issue(spec);
  EXPECT_EQ(issued.token.size(), 47u);
  EXPECT_TRUE(IsBase64Url(issued.token));
  EXPECT_FALSE(IsNumericCode(issued.token));
  EXPECT_EQ(issued.token.substr(43), RoutingTag("u42"));
  EXPECT_EQ(issued.deadline_ms, h.now() + 86'400'000);
  EXPECT_EQ(issued.expire_wall_ms, h.clock.WallMs() + 86'400'000);
  // Not stored under the plaintext; stored under a hash-derived key, without the plaintext.
  EXPECT_FALSE(h.store->Get({Space::kToken, issued.token, issued.token.substr(43)}, {})->found);
  const TokenKey key = OpaqueTokenKey(issued.token);
  EXPECT_EQ(key.key.find(issued.token), std::string::npos);
  absl::StatusOr<storage::GetResult> raw = h.store->Get(key.ref(), {});
  ASSERT_TRUE(raw.ok() && raw->found);
  EXPECT_EQ(raw->value.find(issued.token), std::string::npos);
}

TEST_F(TokenTest, VerifyUsesNothingConsumeUsesOneThenTombstone) {
  NewToken spec = MakeToken("email-verify", "u42", 10'000);
  spec.payload = "payload";
  const IssuedToken issued = Issue(spec);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<TokenCheck> check = h.tokens->Verify(Query("email-verify", issued.token));
    ASSERT_TRUE(check.ok());
    EXPECT_TRUE(check->valid());
    EXPECT_EQ(check->subject, "u42");
    EXPECT_EQ(check->payload, "payload");
    EXPECT_EQ(check->remaining_uses, 1u);
    EXPECT_EQ(check->deadline_ms, issued.deadline_ms);
    EXPECT_EQ(check->expire_wall_ms, issued.expire_wall_ms);
    h.clock.JumpWallMs(1);  // what clients see was fixed at issue
  }
  absl::StatusOr<TokenCheck> used = h.tokens->Consume(Query("email-verify", issued.token));
  ASSERT_TRUE(used.ok());
  EXPECT_TRUE(used->valid());
  EXPECT_EQ(used->remaining_uses, 0u);
  EXPECT_EQ(used->payload, "payload");
  absl::StatusOr<TokenCheck> again = h.tokens->Consume(Query("email-verify", issued.token));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->reason, TokenReason::kUsedUp);
  EXPECT_FALSE(again->valid());
  EXPECT_TRUE(again->subject.empty() && again->payload.empty());
  EXPECT_EQ(Verify("email-verify", issued.token), TokenReason::kUsedUp);
  // The tombstone is small: no payload.
  std::optional<TokenRecord> tombstone = Stored(OpaqueTokenKey(issued.token));
  ASSERT_TRUE(tombstone);
  EXPECT_TRUE(tombstone->payload.empty());
  EXPECT_TRUE(tombstone->spent());
  // USED_UP until the original expiry, then NOT_FOUND.
  h.Advance(9'999);
  EXPECT_EQ(Consume("email-verify", issued.token), TokenReason::kUsedUp);
  h.Advance(1);
  EXPECT_EQ(Consume("email-verify", issued.token), TokenReason::kNotFound);
}

TEST_F(TokenTest, MaxUsesCountsDown) {
  NewToken spec = MakeToken("invite", "", 10'000);
  spec.max_uses = 3;
  const IssuedToken issued = Issue(spec);
  for (uint32_t left = 2;; --left) {
    absl::StatusOr<TokenCheck> check = h.tokens->Consume(Query("invite", issued.token));
    ASSERT_TRUE(check.ok() && check->valid());
    EXPECT_EQ(check->remaining_uses, left);
    if (left == 0) break;
  }
  EXPECT_EQ(Consume("invite", issued.token), TokenReason::kUsedUp);
}

TEST_F(TokenTest, ExpiryJustBeforeAtAndAfter) {
  const IssuedToken issued = Issue(MakeToken("p", "s", 1000));
  h.Advance(999);
  EXPECT_EQ(Verify("p", issued.token), TokenReason::kOk);
  h.Advance(1);
  EXPECT_EQ(Verify("p", issued.token), TokenReason::kNotFound);
  EXPECT_EQ(Consume("p", issued.token), TokenReason::kNotFound);
}

TEST_F(TokenTest, PurposeIsBound) {
  const IssuedToken issued = Issue(MakeToken("email-verify", "u", 1000));
  EXPECT_EQ(Verify("password-reset", issued.token), TokenReason::kPurposeMismatch);
  EXPECT_EQ(Consume("password-reset", issued.token), TokenReason::kPurposeMismatch);
  EXPECT_FALSE(*h.tokens->Revoke(Query("password-reset", issued.token)));
  EXPECT_EQ(Consume("email-verify", issued.token), TokenReason::kOk);  // untouched by the above
  EXPECT_EQ(Consume("password-reset", issued.token), TokenReason::kPurposeMismatch);
}

TEST_F(TokenTest, MalformedTokensAreNotFoundNeverAnError) {
  const IssuedToken issued = Issue(MakeToken("p", "s", 1000));
  const std::string bad_alphabet = issued.token.substr(0, 46) + "!";
  for (const std::string& token :
       {std::string("x"), issued.token.substr(1), issued.token + "A", bad_alphabet,
        std::string(47, '='), std::string(5000, 'A'), std::string("a\0b", 3)}) {
    EXPECT_EQ(Verify("p", token), TokenReason::kNotFound) << token;
    EXPECT_EQ(Consume("p", token), TokenReason::kNotFound) << token;
    EXPECT_FALSE(*h.tokens->Revoke(Query("p", token)));
  }
  EXPECT_EQ(Verify("p", issued.token), TokenReason::kOk);
}

TEST_F(TokenTest, EmptyRequiredFieldsAreInvalid) {
  EXPECT_EQ(h.tokens->Verify(Query("p", "")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.tokens->Consume(Query("", "tok")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.tokens->Revoke(Query("p", "")).status().code(), absl::StatusCode::kInvalidArgument);
  // A code is keyed by purpose + subject: no subject, no code.
  absl::Status no_subject = h.tokens->Verify(Query("p", "123456")).status();
  EXPECT_EQ(no_subject.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_subject.message().find("subject"), std::string_view::npos);
  EXPECT_EQ(h.tokens->RevokeSubject("", "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenTest, IssueValidatesItsInput) {
  auto code = [&](NewToken spec) { return h.tokens->Issue(spec).status().code(); };
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code(MakeToken("", "s", 1000)), invalid);
  EXPECT_EQ(code(MakeToken("p", "s", 0)), invalid);
  EXPECT_EQ(code(MakeToken("p", "", 1000, TokenFormat::kNumeric)), invalid);
  NewToken spec = MakeToken("p", "s", 1000);
  spec.max_uses = 0;
  EXPECT_EQ(code(spec), invalid);
  spec = MakeToken("p", "s", 1000, TokenFormat::kNumeric);
  spec.digits = 3;
  EXPECT_EQ(code(spec), invalid);
  spec.digits = 11;
  EXPECT_EQ(code(spec), invalid);
  spec.digits = 6;
  spec.max_attempts = 0;
  EXPECT_EQ(code(spec), invalid);
}

TEST_F(TokenTest, NumericCodesHaveTheirDigits) {
  for (int digits : {4, 6, 10}) {
    NewToken spec = MakeToken("otp", "u" + std::to_string(digits), 1000, TokenFormat::kNumeric);
    spec.digits = digits;
    const IssuedToken issued = Issue(spec);
    EXPECT_EQ(issued.token.size(), static_cast<size_t>(digits));
    EXPECT_TRUE(IsNumericCode(issued.token));
    EXPECT_EQ(Verify("otp", issued.token, spec.subject), TokenReason::kOk);
  }
  EXPECT_EQ(Issue(MakeToken("otp", "d", 1000, TokenFormat::kNumeric)).token.size(), 6u);
}

TEST_F(TokenTest, NumericCodeIsKeyedByPurposeAndSubject) {
  const IssuedToken issued = IssueCode("login-otp", "u42", 1000);
  EXPECT_EQ(Verify("login-otp", issued.token, "u43"), TokenReason::kNotFound);
  EXPECT_EQ(Verify("other", issued.token, "u42"), TokenReason::kNotFound);
  absl::StatusOr<TokenCheck> check = h.tokens->Consume(Query("login-otp", issued.token, "u42"));
  ASSERT_TRUE(check.ok() && check->valid());
  EXPECT_EQ(check->subject, "u42");
  EXPECT_EQ(check->remaining_uses, 0u);
  EXPECT_EQ(Consume("login-otp", issued.token, "u42"), TokenReason::kUsedUp);
  EXPECT_EQ(Consume("login-otp", "000000", "u42"), TokenReason::kUsedUp);
}

// A wrong code (of any shape) for the slot.
std::string WrongCode(const std::string& code) {
  std::string wrong = code;
  wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
  return wrong;
}

TEST_F(TokenTest, WrongCodesCountOnVerifyAndConsumeUntilTheCodeIsDead) {
  const IssuedToken issued = IssueCode("otp", "u", 10'000, /*max_attempts=*/3);
  const std::string wrong = WrongCode(issued.token);
  EXPECT_EQ(Verify("otp", wrong, "u"), TokenReason::kWrongCode);   // 1
  EXPECT_EQ(Consume("otp", wrong, "u"), TokenReason::kWrongCode);  // 2
  EXPECT_EQ(Verify("otp", issued.token, "u"), TokenReason::kOk);   // right code: still alive
  EXPECT_EQ(Verify("otp", "12", "u"), TokenReason::kWrongCode);    // 3: wrong length counts
  // Dead, even for the right code, until it expires.
  EXPECT_EQ(Verify("otp", issued.token, "u"), TokenReason::kTooManyAttempts);
  EXPECT_EQ(Consume("otp", issued.token, "u"), TokenReason::kTooManyAttempts);
  EXPECT_EQ(Consume("otp", wrong, "u"), TokenReason::kTooManyAttempts);
  EXPECT_FALSE(*h.tokens->Revoke(Query("otp", issued.token, "u")));
  std::optional<TokenRecord> stored = Stored(NumericTokenKey("otp", "u"));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->attempts, 3u);
  h.Advance(10'000);
  EXPECT_EQ(Verify("otp", issued.token, "u"), TokenReason::kNotFound);
}

TEST_F(TokenTest, DefaultMaxAttemptsIsFive) {
  const IssuedToken issued = IssueCode("otp", "u", 10'000);
  const std::string wrong = WrongCode(issued.token);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Verify("otp", wrong, "u"), TokenReason::kWrongCode);
  EXPECT_EQ(Verify("otp", issued.token, "u"), TokenReason::kOk);
  EXPECT_EQ(Verify("otp", wrong, "u"), TokenReason::kWrongCode);
  EXPECT_EQ(Verify("otp", issued.token, "u"), TokenReason::kTooManyAttempts);
}

TEST_F(TokenTest, ANewCodeReplacesTheOldAndResetsAttempts) {
  const IssuedToken first = IssueCode("otp", "u", 10'000, 2);
  EXPECT_EQ(Verify("otp", WrongCode(first.token), "u"), TokenReason::kWrongCode);
  const IssuedToken second = IssueCode("otp", "u", 10'000, 2);
  if (first.token != second.token) {
    EXPECT_EQ(Verify("otp", first.token, "u"), TokenReason::kWrongCode);
  }
  EXPECT_EQ(Consume("otp", second.token, "u"), TokenReason::kOk);
  EXPECT_EQ(h.TokenIndex("u").size(), 1u);
}

TEST_F(TokenTest, NumericRecordKeepsOnlyASaltedHash) {
  const IssuedToken issued = IssueCode("otp", "u", 1000);
  std::optional<TokenRecord> stored = Stored(NumericTokenKey("otp", "u"));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->code_hash.size(), 32u);
  EXPECT_EQ(stored->code_hash, NumericCodeHash(NumericTokenKey("otp", "u"), issued.token));
  EXPECT_NE(stored->code_hash, NumericCodeHash(NumericTokenKey("otp", "v"), issued.token));
}

TEST_F(TokenTest, RevokeOneToken) {
  const IssuedToken issued = Issue(MakeToken("p", "u", 1000));
  EXPECT_TRUE(*h.tokens->Revoke(Query("p", issued.token)));
  EXPECT_EQ(Verify("p", issued.token), TokenReason::kNotFound);  // no tombstone
  EXPECT_FALSE(*h.tokens->Revoke(Query("p", issued.token)));
  // A spent token is not live: revoking it changes nothing, it stays USED_UP.
  const IssuedToken spent = Issue(MakeToken("p", "u", 1000));
  ASSERT_EQ(Consume("p", spent.token), TokenReason::kOk);
  EXPECT_FALSE(*h.tokens->Revoke(Query("p", spent.token)));
  EXPECT_EQ(Verify("p", spent.token), TokenReason::kUsedUp);
  // Without a subject too.
  const IssuedToken anonymous = Issue(MakeToken("p", "", 1000));
  EXPECT_TRUE(*h.tokens->Revoke(Query("p", anonymous.token)));
  EXPECT_EQ(Verify("p", anonymous.token), TokenReason::kNotFound);
}

TEST_F(TokenTest, RevokeACodeNeedsTheCodeAndAWrongOneCounts) {
  const IssuedToken issued = IssueCode("otp", "u", 1000, 2);
  EXPECT_FALSE(*h.tokens->Revoke(Query("otp", WrongCode(issued.token), "u")));
  EXPECT_EQ(Stored(NumericTokenKey("otp", "u"))->attempts, 1u);
  EXPECT_TRUE(*h.tokens->Revoke(Query("otp", issued.token, "u")));
  EXPECT_EQ(Verify("otp", issued.token, "u"), TokenReason::kNotFound);
  EXPECT_TRUE(h.TokenIndex("u").empty());
}

TEST_F(TokenTest, RevokeSubjectTokensByPurposeAndAll) {
  const IssuedToken a = Issue(MakeToken("email-verify", "u", 1000));
  const IssuedToken b = Issue(MakeToken("password-reset", "u", 1000));
  const IssuedToken c = Issue(MakeToken("password-reset", "u", 1000));
  const IssuedToken code = IssueCode("password-reset", "u", 1000);
  const IssuedToken spent = Issue(MakeToken("password-reset", "u", 1000));
  ASSERT_EQ(Consume("password-reset", spent.token), TokenReason::kOk);
  const IssuedToken other = Issue(MakeToken("password-reset", "v", 1000));

  EXPECT_EQ(*h.tokens->RevokeSubject("u", "password-reset"), 3);  // b, c, code
  EXPECT_EQ(Verify("password-reset", b.token), TokenReason::kNotFound);
  EXPECT_EQ(Verify("password-reset", c.token), TokenReason::kNotFound);
  EXPECT_EQ(Verify("password-reset", code.token, "u"), TokenReason::kNotFound);
  EXPECT_EQ(Verify("password-reset", spent.token), TokenReason::kUsedUp);  // tombstone stays
  EXPECT_EQ(Verify("email-verify", a.token), TokenReason::kOk);
  EXPECT_EQ(Verify("password-reset", other.token), TokenReason::kOk);
  EXPECT_EQ(h.TokenIndex("u").size(), 2u);  // a and the tombstone

  EXPECT_EQ(*h.tokens->RevokeSubject("u", ""), 1);
  EXPECT_EQ(Verify("email-verify", a.token), TokenReason::kNotFound);
  EXPECT_EQ(*h.tokens->RevokeSubject("u", ""), 0);
  EXPECT_EQ(*h.tokens->RevokeSubject("nobody", ""), 0);
  EXPECT_EQ(h.TokenIndex("u").size(), 1u);  // the tombstone, until it expires
  h.Advance(1000);
  h.Reclaim();
  EXPECT_TRUE(h.TokenIndex("u").empty());
}

TEST_F(TokenTest, SubjectIndexNeverLeaks) {
  const IssuedToken a = Issue(MakeToken("p", "u", 100));
  const IssuedToken b = Issue(MakeToken("p", "u", 300));
  const IssuedToken code = IssueCode("q", "u", 200);
  Issue(MakeToken("p", "", 100));  // no subject: no index
  EXPECT_EQ(h.TokenIndex("u").size(), 3u);
  EXPECT_EQ(h.TokenIndexDeadline("u"), b.deadline_ms);
  EXPECT_EQ(h.Keys(Space::kIndex), 1u);
  h.Advance(100);
  h.Reclaim();  // a expires
  EXPECT_EQ(h.TokenIndex("u").size(), 2u);
  ASSERT_EQ(Consume("p", b.token), TokenReason::kOk);  // tombstone stays listed
  EXPECT_EQ(h.TokenIndex("u").size(), 2u);
  ASSERT_TRUE(h.EvictToken(NumericTokenKey("q", "u").key));  // eviction through the hook
  EXPECT_EQ(h.TokenIndex("u"), std::vector<std::string>{OpaqueTokenKey(b.token).key});
  EXPECT_EQ(Verify("q", code.token, "u"), TokenReason::kNotFound);
  h.Advance(200);
  h.Reclaim();
  EXPECT_TRUE(h.TokenIndex("u").empty());
  EXPECT_EQ(h.Keys(Space::kIndex), 0u);
  EXPECT_EQ(h.Keys(Space::kToken), 0u);
}

TEST_F(TokenTest, EventKeysArePurposeAndSubjectOnly) {
  const IssuedToken a = Issue(MakeToken("email-verify", "u42", 10));
  const IssuedToken b = IssueCode("login-otp", "u42", 10);
  const IssuedToken c = Issue(MakeToken("p", "u42", 1000));
  ASSERT_TRUE(*h.tokens->Revoke(Query("p", c.token)));
  h.Advance(10);
  h.Reclaim();
  std::multiset<std::string> shown;
  for (const RecordedEvent& event : h.events()) {
    if (event.space != Space::kToken) continue;
    ASSERT_TRUE(event.shown.has_value());
    EXPECT_EQ(event.shown->find(a.token), std::string::npos);
    EXPECT_EQ(event.shown->find(b.token), std::string::npos);
    EXPECT_EQ(event.shown->find(c.token), std::string::npos);
    shown.insert(*event.shown);
  }
  EXPECT_EQ(shown, (std::multiset<std::string>{"email-verify:u42", "login-otp:u42", "p:u42"}));
  EXPECT_FALSE(TokenEventKey("k", "garbage").has_value());
}

}  // namespace
}  // namespace hourglass::domain::testing
