// Store and domain metrics: the store's state read at scrape time (keys by space, memory,
// expirations and their lateness), the domain counters as the adapters bump them (through
// DefaultReactorTestPeer, over a real store on a FakeClock), the Envoy domain label's bound, and
// that no label ever carries a key, id, token or subject.

#include "server/metrics.h"

#include <grpcpp/test/default_reactor_test_peer.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metrics_test_util.h"
#include "server/cache_service.h"
#include "server/metrics_domain.h"
#include "server/metrics_envoy.h"
#include "server/metrics_store.h"
#include "server/ratelimit_service.h"
#include "server/session_service.h"
#include "server/token_service.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;
using storage::FakeClock;
using testing::ParseSamples;
using testing::Scrape;

std::unique_ptr<storage::Store> NewStore(FakeClock& clock, storage::EventListener listener = {}) {
  storage::Store::Options options;
  options.clock = &clock;
  options.shards = 4;
  options.max_memory_bytes = 8 << 20;
  options.reclaim_interval_ms = 0;
  options.listener = std::move(listener);
  auto store = storage::Store::Create(std::move(options));
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(store).value();
}

// Runs one unary handler the way gRPC would; returns the status it finished with.
template <typename Service, typename Request, typename Response>
grpc::Status Call(Service& service,
                  grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*,
                                                               const Request*, Response*),
                  const Request& request, Response* response) {
  grpc::CallbackServerContext context;
  grpc::testing::DefaultReactorTestPeer peer(&context);
  (service.*method)(&context, &request, response);
  EXPECT_TRUE(peer.test_status_set());
  return peer.test_status();
}

TEST(StoreCollectorTest, ReportsKeysMemoryExpiryAndLatenessAtScrapeTime) {
  FakeClock clock;
  auto store = NewStore(clock);
  auto collector = std::make_shared<StoreCollector>(*store);
  ASSERT_TRUE(store->Set({storage::Space::kKv, "a"}, "1").ok());
  storage::SetOptions with_ttl;
  with_ttl.expiry = storage::Expiry::Ttl(1000);
  ASSERT_TRUE(store->Set({storage::Space::kKv, "b"}, "2", with_ttl).ok());
  ASSERT_TRUE(store->Set({storage::Space::kCache, "c"}, "3", with_ttl).ok());

  auto samples = Scrape({collector});
  EXPECT_EQ(samples.at("hourglass_keys{space=\"kv\"}"), 2);
  EXPECT_EQ(samples.at("hourglass_keys_with_expiry{space=\"kv\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_keys{space=\"cache\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_keys{space=\"session\"}"), 0);
  EXPECT_EQ(samples.at("hourglass_keys{space=\"index\"}"), 0);
  EXPECT_EQ(samples.at("hourglass_memory_max_bytes"), 8 << 20);
  EXPECT_GT(samples.at("hourglass_memory_used_bytes"), 0);
  EXPECT_EQ(samples.at("hourglass_expired_keys_total"), 0);
  EXPECT_GT(samples.at("hourglass_process_resident_memory_bytes"), 0);

  const double hits = samples.at("hourglass_keyspace_hits_total");
  const double misses = samples.at("hourglass_keyspace_misses_total");
  ASSERT_TRUE(store->Get({storage::Space::kKv, "a"}).ok());
  ASSERT_TRUE(store->Get({storage::Space::kKv, "nope"}).ok());

  // 300 ms past the deadline, then one reclaim step: two expirations, 300 ms late.
  clock.AdvanceMs(1300);
  store->RunReclaimStep();
  store->SetMaxMemory(16 << 20);
  samples = Scrape({collector});
  EXPECT_EQ(samples.at("hourglass_keyspace_hits_total"), hits + 1);
  EXPECT_EQ(samples.at("hourglass_keyspace_misses_total"), misses + 1);
  EXPECT_EQ(samples.at("hourglass_keys{space=\"kv\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_keys{space=\"cache\"}"), 0);
  EXPECT_EQ(samples.at("hourglass_expired_keys_total"), 2);
  EXPECT_EQ(samples.at("hourglass_memory_max_bytes"), 16 << 20);
  EXPECT_EQ(samples.at("hourglass_expiry_lateness_seconds_count"), 2);
  EXPECT_EQ(samples.at("hourglass_expiry_lateness_seconds_bucket{le=\"0.25\"}"), 0);
  EXPECT_EQ(samples.at("hourglass_expiry_lateness_seconds_bucket{le=\"0.5\"}"), 2);
  EXPECT_EQ(samples.at("hourglass_expiry_lateness_seconds_bucket{le=\"+Inf\"}"), 2);
  EXPECT_DOUBLE_EQ(samples.at("hourglass_expiry_lateness_seconds_sum"), 0.6);
}

TEST(StoreCollectorTest, SpaceLabelsAreFixedNames) {
  EXPECT_EQ(SpaceLabel(storage::Space::kKv), "kv");
  EXPECT_EQ(SpaceLabel(storage::Space::kSession), "session");
  EXPECT_EQ(SpaceLabel(storage::Space::kToken), "token");
  EXPECT_EQ(SpaceLabel(storage::Space::kRateLimit), "rate_limit");
  EXPECT_EQ(SpaceLabel(storage::Space::kCache), "cache");
  EXPECT_EQ(SpaceLabel(storage::Space::kIndex), "index");
  ASSERT_TRUE(ProcessResidentBytes().has_value());
  EXPECT_GT(*ProcessResidentBytes(), 1u << 20);
}

TEST(EnvoyRlsMetricsTest, ConfiguredDomainsGetSeriesOthersShareOne) {
  auto registry = std::make_shared<prometheus::Registry>();
  EnvoyRlsMetrics metrics(*registry);
  domain::EnvoyResponse ok;
  ok.statuses.resize(2);
  ok.statuses[1].shadow_over = true;
  domain::EnvoyResponse over;
  over.overall_code = domain::EnvoyCode::kOverLimit;
  over.statuses.resize(1);

  int asked = 0;
  auto configured = [&] {
    ++asked;
    return true;
  };
  metrics.Record("edge", configured, ok);
  metrics.Record("edge", configured, over);
  metrics.Record("edge", configured, ok);
  EXPECT_EQ(asked, 1);  // the config is consulted once per new domain
  metrics.Record(
      "client-made-up", [] { return false; }, over);
  metrics.Record(
      "another", [] { return false; }, ok);

  const auto samples = Scrape({registry});
  EXPECT_EQ(samples.at("hourglass_envoy_rls_requests_total{code=\"OK\",domain=\"edge\"}"), 2);
  EXPECT_EQ(samples.at("hourglass_envoy_rls_requests_total{code=\"OVER_LIMIT\",domain=\"edge\"}"),
            1);
  EXPECT_EQ(samples.at("hourglass_envoy_rls_shadow_over_limit_total{domain=\"edge\"}"), 2);
  EXPECT_EQ(
      samples.at("hourglass_envoy_rls_requests_total{code=\"OVER_LIMIT\",domain=\"(other)\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_envoy_rls_requests_total{code=\"OK\",domain=\"(other)\"}"), 1);
  EXPECT_EQ(RenderMetrics({registry}).find("client-made-up"), std::string::npos);
}

TEST(EnvoyRlsMetricsTest, DomainSeriesAreBounded) {
  auto registry = std::make_shared<prometheus::Registry>();
  EnvoyRlsMetrics metrics(*registry);
  domain::EnvoyResponse ok;
  for (size_t i = 0; i < EnvoyRlsMetrics::kMaxDomains + 10; ++i) {
    metrics.Record(
        "d" + std::to_string(i), [] { return true; }, ok);
  }
  const auto samples = Scrape({registry});
  size_t domains = 0;
  for (const auto& [series, value] : samples) {
    if (series.rfind("hourglass_envoy_rls_shadow_over_limit_total{", 0) == 0) ++domains;
  }
  EXPECT_EQ(domains, EnvoyRlsMetrics::kMaxDomains + 1);  // + "(other)"
  EXPECT_EQ(samples.at("hourglass_envoy_rls_requests_total{code=\"OK\",domain=\"(other)\"}"), 10);
}

// The adapters with DomainMetrics, over one store whose listener also feeds the metrics.
class DomainMetricsTest : public ::testing::Test {
 protected:
  DomainMetricsTest()
      : registry_(std::make_shared<prometheus::Registry>()),
        metrics_(*registry_),
        store_(NewStore(clock_,
                        [this](const storage::Event& event) { metrics_.OnStoreEvent(event); })),
        sessions_(*store_, Limits(), &metrics_),
        tokens_(*store_, Limits(), &metrics_),
        limits_(*store_, Limits(), &metrics_),
        cache_(std::make_shared<domain::Cache>(*store_), Limits(), &metrics_) {}

  std::map<std::string, double> Samples() { return Scrape({registry_}); }

  FakeClock clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  DomainMetrics metrics_;
  std::unique_ptr<storage::Store> store_;
  SessionService sessions_;
  TokenService tokens_;
  RateLimitService limits_;
  CacheService cache_;
};

TEST_F(DomainMetricsTest, SessionsCreatedAndExpired) {
  v1::CreateSessionRequest create;
  create.set_user_id("alice@example.com");
  create.mutable_idle_timeout()->set_seconds(10);
  v1::CreateSessionResponse created;
  ASSERT_TRUE(Call(sessions_, &SessionService::CreateSession, create, &created).ok());
  ASSERT_TRUE(Call(sessions_, &SessionService::CreateSession, create, &created).ok());
  v1::CreateSessionRequest bad;  // no user_id: refused, not counted
  ASSERT_FALSE(Call(sessions_, &SessionService::CreateSession, bad, &created).ok());
  EXPECT_EQ(Samples().at("hourglass_sessions_created_total"), 2);
  EXPECT_EQ(Samples().at("hourglass_sessions_expired_total"), 0);

  clock_.AdvanceMs(11'000);
  store_->RunReclaimStep();
  const auto samples = Samples();
  EXPECT_EQ(samples.at("hourglass_sessions_expired_total"), 2);
  const std::string text = RenderMetrics({registry_});
  EXPECT_EQ(text.find("alice"), std::string::npos);
  EXPECT_EQ(text.find(created.session().session_id()), std::string::npos);
}

TEST_F(DomainMetricsTest, TokenOutcomesByOperationAndReason) {
  v1::IssueTokenRequest issue;
  issue.set_purpose("password-reset");
  issue.set_subject("bob");
  issue.mutable_ttl()->set_seconds(60);
  v1::IssueTokenResponse issued;
  ASSERT_TRUE(Call(tokens_, &TokenService::IssueToken, issue, &issued).ok());
  issue.set_format(v1::TOKEN_FORMAT_NUMERIC);
  v1::IssueTokenResponse code;
  ASSERT_TRUE(Call(tokens_, &TokenService::IssueToken, issue, &code).ok());

  v1::VerifyTokenRequest verify;
  verify.set_purpose("password-reset");
  verify.set_token(issued.token());
  v1::VerifyTokenResponse verified;
  ASSERT_TRUE(Call(tokens_, &TokenService::VerifyToken, verify, &verified).ok());
  v1::ConsumeTokenRequest consume;
  consume.set_purpose("password-reset");
  consume.set_token(issued.token());
  v1::ConsumeTokenResponse consumed;
  ASSERT_TRUE(Call(tokens_, &TokenService::ConsumeToken, consume, &consumed).ok());
  ASSERT_TRUE(consumed.valid());
  ASSERT_TRUE(Call(tokens_, &TokenService::ConsumeToken, consume, &consumed).ok());
  ASSERT_FALSE(consumed.valid());
  consume.set_purpose("other");
  ASSERT_TRUE(Call(tokens_, &TokenService::ConsumeToken, consume, &consumed).ok());
  verify.set_token(code.token() == "000000" ? "111111" : "000000");
  verify.set_subject("bob");
  ASSERT_TRUE(Call(tokens_, &TokenService::VerifyToken, verify, &verified).ok());
  ASSERT_EQ(verified.reason(), v1::TOKEN_REASON_WRONG_CODE);

  v1::RevokeSubjectTokensRequest revoke;
  revoke.set_subject("bob");
  v1::RevokeSubjectTokensResponse revoked;
  ASSERT_TRUE(Call(tokens_, &TokenService::RevokeSubjectTokens, revoke, &revoked).ok());

  const auto samples = Samples();
  EXPECT_EQ(samples.at("hourglass_tokens_issued_total{format=\"opaque\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_tokens_issued_total{format=\"numeric\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_tokens_verified_total"), 1);
  EXPECT_EQ(samples.at("hourglass_tokens_consumed_total"), 1);
  EXPECT_EQ(samples.at("hourglass_tokens_rejected_total{operation=\"consume\",reason=\"used_up\"}"),
            1);
  EXPECT_EQ(samples.at("hourglass_tokens_rejected_total{operation=\"consume\","
                       "reason=\"purpose_mismatch\"}"),
            1);
  EXPECT_EQ(
      samples.at("hourglass_tokens_rejected_total{operation=\"verify\",reason=\"wrong_code\"}"), 1);
  EXPECT_EQ(
      samples.at("hourglass_tokens_rejected_total{operation=\"verify\",reason=\"not_found\"}"), 0);
  EXPECT_EQ(samples.at("hourglass_tokens_revoked_total"), static_cast<double>(revoked.revoked()));
  const std::string text = RenderMetrics({registry_});
  for (const std::string& secret :
       {issued.token(), code.token(), std::string("bob"), std::string("password-reset")}) {
    EXPECT_EQ(text.find("\"" + secret + "\""), std::string::npos) << secret;
  }
}

TEST_F(DomainMetricsTest, RateLimitDecisionsByAlgorithmAndResult) {
  v1::CheckRateLimitRequest check;
  check.set_key("login:10.0.0.1");
  check.set_limit(2);
  check.mutable_period()->set_seconds(60);
  v1::CheckRateLimitResponse decision;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Call(limits_, &RateLimitService::CheckRateLimit, check, &decision).ok());
  }
  v1::CheckRateLimitsRequest batch;
  for (auto algorithm :
       {v1::RATE_LIMIT_ALGORITHM_SLIDING_WINDOW, v1::RATE_LIMIT_ALGORITHM_TOKEN_BUCKET}) {
    v1::RateLimitCheck* c = batch.add_checks();
    c->set_key("user:1");
    c->set_limit(1);
    c->mutable_period()->set_seconds(60);
    c->set_algorithm(algorithm);
  }
  v1::CheckRateLimitsResponse decisions;
  ASSERT_TRUE(Call(limits_, &RateLimitService::CheckRateLimits, batch, &decisions).ok());
  ASSERT_TRUE(Call(limits_, &RateLimitService::CheckRateLimits, batch, &decisions).ok());

  const auto samples = Samples();
  const std::string name = "hourglass_rate_limit_decisions_total";
  EXPECT_EQ(samples.at(name + "{algorithm=\"fixed_window\",result=\"allowed\"}"), 2);
  EXPECT_EQ(samples.at(name + "{algorithm=\"fixed_window\",result=\"denied\"}"), 1);
  EXPECT_EQ(samples.at(name + "{algorithm=\"sliding_window\",result=\"allowed\"}"), 1);
  EXPECT_EQ(samples.at(name + "{algorithm=\"sliding_window\",result=\"denied\"}"), 1);
  EXPECT_EQ(samples.at(name + "{algorithm=\"token_bucket\",result=\"allowed\"}"), 1);
  EXPECT_EQ(samples.at(name + "{algorithm=\"token_bucket\",result=\"denied\"}"), 1);
  EXPECT_EQ(RenderMetrics({registry_}).find("10.0.0.1"), std::string::npos);
}

TEST_F(DomainMetricsTest, CacheLookupsByStateAndFills) {
  v1::LookupRequest lookup;
  lookup.set_key("feed:1");
  v1::LookupResponse found;
  ASSERT_TRUE(Call(cache_, &CacheService::Lookup, lookup, &found).ok());
  ASSERT_EQ(found.state(), v1::CACHE_STATE_MISS);
  v1::FillRequest fill;
  fill.set_key("feed:1");
  fill.set_value("[]");
  fill.mutable_fresh_for()->set_seconds(1);
  fill.mutable_stale_for()->set_seconds(10);
  fill.set_lease_id(found.lease_id());
  v1::FillResponse filled;
  ASSERT_TRUE(Call(cache_, &CacheService::Fill, fill, &filled).ok());
  ASSERT_TRUE(filled.applied());
  ASSERT_TRUE(Call(cache_, &CacheService::Lookup, lookup, &found).ok());
  ASSERT_EQ(found.state(), v1::CACHE_STATE_FRESH);
  clock_.AdvanceMs(2000);
  ASSERT_TRUE(Call(cache_, &CacheService::Lookup, lookup, &found).ok());
  ASSERT_EQ(found.state(), v1::CACHE_STATE_STALE);
  fill.set_lease_id("not-a-lease");
  ASSERT_TRUE(Call(cache_, &CacheService::Fill, fill, &filled).ok());
  ASSERT_FALSE(filled.applied());

  const auto samples = Samples();
  EXPECT_EQ(samples.at("hourglass_cache_lookups_total{state=\"miss\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_cache_lookups_total{state=\"fresh\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_cache_lookups_total{state=\"stale\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_cache_fills_total{result=\"applied\"}"), 1);
  EXPECT_EQ(samples.at("hourglass_cache_fills_total{result=\"refused\"}"), 1);
}

TEST(MetricsTest, EveryNameIsPrefixedAndNoSeriesIsMissingItsHelp) {
  FakeClock clock;
  auto store = NewStore(clock);
  Metrics metrics({"hourglass.v1.KeyValueService"});
  auto collectables = metrics.collectables();
  collectables.push_back(std::make_shared<StoreCollector>(*store));
  const std::string text = RenderMetrics(collectables);
  for (const auto& [series, value] : ParseSamples(text)) {
    const std::string name = series.substr(0, series.find('{'));
    EXPECT_TRUE(name.rfind("hourglass_", 0) == 0 || name.rfind("grpc_server_", 0) == 0) << name;
  }
  EXPECT_NE(text.find("# HELP hourglass_sessions_active "), std::string::npos);
  EXPECT_NE(text.find("# TYPE grpc_server_handling_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("# TYPE hourglass_tokens_rejected_total counter"), std::string::npos);
}

}  // namespace
}  // namespace hourglass::server
