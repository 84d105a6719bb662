#include "server/admin_service.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/admin_convert.h"
#include "server/status.h"
#include "server/unary.h"
#include "server/validation.h"
#include "server/watch_events_reactor.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;

int64_t AsInt64(uint64_t n) {
  return n > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(n);
}

void FillConfig(const storage::Store& store, v1::GetConfigResponse& response) {
  response.set_maxmemory_bytes(AsInt64(store.max_memory()));
  response.set_eviction_policy(ToProto(store.eviction_policy()));
}

// WatchEventsRequest.spaces as a set: empty = every public space; UNSPECIFIED or an unknown
// number is INVALID_ARGUMENT naming the element.
absl::StatusOr<EventHub::SpaceSet> ParseSpaces(const google::protobuf::RepeatedField<int>& spaces) {
  EventHub::SpaceSet set;
  if (spaces.empty()) {
    for (storage::Space space : kPublicSpaces) set.set(static_cast<size_t>(space));
    return set;
  }
  for (int i = 0; i < spaces.size(); ++i) {
    const std::string field = absl::StrCat("spaces[", i, "]");
    if (absl::Status s = CheckEnum(field, spaces[i], v1::Space_IsValid); !s.ok()) return s;
    std::optional<storage::Space> space = FromProto(static_cast<v1::Space>(spaces[i]));
    if (!space.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": SPACE_UNSPECIFIED is not a space"));
    }
    set.set(static_cast<size_t>(*space));
  }
  return set;
}

}  // namespace

AdminService::AdminService(storage::Store& store, EventHub& events, Snapshotter* snapshots)
    : store_(store),
      events_(events),
      snapshots_(snapshots),
      start_ms_(store.clock().MonotonicMs()) {}

grpc::ServerUnaryReactor* AdminService::GetStats(grpc::CallbackServerContext* context,
                                                 const v1::GetStatsRequest* /*request*/,
                                                 v1::GetStatsResponse* response) {
  return HandleUnary(context, [&] { return DoGetStats(*response); });
}

grpc::ServerUnaryReactor* AdminService::GetConfig(grpc::CallbackServerContext* context,
                                                  const v1::GetConfigRequest* /*request*/,
                                                  v1::GetConfigResponse* response) {
  return HandleUnary(context, [&] {
    FillConfig(store_, *response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::UpdateConfig(grpc::CallbackServerContext* context,
                                                     const v1::UpdateConfigRequest* request,
                                                     v1::UpdateConfigResponse* response) {
  return HandleUnary(context, [&] { return DoUpdateConfig(*request, *response); });
}

grpc::ServerWriteReactor<v1::WatchEventsResponse>* AdminService::WatchEvents(
    grpc::CallbackServerContext* /*context*/, const v1::WatchEventsRequest* request) {
  absl::StatusOr<EventHub::SpaceSet> spaces = ParseSpaces(request->spaces());
  if (!spaces.ok()) return new WatchEventsReactor(ToGrpcStatus(spaces.status()));
  return new WatchEventsReactor(events_, *spaces, kWatchBufferEvents);
}

grpc::ServerUnaryReactor* AdminService::SaveSnapshot(grpc::CallbackServerContext* context,
                                                     const v1::SaveSnapshotRequest* /*request*/,
                                                     v1::SaveSnapshotResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = CheckCallDeadline(*context);
  if (status.ok() && snapshots_ == nullptr) {
    status = absl::FailedPreconditionError("SaveSnapshot: no --snapshot_path configured");
  }
  if (status.ok()) {
    // The write runs on the snapshot thread, which finishes the call: a disk-bound write does
    // not hold one of gRPC's callback threads.
    status = snapshots_->RequestSave(
        [reactor, response](const absl::StatusOr<Snapshotter::WriteResult>& written) {
          if (written.ok()) {
            response->set_path(written->path);
            response->set_bytes(AsInt64(written->bytes));
            response->set_keys(AsInt64(written->keys));
          }
          reactor->Finish(ToGrpcStatus(written.status()));
        });
    if (status.ok()) return reactor;
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status AdminService::DoGetStats(v1::GetStatsResponse& response) {
  const storage::StoreStats stats = store_.GetStats();
  for (storage::Space space : kPublicSpaces) {
    const storage::SpaceStats& in = stats.spaces[static_cast<size_t>(space)];
    v1::SpaceStats* out = response.add_spaces();
    out->set_space(ToProto(space));
    out->set_keys(AsInt64(in.keys));
    out->set_keys_with_expiry(AsInt64(in.keys_with_expiry));
    out->set_bytes(AsInt64(in.bytes));
  }
  // used_bytes covers every space, the internal index space included.
  response.set_used_memory_bytes(AsInt64(stats.used_bytes));
  response.set_maxmemory_bytes(AsInt64(stats.max_bytes));
  response.set_hits(AsInt64(stats.hits));
  response.set_misses(AsInt64(stats.misses));
  response.set_expired(AsInt64(stats.expired));
  response.set_evicted(AsInt64(stats.evicted));
  response.set_rejected_writes(AsInt64(stats.rejected_writes));
  response.mutable_shard_keys()->Reserve(static_cast<int>(stats.shard_keys.size()));
  for (uint64_t keys : stats.shard_keys) response.add_shard_keys(AsInt64(keys));
  *response.mutable_uptime() = MsToDuration(store_.clock().MonotonicMs() - start_ms_);
  return absl::OkStatus();
}

absl::Status AdminService::DoUpdateConfig(const v1::UpdateConfigRequest& request,
                                          v1::UpdateConfigResponse& response) {
  // Validate every field before applying any, so a refused call changes nothing.
  if (request.has_maxmemory_bytes() && request.maxmemory_bytes() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("maxmemory_bytes: must be > 0 (got ", request.maxmemory_bytes(), ")"));
  }
  std::optional<storage::EvictionPolicy> policy;
  if (request.has_eviction_policy()) {
    if (absl::Status s =
            CheckEnum("eviction_policy", request.eviction_policy(), v1::EvictionPolicy_IsValid);
        !s.ok()) {
      return s;
    }
    policy = FromProto(request.eviction_policy());
    if (!policy.has_value()) {
      return absl::InvalidArgumentError(
          "eviction_policy: EVICTION_POLICY_UNSPECIFIED is not a policy");
    }
  }

  storage::MutexLock lock(&config_mu_);
  // The policy first: when the same call lowers maxmemory, eviction follows the new policy.
  if (policy.has_value() && *policy != store_.eviction_policy()) {
    spdlog::info("config: eviction_policy {} -> {}",
                 v1::EvictionPolicy_Name(ToProto(store_.eviction_policy())),
                 v1::EvictionPolicy_Name(ToProto(*policy)));
    store_.SetEvictionPolicy(*policy);
  }
  if (request.has_maxmemory_bytes() &&
      static_cast<uint64_t>(request.maxmemory_bytes()) != store_.max_memory()) {
    spdlog::info("config: maxmemory {} -> {} bytes", store_.max_memory(),
                 request.maxmemory_bytes());
    store_.SetMaxMemory(static_cast<uint64_t>(request.maxmemory_bytes()));
  }
  response.set_maxmemory_bytes(AsInt64(store_.max_memory()));
  response.set_eviction_policy(ToProto(store_.eviction_policy()));
  return absl::OkStatus();
}

}  // namespace hourglass::server
