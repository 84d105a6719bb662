// Eviction over real gRPC against the real server: EVICTED events in WatchEvents (for a maxmemory
// shrink and for writes over a small cap), a live shrink under allkeys-lru while writers keep
// writing, noeviction refusing new keys while reads work, the TinyLFU policy through
// UpdateConfig, and session / token indexes that list exactly the survivors of eviction.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hourglass/v1/admin.grpc.pb.h"
#include "hourglass/v1/kv.grpc.pb.h"
#include "hourglass/v1/session.grpc.pb.h"
#include "hourglass/v1/token.grpc.pb.h"
#include "server/domain/member_index.h"
#include "server/domain/routing.h"
#include "server/domain/token_keys.h"
#include "storage/store.h"
#include "tests/integration/test_server.h"

namespace hourglass::testing {
namespace {

namespace v1 = ::hourglass::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * 1024;

// TestConfig under allkeys-lru with the given cap.
server::ServerConfig EvictingConfig(int64_t maxmemory_bytes) {
  server::ServerConfig config = TestConfig();
  config.maxmemory_bytes = static_cast<uint64_t>(maxmemory_bytes);
  config.eviction_policy = storage::EvictionPolicy::kAllKeysLru;
  return config;
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(system_clock::now() + seconds(10));
}

// A WatchEvents stream whose subscription is live once constructed (the server sends the
// headers after subscribing).
class Watch {
 public:
  Watch(v1::AdminService::Stub& admin, std::vector<v1::Space> spaces) {
    context_.set_deadline(system_clock::now() + seconds(30));
    v1::WatchEventsRequest request;
    for (v1::Space space : spaces) request.add_spaces(space);
    reader_ = admin.WatchEvents(&context_, request);
    reader_->WaitForInitialMetadata();
  }
  ~Watch() {
    context_.TryCancel();
    reader_->Finish();
  }

  bool Read(v1::WatchEventsResponse* response) { return reader_->Read(response); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> reader_;
};

class EvictionTest : public ::testing::Test {
 protected:
  void Start(server::ServerConfig config) {
    server_ = std::make_unique<TestServer>(std::move(config));
    admin_ = v1::AdminService::NewStub(server_->channel());
    kv_ = v1::KeyValueService::NewStub(server_->channel());
  }

  grpc::Status Set(v1::KeyValueService::Stub& kv, const std::string& key,
                   const std::string& value) {
    v1::SetRequest request;
    request.set_key(key);
    request.set_value(value);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::SetResponse response;
    return kv.Set(&context, request, &response);
  }
  grpc::Status Set(const std::string& key, const std::string& value) {
    return Set(*kv_, key, value);
  }
  // Whether `key` is present (the call must succeed).
  bool Found(const std::string& key) {
    v1::GetRequest request;
    request.set_key(key);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::GetResponse response;
    grpc::Status status = kv_->Get(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.found();
  }
  v1::GetStatsResponse Stats() {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::GetStatsResponse stats;
    grpc::Status status = admin_->GetStats(&context, {}, &stats);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return stats;
  }
  v1::GetConfigResponse Config() {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::GetConfigResponse config;
    grpc::Status status = admin_->GetConfig(&context, {}, &config);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return config;
  }
  grpc::Status UpdateConfig(std::optional<int64_t> maxmemory_bytes, std::optional<int> policy,
                            v1::UpdateConfigResponse* response = nullptr) {
    v1::UpdateConfigRequest request;
    if (maxmemory_bytes.has_value()) request.set_maxmemory_bytes(*maxmemory_bytes);
    if (policy.has_value()) request.set_eviction_policy(static_cast<v1::EvictionPolicy>(*policy));
    grpc::ClientContext context;
    SetDeadline(context);
    v1::UpdateConfigResponse ignored;
    return admin_->UpdateConfig(&context, request, response != nullptr ? response : &ignored);
  }
  // Polls GetStats until used bytes are <= the cap in force (bounded wait); the last stats.
  v1::GetStatsResponse WaitUnderCap(milliseconds limit = milliseconds(5000)) {
    const auto deadline = steady_clock::now() + limit;
    v1::GetStatsResponse stats = Stats();
    while (stats.used_memory_bytes() > stats.maxmemory_bytes() && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
      stats = Stats();
    }
    EXPECT_LE(stats.used_memory_bytes(), stats.maxmemory_bytes()) << "not under the cap in time";
    return stats;
  }
  // Reads `count` events from `watch`: each must be an EVICTED event of the KV space naming one
  // of `keys`, none twice, none lost. Returns the keys named.
  std::set<std::string> ReadEvictions(Watch& watch, int64_t count,
                                      const std::set<std::string>& keys) {
    std::set<std::string> named;
    for (int64_t i = 0; i < count; ++i) {
      v1::WatchEventsResponse response;
      if (!watch.Read(&response)) {
        ADD_FAILURE() << "stream ended after " << i << " of " << count << " events";
        break;
      }
      EXPECT_EQ(response.event().kind(), v1::EVENT_KIND_EVICTED) << response.event().key();
      EXPECT_EQ(response.event().space(), v1::SPACE_KV) << response.event().key();
      EXPECT_EQ(response.dropped(), 0);
      EXPECT_TRUE(response.event().has_time());
      EXPECT_TRUE(keys.count(response.event().key()) == 1) << response.event().key();
      EXPECT_TRUE(named.insert(response.event().key()).second)
          << "evicted twice: " << response.event().key();
    }
    return named;
  }
  // Checks the survivors, then deletes one of them: the next event on `watch` must be its
  // DELETED event, so nothing else (no extra eviction) was queued before it. (A delete, not a
  // write: a write could itself evict.)
  void ExpectSurvivorsAndNothingElseQueued(Watch& watch, const std::set<std::string>& keys,
                                           const std::set<std::string>& evicted) {
    std::string survivor;
    for (const std::string& key : keys) {
      const bool found = Found(key);
      EXPECT_EQ(found, evicted.count(key) == 0) << key;
      if (found) survivor = key;
    }
    ASSERT_FALSE(survivor.empty());
    v1::DeleteRequest request;
    request.add_keys(survivor);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::DeleteResponse response;
    ASSERT_TRUE(kv_->Delete(&context, request, &response).ok());
    EXPECT_EQ(response.deleted(), 1);
    v1::WatchEventsResponse event;
    ASSERT_TRUE(watch.Read(&event));
    EXPECT_EQ(event.event().kind(), v1::EVENT_KIND_DELETED);
    EXPECT_EQ(event.event().key(), survivor);
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::KeyValueService::Stub> kv_;
};

// ---- EVICTED events ----

TEST_F(EvictionTest, ShrinkingMaxmemoryEvictsAndWatchEventsNamesEveryEvictedKey) {
  Start(EvictingConfig(64 * kMiB));
  Watch watch(*admin_, {v1::SPACE_KV});
  std::set<std::string> keys;
  const std::string value(1000, 'v');
  for (int i = 0; i < 600; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(Set(key, value).ok());
    keys.insert(key);
  }
  const v1::GetStatsResponse before = Stats();
  ASSERT_EQ(before.evicted(), 0);

  // The reclaimer (woken by the shrink) evicts down to the new cap.
  ASSERT_TRUE(UpdateConfig(before.used_memory_bytes() / 2, std::nullopt).ok());
  WaitUnderCap();
  // Stats again: GetStats sums shard by shard, so the call that first saw used bytes under the
  // cap may have missed the last evictions on shards it had already summed. Under the cap and
  // with no writes, nothing is evicted any more.
  const v1::GetStatsResponse after = Stats();
  EXPECT_EQ(after.maxmemory_bytes(), before.used_memory_bytes() / 2);
  ASSERT_GT(after.evicted(), 0);
  ASSERT_LT(after.evicted(), 600);
  EXPECT_EQ(after.spaces(0).keys(), 600 - after.evicted());

  const std::set<std::string> evicted = ReadEvictions(watch, after.evicted(), keys);
  ExpectSurvivorsAndNothingElseQueued(watch, keys, evicted);
}

TEST_F(EvictionTest, WritesOverASmallCapEvictAndWatchEventsNamesEveryEvictedKey) {
  Start(EvictingConfig(256 * kKiB));
  Watch watch(*admin_, {v1::SPACE_KV});
  std::set<std::string> keys;
  const std::string value(1000, 'v');
  for (int i = 0; i < 600; ++i) {  // ~600 KiB into 256 KiB: every write fits by evicting
    const std::string key = "k" + std::to_string(i);
    grpc::Status status = Set(key, value);
    ASSERT_TRUE(status.ok()) << key << ": " << status.error_message();
    keys.insert(key);
  }
  const v1::GetStatsResponse stats = Stats();
  EXPECT_LE(stats.used_memory_bytes(), 256 * kKiB);
  ASSERT_GT(stats.evicted(), 300);
  EXPECT_EQ(stats.spaces(0).keys(), 600 - stats.evicted());
  EXPECT_EQ(stats.rejected_writes(), 0);

  const std::set<std::string> evicted = ReadEvictions(watch, stats.evicted(), keys);
  ExpectSurvivorsAndNothingElseQueued(watch, keys, evicted);
  EXPECT_EQ(evicted.count("k599"), 0u);  // the last write is never its own victim
}

// ---- Live shrink while writing ----

// Writers keep setting new keys while UpdateConfig shrinks maxmemory from 8 MiB to 2 MiB. After
// the shrink: used bytes never rise while above the new cap, reach it within 5 s and stay under
// it while writes continue and succeed; RESOURCE_EXHAUSTED only while still above the cap;
// reads work throughout.
TEST_F(EvictionTest, LiveShrinkUnderWritersConvergesToTheNewCapAndStaysUnderIt) {
  constexpr int64_t kBig = 8 * kMiB;
  constexpr int64_t kSmall = 2 * kMiB;
  Start(EvictingConfig(kBig));
  const std::string value(1000, 'v');

  // Fill until the store is full (it has started evicting).
  int filled = 0;
  for (int batch = 0; batch < 100 && Stats().evicted() == 0; ++batch) {
    v1::BatchRequest request;
    for (int i = 0; i < 200; ++i) {
      v1::SetRequest* set = request.add_ops()->mutable_set();
      set->set_key("fill-" + std::to_string(filled++));
      set->set_value(value);
    }
    grpc::ClientContext context;
    SetDeadline(context);
    v1::BatchResponse response;
    ASSERT_TRUE(kv_->Batch(&context, request, &response).ok());
    for (const v1::BatchResult& result : response.results()) ASSERT_TRUE(result.has_set());
  }
  const v1::GetStatsResponse full = Stats();
  ASSERT_GT(full.evicted(), 0);
  ASSERT_GT(full.used_memory_bytes(), 3 * kSmall);

  std::atomic<bool> stop{false};
  std::atomic<bool> converged{false};  // set once a GetStats saw used <= the new cap
  std::atomic<int64_t> writes_ok{0};
  std::atomic<int64_t> writes_ok_after{0};  // started after convergence
  std::atomic<int64_t> exhausted_before{0};
  std::atomic<int64_t> exhausted_after{0};  // started after convergence: must not happen
  std::atomic<int64_t> other_errors{0};
  std::atomic<int64_t> reads_ok{0};
  std::atomic<int64_t> read_errors{0};
  constexpr int kWriters = 2;
  constexpr int64_t kMaxOpsPerThread = 2'000'000;  // a bound; `stop` ends them long before
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto kv = v1::KeyValueService::NewStub(server_->NewChannel());
      for (int64_t i = 0; i < kMaxOpsPerThread && !stop.load(); ++i) {
        const bool after = converged.load();
        grpc::Status status = Set(*kv, "w" + std::to_string(w) + "-" + std::to_string(i), value);
        if (status.ok()) {
          writes_ok.fetch_add(1);
          if (after) writes_ok_after.fetch_add(1);
        } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                   status.error_message().find("maxmemory") != std::string::npos) {
          (after ? exhausted_after : exhausted_before).fetch_add(1);
        } else {
          if (other_errors.fetch_add(1) == 0) {
            ADD_FAILURE() << status.error_code() << " " << status.error_message();
          }
        }
      }
    });
  }
  threads.emplace_back([&] {
    auto kv = v1::KeyValueService::NewStub(server_->NewChannel());
    for (int64_t i = 0; i < kMaxOpsPerThread && !stop.load(); ++i) {
      v1::GetRequest request;
      request.set_key("fill-" + std::to_string(i % filled));
      grpc::ClientContext context;
      SetDeadline(context);
      v1::GetResponse response;
      (kv->Get(&context, request, &response).ok() ? reads_ok : read_errors).fetch_add(1);
    }
  });

  // Writes are flowing before the shrink.
  for (int i = 0; i < 1000 && writes_ok.load() < 200; ++i)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_GE(writes_ok.load(), 200);
  const int64_t writes_before_shrink = writes_ok.load();
  v1::UpdateConfigResponse updated;
  ASSERT_TRUE(UpdateConfig(kSmall, std::nullopt, &updated).ok());
  EXPECT_EQ(updated.maxmemory_bytes(), kSmall);
  const auto shrunk_at = steady_clock::now();

  // Above the cap: used bytes never rise; they reach the cap within 5 s.
  int64_t previous = full.used_memory_bytes() + kMiB;  // headroom for writes in flight
  int rises = 0;
  int samples_above = 0;
  while (steady_clock::now() < shrunk_at + seconds(5)) {
    const int64_t used = Stats().used_memory_bytes();
    if (used <= kSmall) {
      converged.store(true);
      break;
    }
    ++samples_above;
    if (used > previous) {
      ++rises;
      ADD_FAILURE() << "used bytes rose above the cap: " << previous << " -> " << used;
    }
    previous = used;
  }
  const auto converged_at = steady_clock::now();
  ASSERT_TRUE(converged.load()) << "still above the cap 5 s after the shrink";

  // Under the cap: stays there while writes continue (at least 1 s and 500 more writes).
  int samples_under = 0;
  int over_after = 0;
  while (steady_clock::now() < converged_at + seconds(10) &&
         (steady_clock::now() < converged_at + seconds(1) || writes_ok_after.load() < 500)) {
    const int64_t used = Stats().used_memory_bytes();
    ++samples_under;
    if (used > kSmall) {
      ++over_after;
      ADD_FAILURE() << "above the cap again after converging: " << used;
    }
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();

  const v1::GetStatsResponse end = Stats();
  std::printf(
      "live shrink %lld -> %lld bytes: converged in %lld ms (%d samples above, %d rises); "
      "%d samples after, %d over; writes ok %lld (%lld before the shrink, %lld after "
      "converging), RESOURCE_EXHAUSTED %lld before converging, %lld after; reads ok %lld, "
      "failed %lld; evicted %lld, rejected_writes %lld\n",
      static_cast<long long>(full.used_memory_bytes()), static_cast<long long>(kSmall),
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(converged_at - shrunk_at).count()),
      samples_above, rises, samples_under, over_after, static_cast<long long>(writes_ok.load()),
      static_cast<long long>(writes_before_shrink), static_cast<long long>(writes_ok_after.load()),
      static_cast<long long>(exhausted_before.load()),
      static_cast<long long>(exhausted_after.load()), static_cast<long long>(reads_ok.load()),
      static_cast<long long>(read_errors.load()), static_cast<long long>(end.evicted()),
      static_cast<long long>(end.rejected_writes()));
  EXPECT_GE(writes_ok_after.load(), 500);
  EXPECT_EQ(exhausted_after.load(), 0);
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_GT(reads_ok.load(), 0);
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_LE(end.used_memory_bytes(), kSmall);
  EXPECT_EQ(end.maxmemory_bytes(), kSmall);
  EXPECT_EQ(Config().maxmemory_bytes(), kSmall);
}

// ---- Policy switches ----

TEST_F(EvictionTest, NoevictionRefusesNewKeysKeepsReadsAndAllkeysLruResumesWrites) {
  Start(EvictingConfig(256 * kKiB));
  const std::string value(1000, 'v');
  for (int i = 0; i < 600; ++i) ASSERT_TRUE(Set("k" + std::to_string(i), value).ok());
  ASSERT_GT(Stats().evicted(), 0);  // full

  v1::UpdateConfigResponse updated;
  ASSERT_TRUE(UpdateConfig(std::nullopt, v1::EVICTION_POLICY_NOEVICTION, &updated).ok());
  EXPECT_EQ(updated.eviction_policy(), v1::EVICTION_POLICY_NOEVICTION);
  EXPECT_EQ(Config().eviction_policy(), v1::EVICTION_POLICY_NOEVICTION);
  const v1::GetStatsResponse full = Stats();
  const std::string big(4000, 'b');  // cannot fit in what one eviction left free
  ASSERT_GT(full.used_memory_bytes() + 4000, full.maxmemory_bytes());

  for (int i = 0; i < 20; ++i) {
    grpc::Status status = Set("new" + std::to_string(i), big);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(status.error_message().find("maxmemory"), std::string::npos)
        << status.error_message();
  }
  EXPECT_TRUE(Found("k599"));  // reads work
  const v1::GetStatsResponse refused = Stats();
  EXPECT_EQ(refused.evicted(), full.evicted());  // noeviction evicted nothing
  EXPECT_GE(refused.rejected_writes(), full.rejected_writes() + 20);
  EXPECT_EQ(refused.spaces(0).keys(), full.spaces(0).keys());

  ASSERT_TRUE(UpdateConfig(std::nullopt, v1::EVICTION_POLICY_ALLKEYS_LRU, &updated).ok());
  EXPECT_EQ(updated.eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_LRU);
  EXPECT_EQ(Config().eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_LRU);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(Set("new" + std::to_string(i), big).ok()) << i;
  EXPECT_GT(Stats().evicted(), full.evicted());
  EXPECT_TRUE(Found("new19"));
}

TEST_F(EvictionTest, TinyLfuRoundTripsAndEvictsAndAnUnknownPolicyNamesTheField) {
  Start(EvictingConfig(256 * kKiB));
  v1::UpdateConfigResponse updated;
  ASSERT_TRUE(UpdateConfig(std::nullopt, v1::EVICTION_POLICY_ALLKEYS_TINYLFU, &updated).ok());
  EXPECT_EQ(updated.eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_TINYLFU);
  EXPECT_EQ(updated.maxmemory_bytes(), 256 * kKiB);
  EXPECT_EQ(Config().eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_TINYLFU);

  // Refused whole: neither field applied.
  grpc::Status status = UpdateConfig(128 * kKiB, 99);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("eviction_policy"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("99"), std::string::npos) << status.error_message();
  EXPECT_EQ(Config().eviction_policy(), v1::EVICTION_POLICY_ALLKEYS_TINYLFU);
  EXPECT_EQ(Config().maxmemory_bytes(), 256 * kKiB);

  // It evicts: every write over the cap succeeds.
  const std::string value(1000, 'v');
  for (int i = 0; i < 600; ++i) {
    grpc::Status set = Set("k" + std::to_string(i), value);
    ASSERT_TRUE(set.ok()) << i << ": " << set.error_message();
  }
  const v1::GetStatsResponse stats = Stats();
  EXPECT_GT(stats.evicted(), 0);
  EXPECT_LE(stats.used_memory_bytes(), 256 * kKiB);
}

// ---- Sessions and tokens: the indexes follow eviction ----

// The members of an owner's index ("s:" + user or "t:" + subject), read from the store.
std::set<std::string> IndexMembers(storage::Store& store, const std::string& index_key,
                                   const std::string& owner) {
  const std::string tag = domain::RoutingTag(owner);
  absl::StatusOr<storage::GetResult> got =
      store.Get(storage::KeyRef{storage::Space::kIndex, index_key, tag}, {});
  EXPECT_TRUE(got.ok()) << got.status();
  std::set<std::string> members;
  if (!got.ok() || !got->found) return members;
  for (std::string_view m : domain::DecodeMembers(got->value)) members.emplace(m);
  return members;
}

TEST_F(EvictionTest, SessionsUnderEvictionListExactlyTheLiveOnesAndLeakNoIndexMember) {
  Start(EvictingConfig(512 * kKiB));
  auto sessions = v1::SessionService::NewStub(server_->channel());
  const std::vector<std::string> users = {"alice", "bob", "carol", "dave"};
  std::vector<std::vector<std::string>> created(users.size());
  for (int i = 0; i < 1600; ++i) {  // ~1.6 MiB of sessions into 512 KiB
    const size_t u = i % users.size();
    v1::CreateSessionRequest request;
    request.set_user_id(users[u]);
    (*request.mutable_data())["pad"] = std::string(800, 'p');
    request.mutable_idle_timeout()->set_seconds(3600);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::CreateSessionResponse response;
    grpc::Status status = sessions->CreateSession(&context, request, &response);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    created[u].push_back(response.session().session_id());
  }
  const v1::GetStatsResponse stats = Stats();
  EXPECT_GT(stats.evicted(), 0);
  EXPECT_LE(stats.used_memory_bytes(), 512 * kKiB);

  int64_t live_total = 0;
  for (size_t u = 0; u < users.size(); ++u) {
    std::set<std::string> live;
    for (const std::string& id : created[u]) {
      v1::GetSessionRequest request;
      request.set_session_id(id);
      grpc::ClientContext context;
      SetDeadline(context);
      v1::GetSessionResponse response;
      ASSERT_TRUE(sessions->GetSession(&context, request, &response).ok());
      if (response.found()) live.insert(id);
    }
    EXPECT_GT(live.size(), 0u) << users[u];
    EXPECT_LT(live.size(), created[u].size()) << users[u];
    live_total += static_cast<int64_t>(live.size());

    v1::ListUserSessionsRequest request;
    request.set_user_id(users[u]);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListUserSessionsResponse response;
    ASSERT_TRUE(sessions->ListUserSessions(&context, request, &response).ok());
    std::set<std::string> listed;
    for (const v1::Session& s : response.sessions()) {
      EXPECT_EQ(s.user_id(), users[u]);
      listed.insert(s.session_id());
    }
    EXPECT_EQ(listed, live) << users[u];
    // No leaked member: the index holds exactly the live sessions.
    EXPECT_EQ(IndexMembers(server_->server().store(), "s:" + users[u], users[u]), live) << users[u];
  }
  const v1::GetStatsResponse end = Stats();
  EXPECT_EQ(end.spaces(1).space(), v1::SPACE_SESSION);
  EXPECT_EQ(end.spaces(1).keys(), live_total);
  EXPECT_EQ(static_cast<int64_t>(created[0].size() * users.size()) - live_total, stats.evicted());
}

TEST_F(EvictionTest, TokensUnderEvictionRevokeOnlyTheLiveOnesAndLeakNoIndexMember) {
  Start(EvictingConfig(512 * kKiB));
  auto tokens = v1::TokenService::NewStub(server_->channel());
  const std::vector<std::string> subjects = {"s1", "s2", "s3", "s4"};
  std::vector<std::vector<std::string>> issued(subjects.size());
  for (int i = 0; i < 1600; ++i) {  // ~1.6 MiB of tokens into 512 KiB
    const size_t s = i % subjects.size();
    v1::IssueTokenRequest request;
    request.set_purpose("email-verify");
    request.set_subject(subjects[s]);
    request.set_payload(std::string(800, 'p'));
    request.mutable_ttl()->set_seconds(3600);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::IssueTokenResponse response;
    grpc::Status status = tokens->IssueToken(&context, request, &response);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    issued[s].push_back(response.token());
  }
  const v1::GetStatsResponse stats = Stats();
  EXPECT_GT(stats.evicted(), 0);
  EXPECT_LE(stats.used_memory_bytes(), 512 * kKiB);

  auto verify = [&](const std::string& token) {
    v1::VerifyTokenRequest request;
    request.set_purpose("email-verify");
    request.set_token(token);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::VerifyTokenResponse response;
    EXPECT_TRUE(tokens->VerifyToken(&context, request, &response).ok());
    return response.valid();
  };
  int64_t live_total = 0;
  for (size_t s = 0; s < subjects.size(); ++s) {
    std::set<std::string> live_keys;
    for (const std::string& token : issued[s]) {
      if (verify(token)) live_keys.insert(domain::OpaqueTokenKey(token).key);
    }
    EXPECT_GT(live_keys.size(), 0u) << subjects[s];
    EXPECT_LT(live_keys.size(), issued[s].size()) << subjects[s];
    live_total += static_cast<int64_t>(live_keys.size());
    // No leaked member: the subject index holds exactly the live tokens.
    EXPECT_EQ(IndexMembers(server_->server().store(), "t:" + subjects[s], subjects[s]), live_keys)
        << subjects[s];

    v1::RevokeSubjectTokensRequest request;
    request.set_subject(subjects[s]);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::RevokeSubjectTokensResponse response;
    ASSERT_TRUE(tokens->RevokeSubjectTokens(&context, request, &response).ok());
    EXPECT_EQ(response.revoked(), static_cast<int64_t>(live_keys.size())) << subjects[s];
    for (const std::string& token : issued[s]) EXPECT_FALSE(verify(token));
    EXPECT_TRUE(IndexMembers(server_->server().store(), "t:" + subjects[s], subjects[s]).empty());
  }
  EXPECT_EQ(static_cast<int64_t>(issued[0].size() * subjects.size()) - live_total, stats.evicted());
  const v1::GetStatsResponse end = Stats();
  EXPECT_EQ(end.spaces(2).space(), v1::SPACE_TOKEN);
  EXPECT_EQ(end.spaces(2).keys(), 0);  // all revoked
}

}  // namespace
}  // namespace hourglass::testing
