#include "server/metrics_envoy.h"

#include <utility>

namespace hourglass::server {

EnvoyRlsMetrics::EnvoyRlsMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("hourglass_envoy_rls_requests_total")
                    .Help("Envoy ShouldRateLimit requests answered, by config domain and overall "
                          "code.")
                    .Register(registry)),
      shadow_over_(prometheus::BuildCounter()
                       .Name("hourglass_envoy_rls_shadow_over_limit_total")
                       .Help("Envoy descriptors in shadow mode that were over their limit "
                             "(answered OK).")
                       .Register(registry)),
      other_(NewCounters(std::string(kOtherDomain))) {
  auto empty = std::make_unique<const Table>();
  table_.store(empty.get(), std::memory_order_release);
  storage::MutexLock lock(&mu_);
  tables_.push_back(std::move(empty));
}

EnvoyRlsMetrics::~EnvoyRlsMetrics() = default;

EnvoyRlsMetrics::DomainCounters EnvoyRlsMetrics::NewCounters(const std::string& domain) {
  return DomainCounters{
      .ok = &requests_.Add({{"domain", domain}, {"code", "OK"}}),
      .over_limit = &requests_.Add({{"domain", domain}, {"code", "OVER_LIMIT"}}),
      .shadow_over = &shadow_over_.Add({{"domain", domain}}),
  };
}

const EnvoyRlsMetrics::DomainCounters& EnvoyRlsMetrics::Add(std::string_view domain) {
  storage::MutexLock lock(&mu_);
  const Table& current = *table_.load(std::memory_order_acquire);
  const absl::string_view key(domain.data(), domain.size());
  if (auto it = current.find(key); it != current.end()) return it->second;  // lost a race
  if (current.size() >= kMaxDomains) return other_;
  // Copy-on-write: readers keep using the old table (kept alive in tables_) until they reload.
  auto next = std::make_unique<Table>(current);
  auto [it, inserted] = next->emplace(std::string(domain), NewCounters(std::string(domain)));
  const DomainCounters& counters = it->second;
  table_.store(next.get(), std::memory_order_release);
  tables_.push_back(std::move(next));
  return counters;
}

void EnvoyRlsMetrics::Record(std::string_view envoy_domain, absl::FunctionRef<bool()> configured,
                             const domain::EnvoyResponse& response) {
  const Table& table = *table_.load(std::memory_order_acquire);
  const DomainCounters* counters = nullptr;
  if (auto it = table.find(absl::string_view(envoy_domain.data(), envoy_domain.size()));
      it != table.end()) {
    counters = &it->second;
  } else {
    counters = configured() ? &Add(envoy_domain) : &other_;
  }
  (response.overall_code == domain::EnvoyCode::kOverLimit ? counters->over_limit : counters->ok)
      ->Increment();
  for (const domain::EnvoyDescriptorStatus& status : response.statuses) {
    if (status.shadow_over) counters->shadow_over->Increment();
  }
}

}  // namespace hourglass::server
