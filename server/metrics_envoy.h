#pragma once

// EnvoyRlsMetrics: ShouldRateLimit outcomes by Envoy domain.
//
//   hourglass_envoy_rls_requests_total           {domain, code}  code: OK | OVER_LIMIT (overall)
//   hourglass_envoy_rls_shadow_over_limit_total  {domain}        shadow-mode descriptors over
//                                                                their limit (reported OK)
//
// `domain` is a domain of the rate limit config (operator-chosen, not client data). A request
// for a domain the config does not have, or beyond the first kMaxDomains domains ever counted,
// is counted under domain="(other)": a client cannot add series.
//
// A domain's series are created the first time it is counted and then found without a lock: the
// domain table is copy-on-write behind an atomic pointer; superseded tables are kept until
// destruction (at most kMaxDomains of them, a few KiB each).
//
// Thread-safety: thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "server/domain/envoy_rate_limiter.h"
#include "storage/mutex.h"

namespace hourglass::server {

class EnvoyRlsMetrics {
 public:
  static constexpr size_t kMaxDomains = 256;
  static constexpr std::string_view kOtherDomain = "(other)";

  // Adds the families to `registry`, which must outlive this object.
  explicit EnvoyRlsMetrics(prometheus::Registry& registry);
  ~EnvoyRlsMetrics();

  // Counts one answered request of `envoy_domain`. `configured` says whether the config in force
  // has the domain; it is asked only while the domain has no series yet.
  void Record(std::string_view envoy_domain, absl::FunctionRef<bool()> configured,
              const domain::EnvoyResponse& response);

 private:
  struct DomainCounters {
    prometheus::Counter* ok;
    prometheus::Counter* over_limit;
    prometheus::Counter* shadow_over;
  };
  using Table = absl::flat_hash_map<std::string, DomainCounters>;

  DomainCounters NewCounters(const std::string& domain);
  // The counters of a configured domain, creating them (under mu_) on first use.
  const DomainCounters& Add(std::string_view domain);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& shadow_over_;
  const DomainCounters other_;
  std::atomic<const Table*> table_;
  storage::Mutex mu_;
  std::vector<std::unique_ptr<const Table>> tables_ ABSL_GUARDED_BY(mu_);  // every table made
};

}  // namespace hourglass::server
