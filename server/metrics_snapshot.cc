#include "server/metrics_snapshot.h"

#include <prometheus/family.h>

namespace hourglass::server {
namespace {

prometheus::Gauge* NewGauge(prometheus::Registry& registry, const char* name, const char* help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}
prometheus::Counter* NewCounter(prometheus::Registry& registry, const char* name,
                                const char* help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

SnapshotMetrics::SnapshotMetrics(prometheus::Registry& registry)
    : last_success_(NewGauge(registry, "hourglass_snapshot_last_success_timestamp_seconds",
                             "Unix time of the last snapshot written (0: none since start).")),
      failures_(NewCounter(registry, "hourglass_snapshot_failures_total",
                           "Snapshot writes that failed; the previous file is kept.")),
      writes_(NewCounter(registry, "hourglass_snapshot_writes_total",
                         "Snapshot writes that succeeded.")),
      last_duration_(NewGauge(registry, "hourglass_snapshot_last_duration_seconds",
                              "Time the last successful snapshot write took.")),
      last_size_(NewGauge(registry, "hourglass_snapshot_last_size_bytes",
                          "Size of the last snapshot written.")),
      last_keys_(NewGauge(registry, "hourglass_snapshot_last_keys",
                          "Entries in the last snapshot written.")) {}

void SnapshotMetrics::Succeeded(int64_t wall_ms, double seconds, uint64_t bytes, uint64_t keys) {
  last_success_->Set(static_cast<double>(wall_ms) / 1000.0);
  writes_->Increment();
  last_duration_->Set(seconds);
  last_size_->Set(static_cast<double>(bytes));
  last_keys_->Set(static_cast<double>(keys));
}

}  // namespace hourglass::server
