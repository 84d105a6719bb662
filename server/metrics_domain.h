#pragma once

// DomainMetrics: what the services did, counted by the gRPC adapters (server/*_service.cc) and
// the store's event listener. Every series is created in the constructor, so recording is one
// atomic add on a prometheus::Counter: no lock, no allocation, no label lookup.
//
//   hourglass_sessions_created_total
//   hourglass_sessions_expired_total                         (store EXPIRED events, kSession)
//   hourglass_tokens_issued_total       {format}             opaque | numeric
//   hourglass_tokens_verified_total                          Verify that found a valid token
//   hourglass_tokens_consumed_total                          Consume that used a valid token
//   hourglass_tokens_rejected_total     {operation, reason}  verify | consume;
//                                        not_found | purpose_mismatch | used_up |
//                                        too_many_attempts | wrong_code
//   hourglass_tokens_revoked_total                           RevokeToken + RevokeSubjectTokens
//   hourglass_rate_limit_decisions_total {algorithm, result} fixed_window | sliding_window |
//                                        token_bucket; allowed | denied (one per check)
//   hourglass_cache_lookups_total       {state}              fresh | stale | miss
//   hourglass_cache_fills_total         {result}             applied | refused
//   Envoy RLS: metrics_envoy.h.
//
// Sessions active is a gauge read from the store at scrape time (metrics_store.h). No label
// carries a key, id, token, subject, purpose or descriptor value: every label value above is
// one of a fixed list.
//
// Thread-safety: thread-safe.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>

#include "server/domain/cache.h"
#include "server/domain/rate_limit_types.h"
#include "server/domain/tokens.h"
#include "server/metrics_envoy.h"
#include "storage/store.h"

namespace hourglass::server {

class DomainMetrics {
 public:
  // Adds the families to `registry`, which must outlive this object.
  explicit DomainMetrics(prometheus::Registry& registry);

  void SessionCreated() { sessions_created_->Increment(); }
  void TokenIssued(domain::TokenFormat format);
  // The outcome of VerifyToken (`consume` false) or ConsumeToken.
  void TokenChecked(bool consume, domain::TokenReason reason);
  void TokensRevoked(int64_t count);
  void RateLimitDecision(domain::RateLimitAlgorithm algorithm, bool allowed);
  void CacheLookup(domain::CacheState state);
  void CacheFill(bool applied);
  // Store removals (the store's EventListener fans out here): counts expired sessions.
  void OnStoreEvent(const storage::Event& event);

  EnvoyRlsMetrics& envoy() { return envoy_; }

 private:
  static constexpr int kTokenReasons = 6;  // domain::TokenReason, kOk first
  static constexpr int kAlgorithms = 3;    // domain::RateLimitAlgorithm
  static constexpr int kCacheStates = 3;   // domain::CacheState

  prometheus::Counter* sessions_created_;
  prometheus::Counter* sessions_expired_;
  std::array<prometheus::Counter*, 2> tokens_issued_{};  // opaque, numeric
  prometheus::Counter* tokens_verified_;
  prometheus::Counter* tokens_consumed_;
  // [consume][reason]; the kOk slot is unused.
  std::array<std::array<prometheus::Counter*, kTokenReasons>, 2> tokens_rejected_{};
  prometheus::Counter* tokens_revoked_;
  std::array<std::array<prometheus::Counter*, 2>, kAlgorithms> rate_limit_{};  // [alg][allowed]
  std::array<prometheus::Counter*, kCacheStates> cache_lookups_{};
  std::array<prometheus::Counter*, 2> cache_fills_{};  // refused, applied
  EnvoyRlsMetrics envoy_;
};

}  // namespace hourglass::server
