#pragma once

// AdminService: hourglass.v1.AdminService — statistics, live configuration, the key-event
// stream, snapshots.
//
// A thin adapter over storage::Store (GetStats, SetMaxMemory, SetEvictionPolicy) and EventHub
// (WatchEvents, one WatchEventsReactor per stream). GetStats reports the five public spaces; the
// internal index space is not listed but its bytes count in used_memory_bytes. SaveSnapshot
// queues a write on the Snapshotter's thread and answers when it is done (the gRPC thread is
// not blocked by the disk).
//
// Thread-safety: thread-safe. UpdateConfig calls are serialised so each response reports the
// configuration its own change produced.

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "hourglass/v1/admin.grpc.pb.h"
#include "server/event_hub.h"
#include "server/snapshot.h"
#include "storage/mutex.h"
#include "storage/store.h"

namespace hourglass::server {

class AdminService final : public hourglass::v1::AdminService::CallbackService {
 public:
  // Undelivered events a WatchEvents stream may hold before it drops (about 1024 x (key + 64)
  // bytes at most per stream).
  static constexpr size_t kWatchBufferEvents = 1024;

  // `store`, `events` and `snapshots` (null without --snapshot_path: SaveSnapshot is then
  // FAILED_PRECONDITION) must outlive the service. Uptime counts from this construction.
  AdminService(storage::Store& store, EventHub& events, Snapshotter* snapshots = nullptr);

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const hourglass::v1::GetStatsRequest* request,
                                     hourglass::v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* GetConfig(grpc::CallbackServerContext* context,
                                      const hourglass::v1::GetConfigRequest* request,
                                      hourglass::v1::GetConfigResponse* response) override;
  grpc::ServerUnaryReactor* UpdateConfig(grpc::CallbackServerContext* context,
                                         const hourglass::v1::UpdateConfigRequest* request,
                                         hourglass::v1::UpdateConfigResponse* response) override;
  grpc::ServerWriteReactor<hourglass::v1::WatchEventsResponse>* WatchEvents(
      grpc::CallbackServerContext* context,
      const hourglass::v1::WatchEventsRequest* request) override;
  grpc::ServerUnaryReactor* SaveSnapshot(grpc::CallbackServerContext* context,
                                         const hourglass::v1::SaveSnapshotRequest* request,
                                         hourglass::v1::SaveSnapshotResponse* response) override;

 private:
  absl::Status DoGetStats(hourglass::v1::GetStatsResponse& response);
  absl::Status DoUpdateConfig(const hourglass::v1::UpdateConfigRequest& request,
                              hourglass::v1::UpdateConfigResponse& response);

  storage::Store& store_;
  EventHub& events_;
  Snapshotter* const snapshots_;
  const int64_t start_ms_;  // monotonic
  storage::Mutex config_mu_;
};

}  // namespace hourglass::server
