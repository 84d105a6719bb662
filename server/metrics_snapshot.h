#pragma once

// SnapshotMetrics: how snapshot writes go (Snapshotter records them). Every series exists from
// start-up, with or without --snapshot_path:
//
//   hourglass_snapshot_last_success_timestamp_seconds  gauge    Unix time of the last snapshot
//                                                               written (0: none since start)
//   hourglass_snapshot_failures_total                  counter  writes that failed (the
//                                                               previous file is kept)
//   hourglass_snapshot_writes_total                    counter  writes that succeeded
//   hourglass_snapshot_last_duration_seconds           gauge    time the last success took
//   hourglass_snapshot_last_size_bytes                 gauge    its file size
//   hourglass_snapshot_last_keys                       gauge    entries it holds
//
// Thread-safety: thread-safe.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>

namespace hourglass::server {

class SnapshotMetrics {
 public:
  // Adds the families to `registry`, which must outlive this object.
  explicit SnapshotMetrics(prometheus::Registry& registry);

  void Succeeded(int64_t wall_ms, double seconds, uint64_t bytes, uint64_t keys);
  void Failed() { failures_->Increment(); }

 private:
  prometheus::Gauge* last_success_;
  prometheus::Counter* failures_;
  prometheus::Counter* writes_;
  prometheus::Gauge* last_duration_;
  prometheus::Gauge* last_size_;
  prometheus::Gauge* last_keys_;
};

}  // namespace hourglass::server
