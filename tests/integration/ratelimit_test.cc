// RateLimitService over real gRPC against the real server: every RPC, every error, the
// rate-limit rows of shared/HOSTILE_INPUTS.md (1, 2, 16, 17, 18, 19, 20), and concurrent
// clients on one key admitting exactly the limit.

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "hourglass/v1/kv.grpc.pb.h"
#include "hourglass/v1/ratelimit.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
using Stub = v1::RateLimitService::Stub;

template <typename Message>
Message Parse(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

int64_t Ms(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1'000'000;
}

class RateLimitTest : public ::testing::Test {
 protected:
  RateLimitTest() : stub_(v1::RateLimitService::NewStub(server_.channel())) {}

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const std::string& text, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return (stub_.get()->*method)(&context, Parse<Request>(text), response);
  }

  v1::CheckRateLimitResponse Check(const std::string& text) {
    v1::CheckRateLimitResponse response;
    grpc::Status status = Call(&Stub::CheckRateLimit, text, &response);
    EXPECT_TRUE(status.ok()) << text << ": " << status.error_message();
    return response;
  }
  v1::CheckRateLimitsResponse CheckMany(const std::string& text) {
    v1::CheckRateLimitsResponse response;
    grpc::Status status = Call(&Stub::CheckRateLimits, text, &response);
    EXPECT_TRUE(status.ok()) << text << ": " << status.error_message();
    return response;
  }

  // The call fails with INVALID_ARGUMENT and exactly `message`.
  template <typename Request, typename Response>
  void ExpectInvalid(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                     const std::string& text, const std::string& message) {
    Response response;
    grpc::Status status = Call(method, text, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << text;
    EXPECT_EQ(status.error_message(), message) << text;
  }

  void ExpectServing(const std::string& service) {
    auto health = grpc::health::v1::Health::NewStub(server_.channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  TestServer server_;
  std::unique_ptr<Stub> stub_;
};

TEST_F(RateLimitTest, FixedWindowAsDocumented) {
  v1::CheckRateLimitResponse first = Check("key: 'login:10.0.0.1' limit: 5 period { seconds: 60 }");
  EXPECT_TRUE(first.allowed());
  EXPECT_EQ(first.limit(), 5);
  EXPECT_EQ(first.remaining(), 4);
  EXPECT_EQ(Ms(first.reset_after()), 60'000);
  EXPECT_TRUE(first.has_retry_after());
  EXPECT_EQ(Ms(first.retry_after()), 0);
  EXPECT_TRUE(Check("key: 'login:10.0.0.1' limit: 5 period { seconds: 60 } hits: 4").allowed());
  // Row 19: more than is left (or than the limit) is denied, not an error, and takes nothing.
  v1::CheckRateLimitResponse denied =
      Check("key: 'login:10.0.0.1' limit: 5 period { seconds: 60 }");
  EXPECT_FALSE(denied.allowed());
  EXPECT_EQ(denied.remaining(), 0);
  EXPECT_GT(Ms(denied.retry_after()), 55'000);
  EXPECT_LE(Ms(denied.retry_after()), 60'000);
  v1::CheckRateLimitResponse too_many =
      Check("key: 'fresh' limit: 5 period { seconds: 60 } hits: 6");
  EXPECT_FALSE(too_many.allowed());
  EXPECT_EQ(too_many.remaining(), 5);
  // hits 0 peeks.
  v1::CheckRateLimitResponse peek = Check("key: 'fresh' limit: 5 period { seconds: 60 } hits: 0");
  EXPECT_TRUE(peek.allowed());
  EXPECT_EQ(peek.remaining(), 5);
}

TEST_F(RateLimitTest, AlgorithmsKeepSeparateState) {
  for (const std::string algorithm :
       {"RATE_LIMIT_ALGORITHM_UNSPECIFIED", "RATE_LIMIT_ALGORITHM_SLIDING_WINDOW",
        "RATE_LIMIT_ALGORITHM_TOKEN_BUCKET"}) {
    EXPECT_TRUE(Check("key: 'k' limit: 1 period { seconds: 60 } algorithm: " + algorithm).allowed())
        << algorithm;
  }
  // UNSPECIFIED and FIXED_WINDOW share their state.
  EXPECT_FALSE(
      Check("key: 'k' limit: 1 period { seconds: 60 } algorithm: RATE_LIMIT_ALGORITHM_FIXED_WINDOW")
          .allowed());
  v1::CheckRateLimitResponse bucket = Check(
      "key: 'b' limit: 10 period { seconds: 1 } burst: 20 hits: 20 "
      "algorithm: RATE_LIMIT_ALGORITHM_TOKEN_BUCKET");
  EXPECT_TRUE(bucket.allowed());
  EXPECT_EQ(bucket.limit(), 20);  // the capacity is the burst
  EXPECT_EQ(bucket.remaining(), 0);
  EXPECT_EQ(Ms(bucket.reset_after()), 2000);
  // A KV key of the same name is another key space.
  auto kv = v1::KeyValueService::NewStub(server_.channel());
  grpc::ClientContext context;
  v1::GetRequest get;
  get.set_key("k");
  v1::GetResponse got;
  ASSERT_TRUE(kv->Get(&context, get, &got).ok());
  EXPECT_FALSE(got.found());
}

TEST_F(RateLimitTest, InvalidChecksNameTheFieldAndTheLimit) {
  const auto check = &Stub::CheckRateLimit;
  ExpectInvalid(check, "limit: 1 period { seconds: 1 }", "key: required");
  ExpectInvalid(check, "key: '" + std::string(1025, 'k') + "' limit: 1 period { seconds: 1 }",
                "key: 1025 bytes exceeds max 1024");
  ExpectInvalid(check, "key: 'k' period { seconds: 1 }", "limit: must be > 0");
  ExpectInvalid(check, "key: 'k' limit: -3 period { seconds: 1 }", "limit: must be > 0");
  ExpectInvalid(check, "key: 'k' limit: 1", "period: required");
  ExpectInvalid(check, "key: 'k' limit: 1 period { }", "period: must be > 0");
  ExpectInvalid(check, "key: 'k' limit: 1 period { seconds: -1 }", "period: must not be negative");
  ExpectInvalid(check, "key: 'k' limit: 1 period { seconds: 400000000 }",
                "period: 111111h6m40s exceeds max 87600h");
  ExpectInvalid(check, "key: 'k' limit: 1 period { seconds: 1 } hits: -1",
                "hits: must not be negative");
  ExpectInvalid(check, "key: 'k' limit: 1 period { seconds: 1 } burst: 2",
                "burst: only applies to TOKEN_BUCKET");
  ExpectInvalid(check,
                "key: 'k' limit: 1 period { seconds: 1 } burst: 0 "
                "algorithm: RATE_LIMIT_ALGORITHM_TOKEN_BUCKET",
                "burst: must be > 0");
  ExpectInvalid(check, "key: 'k' limit: 1 period { seconds: 1 } algorithm: 42",
                "algorithm: unknown enum value 42");
  ExpectInvalid(&Stub::ResetRateLimit, "key: 'k' algorithm: 42",
                "algorithm: unknown enum value 42");
  ExpectInvalid(&Stub::ResetRateLimit, "", "key: required");
  ExpectServing("hourglass.v1.RateLimitService");
}

TEST_F(RateLimitTest, BatchesInOrderAllOrNothingAndLimits) {
  v1::CheckRateLimitsResponse taken = CheckMany(
      "all_or_nothing: true "
      "checks { key: 'user:42' limit: 100 period { seconds: 60 } } "
      "checks { key: 'org:7' limit: 2 period { seconds: 60 } }");
  ASSERT_EQ(taken.results_size(), 2);
  EXPECT_EQ(taken.results(0).remaining(), 99);
  EXPECT_EQ(taken.results(1).remaining(), 1);
  v1::CheckRateLimitsResponse refused = CheckMany(
      "all_or_nothing: true "
      "checks { key: 'user:42' limit: 100 period { seconds: 60 } } "
      "checks { key: 'org:7' limit: 2 period { seconds: 60 } hits: 2 }");
  ASSERT_EQ(refused.results_size(), 2);
  EXPECT_FALSE(refused.results(0).allowed());
  EXPECT_EQ(refused.results(0).remaining(), 99);
  EXPECT_EQ(Ms(refused.results(0).retry_after()), 0);
  EXPECT_FALSE(refused.results(1).allowed());
  EXPECT_EQ(refused.results(1).remaining(), 1);
  EXPECT_GT(Ms(refused.results(1).retry_after()), 0);
  // Independent checks: each on its own, in order, cumulative on one key.
  v1::CheckRateLimitsResponse independent = CheckMany(
      "checks { key: 'org:7' limit: 2 period { seconds: 60 } } "
      "checks { key: 'org:7' limit: 2 period { seconds: 60 } } "
      "checks { key: 'user:42' limit: 100 period { seconds: 60 } }");
  ASSERT_EQ(independent.results_size(), 3);
  EXPECT_TRUE(independent.results(0).allowed());
  EXPECT_FALSE(independent.results(1).allowed());
  EXPECT_TRUE(independent.results(2).allowed());
  EXPECT_EQ(independent.results(2).remaining(), 98);
  EXPECT_EQ(CheckMany("").results_size(), 0);
  // Row 17 and a bad check: the whole call is refused and nothing is taken.
  std::string too_many;
  for (int i = 0; i < 1001; ++i) too_many += "checks { key: 'x' limit: 1 period { seconds: 1 } } ";
  ExpectInvalid(&Stub::CheckRateLimits, too_many, "checks: 1001 items exceeds max 1000");
  ExpectInvalid(&Stub::CheckRateLimits,
                "checks { key: 'user:42' limit: 100 period { seconds: 60 } } "
                "checks { key: 'org:8' limit: 0 period { seconds: 60 } }",
                "checks[1].limit: must be > 0");
  EXPECT_EQ(Check("key: 'user:42' limit: 100 period { seconds: 60 } hits: 0").remaining(), 98);
}

TEST_F(RateLimitTest, ResetForgetsTheLimit) {
  EXPECT_TRUE(Check("key: 'r' limit: 1 period { seconds: 60 }").allowed());
  EXPECT_FALSE(Check("key: 'r' limit: 1 period { seconds: 60 }").allowed());
  v1::ResetRateLimitResponse reset;
  ASSERT_TRUE(Call(&Stub::ResetRateLimit, "key: 'r'", &reset).ok());
  EXPECT_TRUE(reset.reset());
  ASSERT_TRUE(Call(&Stub::ResetRateLimit, "key: 'r'", &reset).ok());
  EXPECT_FALSE(reset.reset());
  EXPECT_TRUE(Check("key: 'r' limit: 1 period { seconds: 60 }").allowed());
}

TEST_F(RateLimitTest, ConcurrentClientsOnOneKeyAdmitExactlyTheLimit) {
  constexpr int kThreads = 8;
  constexpr int kChecksPerThread = 40;
  constexpr int kLimit = 100;
  std::atomic<int> admitted{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto stub = v1::RateLimitService::NewStub(server_.NewChannel());
      v1::CheckRateLimitRequest request;
      request.set_key("hot");
      request.set_limit(kLimit);
      request.mutable_period()->set_seconds(600);
      for (int i = 0; i < kChecksPerThread; ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::CheckRateLimitResponse response;
        if (!stub->CheckRateLimit(&context, request, &response).ok()) {
          failed.fetch_add(1);
        } else if (response.allowed()) {
          admitted.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
}

}  // namespace
}  // namespace hourglass::testing
