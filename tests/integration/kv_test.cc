// KeyValueService over real gRPC against the real server: every RPC, every error status, and the
// KV rows of shared/HOSTILE_INPUTS.md (1, 2, 3, 9-17, 26, 27). After the hostile rows the server
// still answers health SERVING.

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "hourglass/v1/admin.grpc.pb.h"
#include "hourglass/v1/kv.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
using Stub = v1::KeyValueService::Stub;

template <typename Message>
Message Parse(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// One call with a 5 s deadline; `text` is the request in text format.
template <typename Request, typename Response>
grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  Stub& stub, const std::string& text, Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return (stub.*method)(&context, Parse<Request>(text), response);
}

class KvTest : public ::testing::Test {
 protected:
  explicit KvTest(server::ServerConfig config = TestConfig())
      : server_(std::move(config)), stub_(v1::KeyValueService::NewStub(server_.channel())) {}

  // OK calls, returning the response.
  v1::SetResponse Set(const std::string& text) { return Ok(&Stub::Set, text); }
  v1::GetResponse Get(const std::string& text) { return Ok(&Stub::Get, text); }
  v1::GetTtlResponse GetTtl(const std::string& key) {
    return Ok(&Stub::GetTtl, "key: '" + key + "'");
  }

  template <typename Request, typename Response>
  Response Ok(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
              const std::string& text) {
    Response response;
    grpc::Status status = Call(method, *stub_, text, &response);
    EXPECT_TRUE(status.ok()) << text << ": " << status.error_message();
    return response;
  }

  // The call fails with `code`; its message contains `message_part`.
  template <typename Request, typename Response>
  void ExpectError(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                   const std::string& text, grpc::StatusCode code,
                   const std::string& message_part = "") {
    Response response;
    grpc::Status status = Call(method, *stub_, text, &response);
    EXPECT_EQ(status.error_code(), code) << text << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(message_part), std::string::npos)
        << text << ": " << status.error_message();
  }

  void ExpectServing() {
    auto health = grpc::health::v1::Health::NewStub(server_.channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, {}, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  TestServer server_;
  std::unique_ptr<Stub> stub_;
};

TEST_F(KvTest, EveryRpcRoundTrips) {
  EXPECT_TRUE(Set("key: 'user:1' value: 'alice' ttl { seconds: 60 }").applied());
  v1::GetResponse got = Get("key: 'user:1'");
  EXPECT_TRUE(got.found());
  EXPECT_EQ(got.value(), "alice");
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  EXPECT_NEAR(got.expire_time().seconds(), now_s + 60, 2);
  v1::GetTtlResponse ttl = GetTtl("user:1");
  EXPECT_EQ(ttl.state(), v1::KEY_STATE_EXPIRING);
  EXPECT_GT(ttl.ttl().seconds(), 57);
  EXPECT_TRUE(Ok(&Stub::Persist, "key: 'user:1'").applied());
  EXPECT_EQ(GetTtl("user:1").state(), v1::KEY_STATE_NO_EXPIRY);
  EXPECT_TRUE(Ok(&Stub::Expire,
                 "key: 'user:1' ttl { seconds: 300 } "
                 "condition: EXPIRE_CONDITION_IF_NO_EXPIRY")
                  .applied());
  v1::IncrementResponse counter =
      Ok(&Stub::Increment, "key: 'hits' delta: 1 ttl_on_create { seconds: 86400 }");
  EXPECT_EQ(counter.value(), 1);
  EXPECT_TRUE(counter.has_expire_time());
  EXPECT_EQ(Ok(&Stub::Increment, "key: 'hits' delta: 41").value(), 42);
  EXPECT_EQ(Get("key: 'hits'").value(), "42");
  EXPECT_EQ(Ok(&Stub::Delete, "keys: ['user:1', 'hits', 'nope']").deleted(), 2);
  EXPECT_FALSE(Get("key: 'user:1'").found());
  EXPECT_EQ(GetTtl("hits").state(), v1::KEY_STATE_NOT_FOUND);
}

TEST_F(KvTest, BatchMixesGoodAndBadOpsInOrder) {
  v1::BatchResponse response = Ok(&Stub::Batch,
                                  "ops { set { key: 'a' value: '41' } } "
                                  "ops { increment { key: 'a' delta: 1 } } "
                                  "ops { set { key: 'b' value: 'x' ttl { seconds: -1 } } } "
                                  "ops { increment { key: 'b' delta: 1 } } "
                                  "ops { set { key: 'b' value: 'text' } } "
                                  "ops { increment { key: 'b' delta: 1 } } "
                                  "ops { get { key: 'a' delete: true } } "
                                  "ops { } "
                                  "ops { get_ttl { key: 'a' } }");
  ASSERT_EQ(response.results_size(), 9);
  EXPECT_TRUE(response.results(0).set().applied());
  EXPECT_EQ(response.results(1).increment().value(), 42);
  EXPECT_EQ(response.results(2).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.results(2).error().message(), "ttl: must not be negative");
  EXPECT_EQ(response.results(3).increment().value(), 1);  // the bad set stored nothing
  EXPECT_TRUE(response.results(4).set().had_previous());
  EXPECT_EQ(response.results(5).error().code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(response.results(6).get().value(), "42");
  EXPECT_EQ(response.results(7).error().message(), "op: required");
  EXPECT_EQ(response.results(8).get_ttl().state(), v1::KEY_STATE_NOT_FOUND);
  EXPECT_EQ(Get("key: 'b'").value(), "text");
}

// Rows 1 and 2: a required key missing or too long, in every RPC that takes one.
TEST_F(KvTest, Row1And2EmptyOrLongKeys) {
  const std::string long_key(1025, 'k');
  ExpectError(&Stub::Set, "value: 'v'", grpc::StatusCode::INVALID_ARGUMENT, "key: required");
  ExpectError(&Stub::Get, "", grpc::StatusCode::INVALID_ARGUMENT, "key: required");
  ExpectError(&Stub::Expire, "ttl { seconds: 1 }", grpc::StatusCode::INVALID_ARGUMENT,
              "key: required");
  ExpectError(&Stub::Persist, "", grpc::StatusCode::INVALID_ARGUMENT, "key: required");
  ExpectError(&Stub::GetTtl, "", grpc::StatusCode::INVALID_ARGUMENT, "key: required");
  ExpectError(&Stub::Increment, "delta: 1", grpc::StatusCode::INVALID_ARGUMENT, "key: required");
  ExpectError(&Stub::Delete, "", grpc::StatusCode::INVALID_ARGUMENT, "keys: required");
  ExpectError(&Stub::Delete, "keys: ['a', '']", grpc::StatusCode::INVALID_ARGUMENT,
              "keys[1]: required");
  ExpectError(&Stub::Set, "key: '" + long_key + "'", grpc::StatusCode::INVALID_ARGUMENT,
              "key: 1025 bytes exceeds max 1024");
  ExpectError(&Stub::Get, "key: '" + long_key + "'", grpc::StatusCode::INVALID_ARGUMENT,
              "key: 1025 bytes exceeds max 1024");
  ExpectError(&Stub::Delete, "keys: ['" + long_key + "']", grpc::StatusCode::INVALID_ARGUMENT,
              "keys[0]: 1025 bytes exceeds max 1024");
  EXPECT_TRUE(Set("key: '" + std::string(1024, 'k') + "' value: 'v'").applied());  // at the max
  ExpectServing();
}

// Row 3: a value over --max_value_bytes but under the message limit.
TEST_F(KvTest, Row3ValueOverTheLimit) {
  v1::SetRequest request;
  request.set_key("big");
  request.set_value(std::string((1 << 20) + 1, 'v'));
  grpc::ClientContext context;
  v1::SetResponse response;
  grpc::Status status = stub_->Set(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "value: 1048577 bytes exceeds max 1048576");
  EXPECT_FALSE(Get("key: 'big'").found());
  ExpectServing();
}

// Row 9: NUL and any valid UTF-8 in a key, arbitrary bytes in a value, round-tripped exactly.
TEST_F(KvTest, Row9BytesRoundTripExactly) {
  std::string value;
  for (int i = 0; i < 256; ++i) value.push_back(static_cast<char>(i));
  const std::string key("\0k\xe2\x82\xac\xf0\x9f\x98\x80\n", 10);
  v1::SetRequest set;
  set.set_key(key);
  set.set_value(value);
  grpc::ClientContext context;
  v1::SetResponse set_response;
  ASSERT_TRUE(stub_->Set(&context, set, &set_response).ok());
  v1::GetRequest get;
  get.set_key(key);
  grpc::ClientContext context2;
  v1::GetResponse got;
  ASSERT_TRUE(stub_->Get(&context2, get, &got).ok());
  EXPECT_TRUE(got.found());
  EXPECT_EQ(got.value(), value);
  EXPECT_FALSE(Get("key: 'k'").found());  // the NUL is part of the key
}

// Rows 10-13 and 15: bad TTLs and expire_times are INVALID_ARGUMENT, and nothing changes.
TEST_F(KvTest, Rows10To15BadDurationsAndTimestamps) {
  Set("key: 'a' value: '1' ttl { seconds: 100 }");
  const grpc::StatusCode kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
  // Row 10: ttl <= 0 where it creates something; negative anywhere.
  ExpectError(&Stub::Set, "key: 'n' ttl { }", kInvalid, "ttl: must be > 0");
  ExpectError(&Stub::Set, "key: 'n' ttl { seconds: -1 }", kInvalid, "ttl: must not be negative");
  ExpectError(&Stub::Increment, "key: 'n' ttl_on_create { }", kInvalid,
              "ttl_on_create: must be > 0");
  ExpectError(&Stub::Get, "key: 'a' ttl { }", kInvalid, "ttl: must be > 0");
  ExpectError(&Stub::Expire, "key: 'a' ttl { nanos: -1 }", kInvalid, "ttl: must not be negative");
  // Row 12: deadlines that overflow, nanos out of range.
  for (const char* bad :
       {"ttl { seconds: 9223372036854775 }", "ttl { seconds: 1 nanos: 2000000000 }",
        "ttl { seconds: -9223372036854775808 }"}) {
    ExpectError(&Stub::Expire, std::string("key: 'a' ") + bad, kInvalid, "ttl: ");
    ExpectError(&Stub::Set, std::string("key: 'a' value: '2' ") + bad, kInvalid, "ttl: ");
  }
  // Row 13: beyond --max_ttl (87600h), not silently capped.
  ExpectError(&Stub::Expire, "key: 'a' ttl { seconds: 315360001 }", kInvalid, "exceeds max 87600h");
  ExpectError(&Stub::Set, "key: 'a' expire_time { seconds: 4102444800 }", kInvalid,
              "expire_time: more than 87600h in the future");  // 2100-01-01
  // Row 15: Timestamp max, beyond year 9999, nanos out of range.
  for (const char* bad :
       {"expire_time { seconds: 253402300799 nanos: 999999999 }",
        "expire_time { seconds: 253402300800 }", "expire_time { seconds: 1 nanos: 1000000000 }"}) {
    ExpectError(&Stub::Expire, std::string("key: 'a' ") + bad, kInvalid, "expire_time: ");
  }
  v1::GetTtlResponse ttl = GetTtl("a");
  EXPECT_EQ(ttl.state(), v1::KEY_STATE_EXPIRING);  // existing TTL unchanged
  EXPECT_GT(ttl.ttl().seconds(), 90);
  EXPECT_EQ(Get("key: 'a'").value(), "1");
  EXPECT_FALSE(Get("key: 'n'").found());
  ExpectServing();
}

// Rows 11 and 14: Expire ttl 0, and expire_times in the past (0, negative), delete the key —
// unless a condition fails first.
TEST_F(KvTest, Rows11And14ZeroTtlAndPastTimesDelete) {
  for (const char* expiry : {"ttl { }", "expire_time { seconds: 1 }", "expire_time { }",
                             "expire_time { seconds: -100 }"}) {
    Set("key: 'a' value: '1'");
    EXPECT_TRUE(Ok(&Stub::Expire, std::string("key: 'a' ") + expiry).applied()) << expiry;
    EXPECT_FALSE(Get("key: 'a'").found()) << expiry;
  }
  Set("key: 'b' value: '1'");
  EXPECT_TRUE(Set("key: 'b' value: '2' expire_time { seconds: 1 }").applied());
  EXPECT_FALSE(Get("key: 'b'").found());
  // Conditions first: no expiry yet, so IF_HAS_EXPIRY fails; existing key, so IF_ABSENT fails.
  Set("key: 'c' value: '1'");
  EXPECT_FALSE(Ok(&Stub::Expire,
                  "key: 'c' expire_time { seconds: 1 } "
                  "condition: EXPIRE_CONDITION_IF_HAS_EXPIRY")
                   .applied());
  EXPECT_FALSE(Set("key: 'c' value: '2' expire_time { seconds: 1 } "
                   "condition: SET_CONDITION_IF_ABSENT")
                   .applied());
  EXPECT_EQ(Get("key: 'c'").value(), "1");
}

// Row 16: enum numbers the server does not know.
TEST_F(KvTest, Row16UnknownEnumNumbers) {
  ExpectError(&Stub::Set, "key: 'a' condition: 42", grpc::StatusCode::INVALID_ARGUMENT,
              "condition: unknown enum value 42");
  ExpectError(&Stub::Expire, "key: 'a' ttl { seconds: 1 } condition: 42",
              grpc::StatusCode::INVALID_ARGUMENT, "condition: unknown enum value 42");
  v1::BatchResponse batch = Ok(&Stub::Batch, "ops { set { key: 'a' condition: -3 } }");
  EXPECT_EQ(batch.results(0).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(Get("key: 'a'").found());
}

// Row 17: Batch and Delete over --max_batch_items (1000); duplicates are fine.
TEST_F(KvTest, Row17TooManyItems) {
  v1::BatchRequest batch;
  v1::DeleteRequest del;
  for (int i = 0; i < 1001; ++i) {
    batch.add_ops()->mutable_set()->set_key("same");
    del.add_keys("same");
  }
  grpc::ClientContext context;
  v1::BatchResponse batch_response;
  grpc::Status status = stub_->Batch(&context, batch, &batch_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "ops: 1001 items exceeds max 1000");
  EXPECT_FALSE(Get("key: 'same'").found());  // nothing ran
  grpc::ClientContext context2;
  v1::DeleteResponse delete_response;
  status = stub_->Delete(&context2, del, &delete_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "keys: 1001 items exceeds max 1000");

  batch.mutable_ops()->RemoveLast();  // 1000 ops on one key: fine
  grpc::ClientContext context3;
  ASSERT_TRUE(stub_->Batch(&context3, batch, &batch_response).ok());
  EXPECT_EQ(batch_response.results_size(), 1000);
  del.mutable_keys()->RemoveLast();
  grpc::ClientContext context4;
  ASSERT_TRUE(stub_->Delete(&context4, del, &delete_response).ok());
  EXPECT_EQ(delete_response.deleted(), 1);
}

// Row 26: Increment on a non-integer value or past int64 is FAILED_PRECONDITION, value kept.
TEST_F(KvTest, Row26IncrementFailuresKeepTheValue) {
  Set("key: 'text' value: '12abc'");
  Set("key: 'min' value: '-9223372036854775808'");
  ExpectError(&Stub::Increment, "key: 'text' delta: 1", grpc::StatusCode::FAILED_PRECONDITION);
  ExpectError(&Stub::Increment, "key: 'min' delta: -1", grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Get("key: 'text'").value(), "12abc");
  EXPECT_EQ(Get("key: 'min'").value(), "-9223372036854775808");
}

server::ServerConfig TinyNoEvictionConfig() {
  server::ServerConfig config = TestConfig();
  config.maxmemory_bytes = 64 << 10;
  config.eviction_policy = storage::EvictionPolicy::kNoEviction;
  return config;
}

class KvAtCapTest : public KvTest {
 protected:
  KvAtCapTest() : KvTest(TinyNoEvictionConfig()) {}
};

// Row 27: a write at the cap with nothing evictable is RESOURCE_EXHAUSTED; reads keep working.
TEST_F(KvAtCapTest, Row27WritesAtTheCapFailAndReadsWork) {
  const std::string value(1000, 'v');
  int stored = 0;
  grpc::Status status;
  for (; stored < 200; ++stored) {
    v1::SetRequest request;
    request.set_key("k" + std::to_string(stored));
    request.set_value(value);
    grpc::ClientContext context;
    v1::SetResponse response;
    status = stub_->Set(&context, request, &response);
    if (!status.ok()) break;
  }
  ASSERT_GT(stored, 10);
  ASSERT_LT(stored, 200);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Fill what is left with the smallest entries, so that nothing at all fits.
  for (int i = 0; status.ok() || i == 0; ++i) {
    v1::SetRequest request;
    request.set_key("s" + std::to_string(i));
    grpc::ClientContext context;
    v1::SetResponse response;
    status = stub_->Set(&context, request, &response);
    ASSERT_LT(i, 1000);
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Get("key: 'k0'").value(), value);
  EXPECT_EQ(GetTtl("k1").state(), v1::KEY_STATE_NO_EXPIRY);
  ExpectError(&Stub::Increment, "key: 'fresh' delta: 1", grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::BatchResponse batch =
      Ok(&Stub::Batch, "ops { set { key: 'x' value: '" + value + "' } } ops { get { key: 'k0' } }");
  EXPECT_EQ(batch.results(0).error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(batch.results(1).get().found());
  // Deleting frees room again.
  EXPECT_EQ(Ok(&Stub::Delete, "keys: ['k0', 'k1']").deleted(), 2);
  EXPECT_TRUE(Set("key: 'again' value: 'v'").applied());

  auto admin = v1::AdminService::NewStub(server_.channel());
  grpc::ClientContext context;
  v1::GetStatsResponse stats;
  ASSERT_TRUE(admin->GetStats(&context, {}, &stats).ok());
  EXPECT_GE(stats.rejected_writes(), 4);
  EXPECT_LE(stats.used_memory_bytes(), stats.maxmemory_bytes());
  ExpectServing();
}

}  // namespace
}  // namespace hourglass::testing
