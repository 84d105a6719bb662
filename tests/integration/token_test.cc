// TokenService over real gRPC against the real server: every RPC, every error status, numeric
// codes and attempts, malformed tokens, the WatchEvents key of a token (purpose + subject), and
// 10 000 racing consumes over 1 000 single-use tokens with zero double uses.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hourglass/v1/admin.grpc.pb.h"
#include "hourglass/v1/token.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
using Stub = v1::TokenService::Stub;
using std::chrono::milliseconds;

google::protobuf::Duration Ms(int64_t ms) {
  google::protobuf::Duration d;
  d.set_seconds(ms / 1000);
  d.set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
  return d;
}

int64_t ToMs(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1'000'000;
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

server::ServerConfig SmallLimits() {
  server::ServerConfig config = TestConfig();
  config.limits.max_key_bytes = 64;
  config.limits.max_value_bytes = 1024;
  config.limits.max_ttl_ms = 3'600'000;
  return config;
}

template <typename Request, typename Response>
grpc::Status Call(Stub& stub,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  const Request& request, Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return (stub.*method)(&context, request, response);
}

v1::IssueTokenRequest IssueRequest(const std::string& purpose, const std::string& subject,
                                   int64_t ttl_ms) {
  v1::IssueTokenRequest request;
  request.set_purpose(purpose);
  request.set_subject(subject);
  *request.mutable_ttl() = Ms(ttl_ms);
  return request;
}

class TokenServiceTest : public ::testing::Test {
 protected:
  TokenServiceTest()
      : server_(SmallLimits()), stub_(v1::TokenService::NewStub(server_.channel())) {}

  template <typename Request, typename Response>
  Response Ok(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
              const Request& request) {
    Response response;
    grpc::Status status = Call(*stub_, method, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    return response;
  }
  template <typename Request, typename Response>
  void Fails(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
             const Request& request, const std::string& part) {
    Response response;
    grpc::Status status = Call(*stub_, method, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_NE(status.error_message().find(part), std::string::npos) << status.error_message();
  }

  v1::IssueTokenResponse Issue(const v1::IssueTokenRequest& request) {
    return Ok(&Stub::IssueToken, request);
  }
  v1::VerifyTokenResponse Verify(const std::string& purpose, const std::string& token,
                                 const std::string& subject = "") {
    v1::VerifyTokenRequest request;
    request.set_purpose(purpose);
    request.set_token(token);
    request.set_subject(subject);
    return Ok(&Stub::VerifyToken, request);
  }
  v1::ConsumeTokenResponse Consume(const std::string& purpose, const std::string& token,
                                   const std::string& subject = "") {
    v1::ConsumeTokenRequest request;
    request.set_purpose(purpose);
    request.set_token(token);
    request.set_subject(subject);
    return Ok(&Stub::ConsumeToken, request);
  }

  TestServer server_;
  std::unique_ptr<Stub> stub_;
};

TEST_F(TokenServiceTest, IssueVerifyConsumeOnceThenUsedUp) {
  v1::IssueTokenRequest request = IssueRequest("email-verify", "u42", 60'000);
  request.set_payload(std::string("\0{}", 3));
  const int64_t before = WallNowMs();
  const v1::IssueTokenResponse issued = Issue(request);
  EXPECT_EQ(issued.token().size(), 47u);
  EXPECT_GE(ToMs(issued.expire_time()), before + 60'000);
  EXPECT_LE(ToMs(issued.expire_time()), WallNowMs() + 60'000);

  const v1::VerifyTokenResponse verified = Verify("email-verify", issued.token());
  EXPECT_TRUE(verified.valid());
  EXPECT_EQ(verified.reason(), v1::TOKEN_REASON_OK);
  EXPECT_EQ(verified.subject(), "u42");
  EXPECT_EQ(verified.payload(), std::string("\0{}", 3));
  EXPECT_EQ(verified.remaining_uses(), 1u);
  EXPECT_EQ(ToMs(verified.expire_time()), ToMs(issued.expire_time()));

  const v1::ConsumeTokenResponse consumed = Consume("email-verify", issued.token());
  EXPECT_TRUE(consumed.valid());
  EXPECT_EQ(consumed.remaining_uses(), 0u);
  const v1::ConsumeTokenResponse again = Consume("email-verify", issued.token());
  EXPECT_FALSE(again.valid());
  EXPECT_EQ(again.reason(), v1::TOKEN_REASON_USED_UP);
  EXPECT_TRUE(again.subject().empty());
  EXPECT_FALSE(again.has_expire_time());
  EXPECT_EQ(Verify("email-verify", issued.token()).reason(), v1::TOKEN_REASON_USED_UP);
}

TEST_F(TokenServiceTest, TombstoneLastsUntilTheOriginalExpiry) {
  const v1::IssueTokenResponse issued = Issue(IssueRequest("p", "", 400));
  EXPECT_TRUE(Consume("p", issued.token()).valid());
  EXPECT_EQ(Consume("p", issued.token()).reason(), v1::TOKEN_REASON_USED_UP);
  std::this_thread::sleep_for(milliseconds(450));
  EXPECT_EQ(Consume("p", issued.token()).reason(), v1::TOKEN_REASON_NOT_FOUND);
}

TEST_F(TokenServiceTest, PurposeMismatchAndMalformedTokens) {
  const v1::IssueTokenResponse issued = Issue(IssueRequest("email-verify", "u", 60'000));
  EXPECT_EQ(Consume("password-reset", issued.token()).reason(), v1::TOKEN_REASON_PURPOSE_MISMATCH);
  for (const std::string& token : {std::string("x"), issued.token().substr(1), issued.token() + "A",
                                   issued.token().substr(0, 46) + "*", std::string(1000, 'Q')}) {
    const v1::VerifyTokenResponse response = Verify("email-verify", token);
    EXPECT_FALSE(response.valid());
    EXPECT_EQ(response.reason(), v1::TOKEN_REASON_NOT_FOUND) << token;
  }
  EXPECT_TRUE(Consume("email-verify", issued.token()).valid());
}

TEST_F(TokenServiceTest, NumericCodesCountAttempts) {
  v1::IssueTokenRequest request = IssueRequest("login-otp", "u42", 60'000);
  request.set_format(v1::TOKEN_FORMAT_NUMERIC);
  request.set_digits(8);
  request.set_max_attempts(2);
  const v1::IssueTokenResponse issued = Issue(request);
  ASSERT_EQ(issued.token().size(), 8u);
  std::string wrong = issued.token();
  wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
  EXPECT_EQ(Verify("login-otp", wrong, "u42").reason(), v1::TOKEN_REASON_WRONG_CODE);
  EXPECT_EQ(Verify("login-otp", issued.token(), "u43").reason(), v1::TOKEN_REASON_NOT_FOUND);
  EXPECT_TRUE(Verify("login-otp", issued.token(), "u42").valid());
  EXPECT_EQ(Consume("login-otp", wrong, "u42").reason(), v1::TOKEN_REASON_WRONG_CODE);
  EXPECT_EQ(Consume("login-otp", issued.token(), "u42").reason(),
            v1::TOKEN_REASON_TOO_MANY_ATTEMPTS);

  // A new code replaces the old one, with fresh attempts.
  const v1::IssueTokenResponse fresh = Issue(request);
  const v1::ConsumeTokenResponse used = Consume("login-otp", fresh.token(), "u42");
  EXPECT_TRUE(used.valid());
  EXPECT_EQ(used.subject(), "u42");
  EXPECT_EQ(Consume("login-otp", fresh.token(), "u42").reason(), v1::TOKEN_REASON_USED_UP);
  // Default: 6 digits.
  request.clear_digits();
  EXPECT_EQ(Issue(request).token().size(), 6u);
}

TEST_F(TokenServiceTest, RevokeOneAndRevokeSubject) {
  const v1::IssueTokenResponse a = Issue(IssueRequest("email-verify", "u", 60'000));
  const v1::IssueTokenResponse b = Issue(IssueRequest("password-reset", "u", 60'000));
  const v1::IssueTokenResponse c = Issue(IssueRequest("password-reset", "u", 60'000));
  v1::IssueTokenRequest code_request = IssueRequest("password-reset", "u", 60'000);
  code_request.set_format(v1::TOKEN_FORMAT_NUMERIC);
  const v1::IssueTokenResponse code = Issue(code_request);
  const v1::IssueTokenResponse other = Issue(IssueRequest("password-reset", "v", 60'000));

  v1::RevokeTokenRequest revoke;
  revoke.set_purpose("email-verify");
  revoke.set_token(a.token());
  EXPECT_TRUE(Ok(&Stub::RevokeToken, revoke).revoked());
  EXPECT_FALSE(Ok(&Stub::RevokeToken, revoke).revoked());
  EXPECT_EQ(Verify("email-verify", a.token()).reason(), v1::TOKEN_REASON_NOT_FOUND);

  v1::RevokeSubjectTokensRequest subject;
  subject.set_subject("u");
  subject.set_purpose("password-reset");
  EXPECT_EQ(Ok(&Stub::RevokeSubjectTokens, subject).revoked(), 3);
  EXPECT_EQ(Verify("password-reset", b.token()).reason(), v1::TOKEN_REASON_NOT_FOUND);
  EXPECT_EQ(Verify("password-reset", c.token()).reason(), v1::TOKEN_REASON_NOT_FOUND);
  EXPECT_EQ(Verify("password-reset", code.token(), "u").reason(), v1::TOKEN_REASON_NOT_FOUND);
  EXPECT_TRUE(Verify("password-reset", other.token()).valid());
  subject.clear_purpose();
  EXPECT_EQ(Ok(&Stub::RevokeSubjectTokens, subject).revoked(), 0);
}

TEST_F(TokenServiceTest, IssueRejectsBadInputNamingTheField) {
  v1::IssueTokenRequest request = IssueRequest("", "u", 1000);
  Fails(&Stub::IssueToken, request, "purpose: required");
  request.set_purpose(std::string(65, 'p'));
  Fails(&Stub::IssueToken, request, "purpose: 65 bytes exceeds max 64");
  request.set_purpose("p");
  request.set_subject(std::string(65, 's'));
  Fails(&Stub::IssueToken, request, "subject: 65 bytes exceeds max 64");
  request.set_subject("u");
  request.set_payload(std::string(1025, 'x'));
  Fails(&Stub::IssueToken, request, "payload: 1025 bytes exceeds max 1024");
  request.clear_payload();
  request.clear_ttl();
  Fails(&Stub::IssueToken, request, "ttl: required");
  *request.mutable_ttl() = Ms(0);
  Fails(&Stub::IssueToken, request, "ttl");
  *request.mutable_ttl() = Ms(3'600'001);
  Fails(&Stub::IssueToken, request, "ttl");
  *request.mutable_ttl() = Ms(1000);
  request.set_max_uses(0);
  Fails(&Stub::IssueToken, request, "max_uses");
  request.clear_max_uses();
  request.set_digits(6);
  Fails(&Stub::IssueToken, request, "digits: only for format TOKEN_FORMAT_NUMERIC");
  request.clear_digits();
  request.set_max_attempts(3);
  Fails(&Stub::IssueToken, request, "max_attempts: only for format TOKEN_FORMAT_NUMERIC");
  request.clear_max_attempts();
  request.set_format(static_cast<v1::TokenFormat>(7));
  Fails(&Stub::IssueToken, request, "format");
  request.set_format(v1::TOKEN_FORMAT_NUMERIC);
  request.set_digits(3);
  Fails(&Stub::IssueToken, request, "digits: 3 is outside 4-10");
  request.set_digits(11);
  Fails(&Stub::IssueToken, request, "digits: 11 is outside 4-10");
  request.set_digits(4);
  request.set_max_attempts(0);
  Fails(&Stub::IssueToken, request, "max_attempts");
  request.clear_max_attempts();
  request.set_subject("");
  Fails(&Stub::IssueToken, request, "subject: required");
}

TEST_F(TokenServiceTest, ChecksRejectEmptyRequiredFields) {
  v1::VerifyTokenRequest verify;
  verify.set_token("t");
  Fails(&Stub::VerifyToken, verify, "purpose: required");
  verify.set_purpose("p");
  verify.clear_token();
  Fails(&Stub::VerifyToken, verify, "token: required");
  verify.set_token("123456");
  Fails(&Stub::VerifyToken, verify, "subject: required for a NUMERIC code");
  v1::ConsumeTokenRequest consume;
  consume.set_purpose("p");
  Fails(&Stub::ConsumeToken, consume, "token: required");
  v1::RevokeTokenRequest revoke;
  revoke.set_purpose("p");
  Fails(&Stub::RevokeToken, revoke, "token: required");
  v1::RevokeSubjectTokensRequest subject;
  Fails(&Stub::RevokeSubjectTokens, subject, "subject: required");
}

TEST_F(TokenServiceTest, WatchEventsShowPurposeAndSubjectOnly) {
  auto admin = v1::AdminService::NewStub(server_.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchEventsRequest watch;
  watch.add_spaces(v1::SPACE_TOKEN);
  auto reader = admin->WatchEvents(&context, watch);
  reader->WaitForInitialMetadata();

  const v1::IssueTokenResponse issued = Issue(IssueRequest("email-verify", "u42", 60'000));
  v1::RevokeTokenRequest revoke;
  revoke.set_purpose("email-verify");
  revoke.set_token(issued.token());
  ASSERT_TRUE(Ok(&Stub::RevokeToken, revoke).revoked());
  v1::WatchEventsResponse event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.event().space(), v1::SPACE_TOKEN);
  EXPECT_EQ(event.event().kind(), v1::EVENT_KIND_DELETED);
  EXPECT_EQ(event.event().key(), "email-verify:u42");
  context.TryCancel();
}

// At the memory cap under noeviction an issue is refused; verifying, consuming (a tombstone is
// smaller) and counting wrong codes keep working. (Under an evicting policy see eviction_test.cc.)
TEST(TokenCapTest, IssueAtTheCapIsResourceExhaustedAndChecksGoOn) {
  server::ServerConfig config = SmallLimits();
  config.maxmemory_bytes = 256 << 10;
  config.eviction_policy = storage::EvictionPolicy::kNoEviction;
  TestServer server(config);
  auto stub = v1::TokenService::NewStub(server.channel());
  v1::IssueTokenRequest request = IssueRequest("invite", "u", 600'000);
  request.set_payload(std::string(1000, 'x'));
  std::vector<std::string> tokens;
  grpc::Status status;
  for (int i = 0; i < 2000 && status.ok(); ++i) {
    v1::IssueTokenResponse issued;
    status = Call(*stub, &Stub::IssueToken, request, &issued);
    if (status.ok()) tokens.push_back(issued.token());
  }
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  ASSERT_GT(tokens.size(), 1u);
  v1::VerifyTokenRequest verify;
  verify.set_purpose("invite");
  verify.set_token(tokens[0]);
  v1::VerifyTokenResponse verified;
  ASSERT_TRUE(Call(*stub, &Stub::VerifyToken, verify, &verified).ok());
  EXPECT_TRUE(verified.valid());
  v1::ConsumeTokenRequest consume;
  consume.set_purpose("invite");
  consume.set_token(tokens[0]);
  v1::ConsumeTokenResponse consumed;
  ASSERT_TRUE(Call(*stub, &Stub::ConsumeToken, consume, &consumed).ok());
  EXPECT_TRUE(consumed.valid());
  ASSERT_TRUE(Call(*stub, &Stub::ConsumeToken, consume, &consumed).ok());
  EXPECT_EQ(consumed.reason(), v1::TOKEN_REASON_USED_UP);
  v1::RevokeSubjectTokensRequest revoke;
  revoke.set_subject("u");
  v1::RevokeSubjectTokensResponse revoked;
  ASSERT_TRUE(Call(*stub, &Stub::RevokeSubjectTokens, revoke, &revoked).ok());
  EXPECT_EQ(revoked.revoked(), static_cast<int64_t>(tokens.size()) - 1);
}

// HOSTILE_INPUTS row 25 at scale: 10 threads race to consume each of 1 000 single-use tokens
// (10 000 attempts). Exactly one attempt per token wins; every other says USED_UP.
TEST(TokenRaceTest, TenThousandRacingConsumesZeroDoubleUses) {
  TestServer server;
  constexpr int kTokens = 1000;
  constexpr int kThreads = 10;
  auto stub = v1::TokenService::NewStub(server.channel());
  std::vector<std::string> tokens;
  tokens.reserve(kTokens);
  for (int i = 0; i < kTokens; ++i) {
    v1::IssueTokenResponse issued;
    ASSERT_TRUE(Call(*stub, &Stub::IssueToken,
                     IssueRequest("email-verify", "user-" + std::to_string(i % 50), 600'000),
                     &issued)
                    .ok());
    tokens.push_back(issued.token());
  }
  std::vector<std::atomic<int>> wins(kTokens);
  std::atomic<int> used_up{0};
  std::atomic<int> failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // A channel per thread: real concurrency on the server, not one HTTP/2 connection.
      auto thread_stub = v1::TokenService::NewStub(server.NewChannel());
      for (int k = 0; k < kTokens; ++k) {
        const int i = (k + t * (kTokens / kThreads)) % kTokens;
        v1::ConsumeTokenRequest request;
        request.set_purpose("email-verify");
        request.set_token(tokens[i]);
        v1::ConsumeTokenResponse response;
        if (!Call(*thread_stub, &Stub::ConsumeToken, request, &response).ok()) {
          failures.fetch_add(1);
        } else if (response.valid()) {
          wins[i].fetch_add(1);
        } else if (response.reason() == v1::TOKEN_REASON_USED_UP) {
          used_up.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(failures.load(), 0);
  int total_wins = 0;
  for (int i = 0; i < kTokens; ++i) {
    EXPECT_EQ(wins[i].load(), 1) << "token " << i;
    total_wins += wins[i].load();
  }
  EXPECT_EQ(total_wins, kTokens);
  EXPECT_EQ(used_up.load(), kTokens * (kThreads - 1));
  EXPECT_LT(elapsed, std::chrono::seconds(60));
}

}  // namespace
}  // namespace hourglass::testing
