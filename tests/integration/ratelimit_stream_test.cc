// RateLimitService.StreamRateLimits over real gRPC: answers in order with the request ids, a bad
// message answered by its own error with the stream left open, exact totals across concurrent
// streams, a client that writes without reading, client cancel and server drain.

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hourglass/v1/ratelimit.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
using Stream = grpc::ClientReaderWriter<v1::StreamRateLimitsRequest, v1::StreamRateLimitsResponse>;

v1::StreamRateLimitsRequest Request(uint64_t id, const std::string& key, int64_t limit) {
  v1::StreamRateLimitsRequest request;
  request.set_id(id);
  v1::RateLimitCheck* check = request.mutable_check();
  check->set_key(key);
  check->set_limit(limit);
  check->mutable_period()->set_seconds(60);
  return request;
}

class RateLimitStreamTest : public ::testing::Test {
 protected:
  RateLimitStreamTest() : stub_(v1::RateLimitService::NewStub(server_.channel())) {}

  std::unique_ptr<Stream> Open(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub_->StreamRateLimits(&context);
  }

  TestServer server_;
  std::unique_ptr<v1::RateLimitService::Stub> stub_;
};

TEST_F(RateLimitStreamTest, AnswersEveryCheckInOrderWithItsId) {
  grpc::ClientContext context;
  auto stream = Open(context);
  constexpr int kChecks = 50;
  for (int i = 0; i < kChecks; ++i) {
    ASSERT_TRUE(stream->Write(Request(1000 + i, "stream-order", 10)));
  }
  ASSERT_TRUE(stream->WritesDone());
  v1::StreamRateLimitsResponse response;
  for (int i = 0; i < kChecks; ++i) {
    ASSERT_TRUE(stream->Read(&response)) << i;
    EXPECT_EQ(response.id(), static_cast<uint64_t>(1000 + i));
    ASSERT_TRUE(response.has_result()) << response.DebugString();
    EXPECT_EQ(response.result().allowed(), i < 10) << i;
    EXPECT_EQ(response.result().remaining(), i < 10 ? 9 - i : 0);
  }
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(RateLimitStreamTest, ABadMessageGetsItsOwnErrorAndTheStreamStaysOpen) {
  grpc::ClientContext context;
  auto stream = Open(context);
  v1::StreamRateLimitsRequest missing;
  missing.set_id(1);
  v1::StreamRateLimitsRequest zero_limit = Request(2, "stream-bad", 0);
  v1::StreamRateLimitsRequest long_key = Request(3, std::string(5000, 'k'), 5);
  v1::StreamRateLimitsRequest bad_algorithm = Request(4, "stream-bad", 5);
  bad_algorithm.mutable_check()->set_algorithm(static_cast<v1::RateLimitAlgorithm>(77));
  for (const auto* r : {&missing, &zero_limit, &long_key, &bad_algorithm}) {
    ASSERT_TRUE(stream->Write(*r));
  }
  ASSERT_TRUE(stream->Write(Request(5, "stream-bad", 5)));
  v1::StreamRateLimitsResponse response;
  const char* const expected[] = {"check: required", "check.limit", "check.key", "check.algorithm"};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.id(), static_cast<uint64_t>(i + 1));
    ASSERT_TRUE(response.has_error()) << response.DebugString();
    EXPECT_EQ(response.error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_NE(response.error().message().find(expected[i]), std::string::npos)
        << response.error().message();
  }
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.id(), 5u);
  ASSERT_TRUE(response.has_result());
  EXPECT_TRUE(response.result().allowed());
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(RateLimitStreamTest, ConcurrentStreamsOnOneKeyAdmitExactlyTheLimit) {
  constexpr int kStreams = 8;
  constexpr int kPerStream = 200;
  constexpr int kLimit = 500;
  std::atomic<int> allowed{0};
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kStreams; ++t) {
    threads.emplace_back([&, t] {
      grpc::ClientContext context;
      auto stream = Open(context);
      std::thread writer([&] {
        for (int i = 0; i < kPerStream; ++i) {
          if (!stream->Write(Request(t * kPerStream + i, "stream-shared", kLimit))) return;
        }
        stream->WritesDone();
      });
      v1::StreamRateLimitsResponse response;
      uint64_t next = t * kPerStream;
      while (stream->Read(&response)) {
        EXPECT_EQ(response.id(), next++);
        answered.fetch_add(1);
        if (response.has_result() && response.result().allowed()) allowed.fetch_add(1);
      }
      writer.join();
      EXPECT_TRUE(stream->Finish().ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(answered.load(), kStreams * kPerStream);
  EXPECT_EQ(allowed.load(), kLimit);
}

TEST_F(RateLimitStreamTest, AClientThatWritesWithoutReadingLosesNothing) {
  // Far more than the server queues for one stream: it stops reading until the client reads.
  constexpr int kChecks = 3000;
  grpc::ClientContext context;
  auto stream = Open(context);
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kChecks; ++i) {
      if (!stream->Write(Request(i, "stream-backlog-" + std::to_string(i % 7), 1000000))) return;
      written.fetch_add(1);
    }
    stream->WritesDone();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the backlog build
  v1::StreamRateLimitsResponse response;
  int read = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.id(), static_cast<uint64_t>(read));
    ++read;
  }
  writer.join();
  EXPECT_EQ(written.load(), kChecks);
  EXPECT_EQ(read, kChecks);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(RateLimitStreamTest, ClientCancelEndsTheStreamAndTheServerStaysHealthy) {
  {
    grpc::ClientContext context;
    auto stream = Open(context);
    ASSERT_TRUE(stream->Write(Request(1, "stream-cancel", 5)));
    v1::StreamRateLimitsResponse response;
    ASSERT_TRUE(stream->Read(&response));
    context.TryCancel();
    EXPECT_FALSE(stream->Read(&response));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The hit taken before the cancel stays taken; the service answers new streams.
  grpc::ClientContext context;
  auto stream = Open(context);
  ASSERT_TRUE(stream->Write(Request(2, "stream-cancel", 5)));
  ASSERT_TRUE(stream->WritesDone());
  v1::StreamRateLimitsResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.result().remaining(), 3);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST(RateLimitStreamDrainTest, AnOpenStreamEndsWithinTheGracePeriodAfterItsAnswers) {
  TestServer server;
  auto stub = v1::RateLimitService::NewStub(server.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->StreamRateLimits(&context);
  ASSERT_TRUE(stream->Write(Request(1, "stream-drain", 5)));
  v1::StreamRateLimitsResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_TRUE(response.result().allowed());
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { server.server().Shutdown(300); });
  // The client keeps its stream open; the drain ends it once the grace period is over.
  while (stream->Read(&response)) {
  }
  const grpc::Status status = stream->Finish();
  stopper.join();
  EXPECT_FALSE(status.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace hourglass::testing
