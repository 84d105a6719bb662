// KvService handlers called directly (grpc's DefaultReactorTestPeer), over a real store on a
// FakeClock: validation messages, the Redis semantics as seen through the proto, time
// conversions to the millisecond, and Batch.

#include "server/kv_service.h"

#include <google/protobuf/text_format.h>
#include <grpcpp/test/default_reactor_test_peer.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;
using storage::FakeClock;

constexpr int64_t kStartWallSeconds = FakeClock::kStartWallMs / 1000;

template <typename Message>
Message Parse(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

Limits TestLimits() {
  Limits limits;
  limits.max_key_bytes = 1024;
  limits.max_value_bytes = 64;
  limits.max_ttl_ms = 3600 * 1000;  // 1h
  limits.max_batch_items = 4;
  return limits;
}

class KvServiceTest : public ::testing::Test {
 protected:
  explicit KvServiceTest(uint64_t max_memory = 64 << 20) {
    storage::Store::Options options;
    options.clock = &clock_;
    options.shards = 4;
    options.max_memory_bytes = max_memory;
    options.eviction_policy = storage::EvictionPolicy::kNoEviction;
    options.max_ttl_ms = TestLimits().max_ttl_ms;
    options.reclaim_interval_ms = 0;
    auto store = storage::Store::Create(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    service_ = std::make_unique<KvService>(*store_, TestLimits());
  }

  // Runs one handler the way gRPC would and returns the status it finished with.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::ServerUnaryReactor* (KvService::*method)(grpc::CallbackServerContext*,
                                                                   const Request*, Response*),
                    const std::string& request_text, Response* response) {
    const Request request = Parse<Request>(request_text);
    response->Clear();  // gRPC hands every call a fresh response
    grpc::CallbackServerContext context;
    grpc::testing::DefaultReactorTestPeer peer(&context);
    (service_.get()->*method)(&context, &request, response);
    EXPECT_TRUE(peer.test_status_set());
    return peer.test_status();
  }

  v1::SetResponse Set(const std::string& text) {
    v1::SetResponse response;
    grpc::Status status = Call(&KvService::Set, text, &response);
    EXPECT_TRUE(status.ok()) << text << ": " << status.error_message();
    return response;
  }
  v1::GetResponse Get(const std::string& text) {
    v1::GetResponse response;
    grpc::Status status = Call(&KvService::Get, text, &response);
    EXPECT_TRUE(status.ok()) << text << ": " << status.error_message();
    return response;
  }
  v1::GetTtlResponse GetTtl(const std::string& key) {
    v1::GetTtlResponse response;
    grpc::Status status = Call(&KvService::GetTtl, "key: '" + key + "'", &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  bool Expire(const std::string& text) {
    v1::ExpireResponse response;
    grpc::Status status = Call(&KvService::Expire, text, &response);
    EXPECT_TRUE(status.ok()) << text << ": " << status.error_message();
    return response.applied();
  }

  FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<KvService> service_;
};

// Expects INVALID_ARGUMENT (or `code`) with exactly `message`.
void ExpectError(const grpc::Status& status, const std::string& message,
                 grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

TEST_F(KvServiceTest, SetGetRoundTripsBytesAndReportsExpireTimeToTheMillisecond) {
  const std::string key("k\0\xe2\x82\xac", 5);  // NUL and a multi-byte character
  const std::string value("\x00\xff\x01 bytes", 9);
  v1::SetRequest set;
  set.set_key(key);
  set.set_value(value);
  set.mutable_ttl()->set_seconds(60);
  set.mutable_ttl()->set_nanos(1);  // rounds up to 60.001 s
  v1::SetResponse set_response;
  grpc::CallbackServerContext context;
  grpc::testing::DefaultReactorTestPeer peer(&context);
  service_->Set(&context, &set, &set_response);
  ASSERT_TRUE(peer.test_status().ok()) << peer.test_status().error_message();
  EXPECT_TRUE(set_response.applied());
  EXPECT_FALSE(set_response.had_previous());

  v1::GetRequest get;
  get.set_key(key);
  v1::GetResponse got;
  grpc::CallbackServerContext context2;
  grpc::testing::DefaultReactorTestPeer peer2(&context2);
  service_->Get(&context2, &get, &got);
  ASSERT_TRUE(peer2.test_status().ok());
  EXPECT_TRUE(got.found());
  EXPECT_EQ(got.value(), value);
  EXPECT_EQ(got.expire_time().seconds(), kStartWallSeconds + 60);
  EXPECT_EQ(got.expire_time().nanos(), 1'000'000);
}

TEST_F(KvServiceTest, MissingKeyIsDataNotAnError) {
  v1::GetResponse got = Get("key: 'nope'");
  EXPECT_FALSE(got.found());
  EXPECT_FALSE(got.has_expire_time());
  EXPECT_EQ(GetTtl("nope").state(), v1::KEY_STATE_NOT_FOUND);
  EXPECT_FALSE(Expire("key: 'nope' ttl { seconds: 5 }"));
}

TEST_F(KvServiceTest, SetConditionsAndReturnPrevious) {
  EXPECT_TRUE(Set("key: 'a' value: '1' condition: SET_CONDITION_IF_ABSENT").applied());
  v1::SetResponse again =
      Set("key: 'a' value: '2' condition: SET_CONDITION_IF_ABSENT "
          "return_previous: true");
  EXPECT_FALSE(again.applied());
  EXPECT_TRUE(again.had_previous());
  EXPECT_EQ(again.previous(), "1");
  EXPECT_FALSE(Set("key: 'b' value: '1' condition: SET_CONDITION_IF_PRESENT").applied());
  v1::SetResponse replaced = Set("key: 'a' value: '3' condition: SET_CONDITION_IF_PRESENT");
  EXPECT_TRUE(replaced.applied());
  EXPECT_TRUE(replaced.had_previous());
  EXPECT_EQ(replaced.previous(), "");  // not asked for
  EXPECT_EQ(Get("key: 'a'").value(), "3");
  EXPECT_FALSE(Get("key: 'b'").found());
}

TEST_F(KvServiceTest, PlainSetClearsTheTtlAndKeepTtlKeepsIt) {
  Set("key: 'a' value: '1' ttl { seconds: 10 }");
  Set("key: 'a' value: '2' keep_ttl: true");
  EXPECT_EQ(GetTtl("a").state(), v1::KEY_STATE_EXPIRING);
  EXPECT_EQ(GetTtl("a").ttl().seconds(), 10);
  Set("key: 'a' value: '3' keep_ttl: false");  // same as no expiry field
  EXPECT_EQ(GetTtl("a").state(), v1::KEY_STATE_NO_EXPIRY);
  Set("key: 'a' value: '4' ttl { seconds: 10 }");
  Set("key: 'a' value: '5'");
  EXPECT_EQ(GetTtl("a").state(), v1::KEY_STATE_NO_EXPIRY);
  Set("key: 'new' value: 'x' keep_ttl: true");  // created without expiry
  EXPECT_EQ(GetTtl("new").state(), v1::KEY_STATE_NO_EXPIRY);
}

TEST_F(KvServiceTest, SetWithPastExpireTimeDeletesUnlessTheConditionFails) {
  Set("key: 'a' value: '1'");
  EXPECT_TRUE(Set("key: 'a' value: '2' expire_time { seconds: 1 }").applied());
  EXPECT_FALSE(Get("key: 'a'").found());
  Set("key: 'b' value: '1'");
  EXPECT_FALSE(Set("key: 'b' value: '2' expire_time { seconds: 0 } "
                   "condition: SET_CONDITION_IF_ABSENT")
                   .applied());
  EXPECT_EQ(Get("key: 'b'").value(), "1");
}

TEST_F(KvServiceTest, SetValidationNamesFieldAndLimit) {
  v1::SetResponse response;
  ExpectError(Call(&KvService::Set, "value: 'v'", &response), "key: required");
  ExpectError(Call(&KvService::Set, "key: '" + std::string(2048, 'k') + "' value: 'v'", &response),
              "key: 2048 bytes exceeds max 1024");
  ExpectError(Call(&KvService::Set, "key: 'k' value: '" + std::string(65, 'v') + "'", &response),
              "value: 65 bytes exceeds max 64");
  ExpectError(Call(&KvService::Set, "key: 'k' ttl { seconds: 0 }", &response), "ttl: must be > 0");
  ExpectError(Call(&KvService::Set, "key: 'k' ttl { seconds: -1 }", &response),
              "ttl: must not be negative");
  ExpectError(Call(&KvService::Set, "key: 'k' ttl { seconds: 3601 }", &response),
              "ttl: 1h1s exceeds max 1h");
  ExpectError(Call(&KvService::Set, "key: 'k' condition: 7", &response),
              "condition: unknown enum value 7");
  for (const char* bad : {"ttl { seconds: 9223372036854775 }", "ttl { nanos: 1000000000 }",
                          "expire_time { seconds: 253402300800 }",   // year 10000
                          "expire_time { seconds: 1767229201 }"}) {  // now + 1h + 1s
    grpc::Status status = Call(&KvService::Set, std::string("key: 'k' ") + bad, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
  }
  EXPECT_FALSE(Get("key: 'k'").found());  // nothing was stored by any of them
}

TEST_F(KvServiceTest, GetTouchSlidesPersistsOrDeletes) {
  Set("key: 'a' value: '1' ttl { seconds: 10 }");
  clock_.AdvanceMs(4000);
  v1::GetResponse slid = Get("key: 'a' ttl { seconds: 10 }");
  EXPECT_EQ(slid.expire_time().seconds(), kStartWallSeconds + 14);
  EXPECT_EQ(GetTtl("a").ttl().seconds(), 10);
  v1::GetResponse persisted = Get("key: 'a' persist: true");
  EXPECT_TRUE(persisted.found());
  EXPECT_FALSE(persisted.has_expire_time());
  EXPECT_EQ(GetTtl("a").state(), v1::KEY_STATE_NO_EXPIRY);
  Expire("key: 'a' ttl { seconds: 30 }");
  v1::GetResponse deleted = Get("key: 'a' delete: true");
  EXPECT_EQ(deleted.value(), "1");
  EXPECT_EQ(deleted.expire_time().seconds(), kStartWallSeconds + 4 + 30);  // as it was
  EXPECT_FALSE(Get("key: 'a'").found());
  Set("key: 'b' value: '1' ttl { seconds: 10 }");
  EXPECT_TRUE(Get("key: 'b' persist: false").has_expire_time());  // false = no touch
}

TEST_F(KvServiceTest, GetDeleteConflictsWithTouch) {
  Set("key: 'a' value: '1'");
  v1::GetResponse response;
  ExpectError(Call(&KvService::Get, "key: 'a' delete: true ttl { seconds: 1 }", &response),
              "delete: conflicts with touch");
  ExpectError(Call(&KvService::Get, "key: 'a' delete: true persist: true", &response),
              "delete: conflicts with touch");
  ExpectError(Call(&KvService::Get, "key: 'a' ttl { }", &response), "ttl: must be > 0");
  EXPECT_TRUE(Get("key: 'a'").found());
}

TEST_F(KvServiceTest, DeleteCountsExistingKeysOnce) {
  Set("key: 'a' value: '1'");
  Set("key: 'b' value: '1'");
  v1::DeleteResponse response;
  ASSERT_TRUE(Call(&KvService::Delete, "keys: ['a', 'a', 'b', 'c']", &response).ok());
  EXPECT_EQ(response.deleted(), 2);
  ExpectError(Call(&KvService::Delete, "", &response), "keys: required");
  ExpectError(Call(&KvService::Delete, "keys: ['a', 'b', 'c', 'd', 'e']", &response),
              "keys: 5 items exceeds max 4");
  ExpectError(Call(&KvService::Delete, "keys: ['a', '']", &response), "keys[1]: required");
}

TEST_F(KvServiceTest, ExpireConditionsFollowRedis) {
  Set("key: 'p' value: '1'");  // persistent: an infinite TTL for GT / LT
  EXPECT_FALSE(Expire("key: 'p' ttl { seconds: 5 } condition: EXPIRE_CONDITION_IF_GREATER"));
  EXPECT_FALSE(Expire("key: 'p' ttl { seconds: 5 } condition: EXPIRE_CONDITION_IF_HAS_EXPIRY"));
  EXPECT_TRUE(Expire("key: 'p' ttl { seconds: 50 } condition: EXPIRE_CONDITION_IF_LESS"));
  EXPECT_FALSE(Expire("key: 'p' ttl { seconds: 5 } condition: EXPIRE_CONDITION_IF_NO_EXPIRY"));
  EXPECT_TRUE(Expire("key: 'p' ttl { seconds: 60 } condition: EXPIRE_CONDITION_IF_GREATER"));
  EXPECT_FALSE(Expire("key: 'p' ttl { seconds: 59 } condition: EXPIRE_CONDITION_IF_GREATER"));
  EXPECT_TRUE(Expire("key: 'p' expire_time { seconds: 1767225610 }"));  // now + 10 s
  v1::GetTtlResponse ttl = GetTtl("p");
  EXPECT_EQ(ttl.state(), v1::KEY_STATE_EXPIRING);
  EXPECT_EQ(ttl.ttl().seconds(), 10);
  EXPECT_EQ(ttl.expire_time().seconds(), kStartWallSeconds + 10);
}

TEST_F(KvServiceTest, ExpireZeroOrPastDeletesUnlessTheConditionFails) {
  Set("key: 'a' value: '1'");
  EXPECT_TRUE(Expire("key: 'a' ttl { }"));  // EXPIRE a 0
  EXPECT_FALSE(Get("key: 'a'").found());
  Set("key: 'b' value: '1'");
  EXPECT_TRUE(Expire("key: 'b' expire_time { seconds: -5 }"));
  EXPECT_FALSE(Get("key: 'b'").found());
  Set("key: 'c' value: '1' ttl { seconds: 10 }");
  // IF_GREATER with a past instant: the condition fails first, the key stays.
  EXPECT_FALSE(
      Expire("key: 'c' expire_time { seconds: 1 } condition: EXPIRE_CONDITION_IF_GREATER"));
  EXPECT_TRUE(Get("key: 'c'").found());
}

TEST_F(KvServiceTest, ExpireErrorsLeaveTheTtlUnchanged) {
  Set("key: 'a' value: '1' ttl { seconds: 10 }");
  v1::ExpireResponse response;
  ExpectError(Call(&KvService::Expire, "key: 'a'", &response),
              "expiry: required (ttl or expire_time)");
  ExpectError(Call(&KvService::Expire, "key: 'a' ttl { seconds: -1 }", &response),
              "ttl: must not be negative");
  ExpectError(Call(&KvService::Expire, "key: 'a' ttl { seconds: 1 } condition: 9", &response),
              "condition: unknown enum value 9");
  for (const char* bad : {"ttl { seconds: 9223372036854775 }", "ttl { seconds: 1 nanos: -1 }",
                          "expire_time { seconds: 253402300799 nanos: 999999999 }",
                          "expire_time { seconds: 1 nanos: -1 }"}) {
    EXPECT_EQ(Call(&KvService::Expire, std::string("key: 'a' ") + bad, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << bad;
  }
  EXPECT_EQ(GetTtl("a").ttl().seconds(), 10);
}

TEST_F(KvServiceTest, PersistAndGetTtlStates) {
  v1::PersistResponse persist;
  ASSERT_TRUE(Call(&KvService::Persist, "key: 'a'", &persist).ok());
  EXPECT_FALSE(persist.applied());  // missing
  Set("key: 'a' value: '1' ttl { seconds: 10 }");
  clock_.AdvanceMs(2500);
  v1::GetTtlResponse ttl = GetTtl("a");
  EXPECT_EQ(ttl.state(), v1::KEY_STATE_EXPIRING);
  EXPECT_EQ(ttl.ttl().seconds(), 7);
  EXPECT_EQ(ttl.ttl().nanos(), 500'000'000);
  ASSERT_TRUE(Call(&KvService::Persist, "key: 'a'", &persist).ok());
  EXPECT_TRUE(persist.applied());
  ttl = GetTtl("a");
  EXPECT_EQ(ttl.state(), v1::KEY_STATE_NO_EXPIRY);
  EXPECT_FALSE(ttl.has_ttl());
  EXPECT_FALSE(ttl.has_expire_time());
  ASSERT_TRUE(Call(&KvService::Persist, "key: 'a'", &persist).ok());
  EXPECT_FALSE(persist.applied());  // already persistent
  ExpectError(Call(&KvService::Persist, "", &persist), "key: required");
  v1::GetTtlResponse response;
  ExpectError(Call(&KvService::GetTtl, "", &response), "key: required");
}

TEST_F(KvServiceTest, KeysExpireOnTheClock) {
  Set("key: 'a' value: '1' ttl { nanos: 1 }");  // 1 ms
  EXPECT_TRUE(Get("key: 'a'").found());
  clock_.AdvanceMs(1);
  EXPECT_FALSE(Get("key: 'a'").found());
  EXPECT_EQ(GetTtl("a").state(), v1::KEY_STATE_NOT_FOUND);
}

TEST_F(KvServiceTest, IncrementCreatesWithTtlOnCreateAndKeepsAnExistingTtl) {
  v1::IncrementResponse response;
  ASSERT_TRUE(
      Call(&KvService::Increment, "key: 'n' delta: 5 ttl_on_create { seconds: 60 }", &response)
          .ok());
  EXPECT_EQ(response.value(), 5);
  EXPECT_EQ(response.expire_time().seconds(), kStartWallSeconds + 60);
  clock_.AdvanceMs(10'000);
  ASSERT_TRUE(
      Call(&KvService::Increment, "key: 'n' delta: -7 ttl_on_create { seconds: 5 }", &response)
          .ok());
  EXPECT_EQ(response.value(), -2);
  EXPECT_EQ(response.expire_time().seconds(), kStartWallSeconds + 60);  // unchanged
  Set("key: 's' value: '41'");
  ASSERT_TRUE(Call(&KvService::Increment, "key: 's' delta: 1", &response).ok());
  EXPECT_EQ(response.value(), 42);
  EXPECT_FALSE(response.has_expire_time());
  EXPECT_EQ(Get("key: 's'").value(), "42");
  ExpectError(Call(&KvService::Increment, "key: 's' delta: 1 ttl_on_create { }", &response),
              "ttl_on_create: must be > 0");
}

TEST_F(KvServiceTest, IncrementOnNonIntegerOrOverflowFailsAndKeepsTheValue) {
  Set("key: 'text' value: 'abc'");
  Set("key: 'max' value: '9223372036854775807'");
  v1::IncrementResponse response;
  EXPECT_EQ(Call(&KvService::Increment, "key: 'text' delta: 1", &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Call(&KvService::Increment, "key: 'max' delta: 1", &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Get("key: 'text'").value(), "abc");
  EXPECT_EQ(Get("key: 'max'").value(), "9223372036854775807");
}

TEST_F(KvServiceTest, BatchRunsEveryOpInOrderAndIsolatesFailures) {
  v1::BatchResponse response;
  ASSERT_TRUE(Call(&KvService::Batch,
                   "ops { set { key: 'a' value: '41' ttl { seconds: 30 } } } "
                   "ops { increment { key: 'a' delta: 1 } } "
                   "ops { set { key: '' value: 'x' } } "
                   "ops { get { key: 'a' } }",
                   &response)
                  .ok());
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_TRUE(response.results(0).set().applied());
  EXPECT_EQ(response.results(1).increment().value(), 42);
  EXPECT_EQ(response.results(1).increment().expire_time().seconds(), kStartWallSeconds + 30);
  ASSERT_TRUE(response.results(2).has_error());
  EXPECT_EQ(response.results(2).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.results(2).error().message(), "key: required");
  EXPECT_EQ(response.results(3).get().value(), "42");

  ASSERT_TRUE(Call(&KvService::Batch,
                   "ops { } "
                   "ops { increment { key: 'a' delta: 9223372036854775807 } } "
                   "ops { delete { keys: ['a', 'zz'] } } "
                   "ops { get_ttl { key: 'a' } }",
                   &response)
                  .ok());
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_EQ(response.results(0).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.results(0).error().message(), "op: required");
  EXPECT_EQ(response.results(1).error().code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(response.results(2).delete_().deleted(), 1);
  EXPECT_EQ(response.results(3).get_ttl().state(), v1::KEY_STATE_NOT_FOUND);

  ASSERT_TRUE(Call(&KvService::Batch,
                   "ops { expire { key: 'b' ttl { seconds: 1 } } } "
                   "ops { persist { key: 'b' } } ",
                   &response)
                  .ok());
  EXPECT_FALSE(response.results(0).expire().applied());
  EXPECT_FALSE(response.results(1).persist().applied());
}

TEST_F(KvServiceTest, BatchOverTheItemLimitFailsAsAWholeAndEmptyIsFine) {
  v1::BatchResponse response;
  ExpectError(Call(&KvService::Batch,
                   "ops { set { key: 'a' } } ops { set { key: 'b' } } ops { set { key: 'c' } } "
                   "ops { set { key: 'd' } } ops { set { key: 'e' } }",
                   &response),
              "ops: 5 items exceeds max 4");
  EXPECT_FALSE(Get("key: 'a'").found());  // no op ran
  ASSERT_TRUE(Call(&KvService::Batch, "", &response).ok());
  EXPECT_EQ(response.results_size(), 0);
}

class SmallKvServiceTest : public KvServiceTest {
 protected:
  SmallKvServiceTest() : KvServiceTest(/*max_memory=*/4096) {}
};

TEST_F(SmallKvServiceTest, WritesAtTheCapAreResourceExhaustedAndReadsWork) {
  int stored = 0;
  grpc::Status status;
  v1::SetResponse response;
  for (; stored < 1000; ++stored) {
    status = Call(&KvService::Set,
                  "key: 'k" + std::to_string(stored) + "' value: '" + std::string(60, 'v') + "'",
                  &response);
    if (!status.ok()) break;
  }
  ASSERT_GT(stored, 0);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Get("key: 'k0'").found());
  // Fill what room is left with entries no larger than the counter below, so it cannot fit.
  for (int i = 0; i < 100000; ++i) {
    status = Call(&KvService::Set, "key: 'z" + std::to_string(i) + "' value: '1'", &response);
    if (!status.ok()) break;
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::IncrementResponse increment;
  EXPECT_EQ(Call(&KvService::Increment, "key: 'new-counter' delta: 1", &increment).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::BatchResponse batch;
  ASSERT_TRUE(Call(&KvService::Batch,
                   "ops { set { key: 'x' value: '" + std::string(60, 'v') +
                       "' } } ops { get { key: 'k0' } }",
                   &batch)
                  .ok());
  EXPECT_EQ(batch.results(0).error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(batch.results(1).get().found());
}

}  // namespace
}  // namespace hourglass::server
