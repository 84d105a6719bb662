#include "server/metrics_store.h"

#include <unistd.h>

#include <cstdio>
#include <limits>
#include <string>
#include <utility>

namespace hourglass::server {
namespace {

using prometheus::MetricType;

prometheus::MetricFamily Family(std::string name, std::string help, MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  prometheus::MetricFamily family = Family(std::move(name), std::move(help), MetricType::Gauge);
  family.metric.emplace_back().gauge.value = value;
  return family;
}

prometheus::MetricFamily Counter(std::string name, std::string help, uint64_t value) {
  prometheus::MetricFamily family = Family(std::move(name), std::move(help), MetricType::Counter);
  family.metric.emplace_back().counter.value = static_cast<double>(value);
  return family;
}

prometheus::MetricFamily Lateness(const storage::LatenessHistogram& lateness) {
  prometheus::MetricFamily family =
      Family("hourglass_expiry_lateness_seconds",
             "How long after their deadline expired keys were reclaimed.", MetricType::Histogram);
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < storage::kLatenessBucketsMs.size(); ++i) {
    cumulative += lateness.counts[i];
    metric.histogram.bucket.push_back(
        {cumulative, static_cast<double>(storage::kLatenessBucketsMs[i]) / 1000.0});
  }
  cumulative += lateness.counts.back();
  metric.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  // The count is the buckets' sum (not `total`, read separately) so +Inf and _count agree.
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = lateness.sum_ms / 1000.0;
  return family;
}

}  // namespace

std::string_view SpaceLabel(storage::Space space) {
  switch (space) {
    case storage::Space::kKv:
      return "kv";
    case storage::Space::kSession:
      return "session";
    case storage::Space::kToken:
      return "token";
    case storage::Space::kRateLimit:
      return "rate_limit";
    case storage::Space::kCache:
      return "cache";
    case storage::Space::kIndex:
      return "index";
  }
  return "kv";
}

std::optional<uint64_t> ProcessResidentBytes() {
  // statm: size resident shared text lib data dt, in pages. One small read; no allocation.
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return std::nullopt;
  unsigned long long size = 0, resident = 0;
  const int fields = std::fscanf(file, "%llu %llu", &size, &resident);
  std::fclose(file);
  const long page = sysconf(_SC_PAGESIZE);
  if (fields != 2 || page <= 0) return std::nullopt;
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(page);
}

std::vector<prometheus::MetricFamily> StoreCollector::Collect() const {
  const storage::StoreStats stats = store_.GetStats();
  std::vector<prometheus::MetricFamily> families;
  families.reserve(13);

  prometheus::MetricFamily keys =
      Family("hourglass_keys",
             "Keys held, by space (a key past its deadline counts until it is reclaimed).",
             MetricType::Gauge);
  prometheus::MetricFamily with_expiry = Family(
      "hourglass_keys_with_expiry", "Keys held that have a deadline, by space.", MetricType::Gauge);
  for (int i = 0; i < storage::kNumSpaces; ++i) {
    const std::string label(SpaceLabel(static_cast<storage::Space>(i)));
    prometheus::ClientMetric& k = keys.metric.emplace_back();
    k.label = {{"space", label}};
    k.gauge.value = static_cast<double>(stats.spaces[i].keys);
    prometheus::ClientMetric& e = with_expiry.metric.emplace_back();
    e.label = {{"space", label}};
    e.gauge.value = static_cast<double>(stats.spaces[i].keys_with_expiry);
  }
  families.push_back(std::move(keys));
  families.push_back(std::move(with_expiry));

  families.push_back(Gauge("hourglass_memory_used_bytes",
                           "Bytes accounted to the store's entries (what --maxmemory caps).",
                           static_cast<double>(stats.used_bytes)));
  families.push_back(Gauge("hourglass_memory_max_bytes", "The store's byte cap (--maxmemory).",
                           static_cast<double>(stats.max_bytes)));
  families.push_back(Counter("hourglass_expired_keys_total",
                             "Keys removed because their deadline passed.", stats.expired));
  families.push_back(Counter("hourglass_evicted_keys_total",
                             "Keys evicted to make room under --maxmemory.", stats.evicted));
  families.push_back(Counter("hourglass_rejected_writes_total",
                             "Writes refused with RESOURCE_EXHAUSTED for lack of memory.",
                             stats.rejected_writes));
  families.push_back(
      Counter("hourglass_keyspace_hits_total", "Key lookups that found the key.", stats.hits));
  families.push_back(Counter("hourglass_keyspace_misses_total",
                             "Key lookups that did not find the key.", stats.misses));
  families.push_back(Lateness(stats.lateness));
  families.push_back(
      Gauge("hourglass_sessions_active",
            "Sessions held (one past its deadline counts until it is reclaimed).",
            static_cast<double>(stats.spaces[static_cast<int>(storage::Space::kSession)].keys)));
  if (std::optional<uint64_t> rss = ProcessResidentBytes(); rss.has_value()) {
    families.push_back(Gauge("hourglass_process_resident_memory_bytes",
                             "Resident set size of the hourglass process.",
                             static_cast<double>(*rss)));
  }
  return families;
}

}  // namespace hourglass::server
