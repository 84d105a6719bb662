#include "server/metrics_domain.h"

#include <prometheus/family.h>

#include <string>

namespace hourglass::server {
namespace {

using Counters = prometheus::Family<prometheus::Counter>;

Counters& NewFamily(prometheus::Registry& registry, const std::string& name,
                    const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

// Label values, indexed by the domain enums' values.
constexpr const char* kTokenReasonNames[] = {"ok",      "not_found",         "purpose_mismatch",
                                             "used_up", "too_many_attempts", "wrong_code"};
constexpr const char* kAlgorithmNames[] = {"fixed_window", "sliding_window", "token_bucket"};
constexpr const char* kCacheStateNames[] = {"miss", "fresh", "stale"};

static_assert(static_cast<int>(domain::TokenReason::kWrongCode) == 5);
static_assert(static_cast<int>(domain::RateLimitAlgorithm::kTokenBucket) == 2);
static_assert(static_cast<int>(domain::CacheState::kMiss) == 0 &&
              static_cast<int>(domain::CacheState::kStale) == 2);

}  // namespace

DomainMetrics::DomainMetrics(prometheus::Registry& registry) : envoy_(registry) {
  sessions_created_ =
      &NewFamily(registry, "hourglass_sessions_created_total", "Sessions created by CreateSession.")
           .Add({});
  sessions_expired_ = &NewFamily(registry, "hourglass_sessions_expired_total",
                                 "Sessions removed by their idle or absolute expiry.")
                           .Add({});

  Counters& issued = NewFamily(registry, "hourglass_tokens_issued_total",
                               "Tokens issued by IssueToken, by format.");
  tokens_issued_ = {&issued.Add({{"format", "opaque"}}), &issued.Add({{"format", "numeric"}})};
  tokens_verified_ = &NewFamily(registry, "hourglass_tokens_verified_total",
                                "VerifyToken calls that found a valid token.")
                          .Add({});
  tokens_consumed_ = &NewFamily(registry, "hourglass_tokens_consumed_total",
                                "ConsumeToken calls that used a valid token.")
                          .Add({});
  Counters& rejected =
      NewFamily(registry, "hourglass_tokens_rejected_total",
                "VerifyToken and ConsumeToken calls answered not valid, by operation and reason.");
  for (int consume = 0; consume < 2; ++consume) {
    for (int reason = 1; reason < kTokenReasons; ++reason) {
      tokens_rejected_[consume][reason] = &rejected.Add(
          {{"operation", consume ? "consume" : "verify"}, {"reason", kTokenReasonNames[reason]}});
    }
  }
  tokens_revoked_ = &NewFamily(registry, "hourglass_tokens_revoked_total",
                               "Tokens revoked by RevokeToken and RevokeSubjectTokens.")
                         .Add({});

  Counters& decisions =
      NewFamily(registry, "hourglass_rate_limit_decisions_total",
                "RateLimitService checks (one per check of a batch), by algorithm and result.");
  for (int algorithm = 0; algorithm < kAlgorithms; ++algorithm) {
    for (int allowed = 0; allowed < 2; ++allowed) {
      rate_limit_[algorithm][allowed] = &decisions.Add(
          {{"algorithm", kAlgorithmNames[algorithm]}, {"result", allowed ? "allowed" : "denied"}});
    }
  }

  Counters& lookups = NewFamily(registry, "hourglass_cache_lookups_total",
                                "CacheService lookups, by the state of the entry.");
  for (int state = 0; state < kCacheStates; ++state) {
    cache_lookups_[state] = &lookups.Add({{"state", kCacheStateNames[state]}});
  }
  Counters& fills = NewFamily(registry, "hourglass_cache_fills_total",
                              "CacheService fills, by whether the value was stored.");
  cache_fills_ = {&fills.Add({{"result", "refused"}}), &fills.Add({{"result", "applied"}})};
}

void DomainMetrics::TokenIssued(domain::TokenFormat format) {
  tokens_issued_[format == domain::TokenFormat::kNumeric ? 1 : 0]->Increment();
}

void DomainMetrics::TokenChecked(bool consume, domain::TokenReason reason) {
  if (reason == domain::TokenReason::kOk) {
    (consume ? tokens_consumed_ : tokens_verified_)->Increment();
    return;
  }
  const int index = static_cast<int>(reason);
  if (index > 0 && index < kTokenReasons) tokens_rejected_[consume ? 1 : 0][index]->Increment();
}

void DomainMetrics::TokensRevoked(int64_t count) {
  if (count > 0) tokens_revoked_->Increment(static_cast<double>(count));
}

void DomainMetrics::RateLimitDecision(domain::RateLimitAlgorithm algorithm, bool allowed) {
  const int index = static_cast<int>(algorithm);
  if (index >= 0 && index < kAlgorithms) rate_limit_[index][allowed ? 1 : 0]->Increment();
}

void DomainMetrics::CacheLookup(domain::CacheState state) {
  const int index = static_cast<int>(state);
  if (index >= 0 && index < kCacheStates) cache_lookups_[index]->Increment();
}

void DomainMetrics::CacheFill(bool applied) { cache_fills_[applied ? 1 : 0]->Increment(); }

void DomainMetrics::OnStoreEvent(const storage::Event& event) {
  if (event.kind == storage::EventKind::kExpired && event.space == storage::Space::kSession) {
    sessions_expired_->Increment();
  }
}

}  // namespace hourglass::server
