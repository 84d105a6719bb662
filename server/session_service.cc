#include "server/session_service.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "server/unary.h"
#include "server/validation.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;

template <typename ProtoMap>
domain::StringMap ToStringMap(const ProtoMap& map) {
  domain::StringMap out;
  for (const auto& [key, value] : map) out.emplace(key, value);
  return out;
}

// A `session_id` request field: required, bounded like every key.
absl::Status CheckSessionId(const std::string& id, const Limits& limits) {
  return CheckKey("session_id", id, limits.max_key_bytes);
}

}  // namespace

SessionService::SessionService(storage::Store& store, const Limits& limits, DomainMetrics* metrics)
    : clock_(store.clock()),
      limits_(limits),
      sessions_(store,
                domain::SessionManager::Options{.max_content_bytes = limits.max_value_bytes}),
      metrics_(metrics) {}

// ---- RPCs: every one is its Do* function behind HandleUnary (deadline, status mapping). ----

grpc::ServerUnaryReactor* SessionService::CreateSession(grpc::CallbackServerContext* context,
                                                        const v1::CreateSessionRequest* request,
                                                        v1::CreateSessionResponse* response) {
  return HandleUnary(context, [&] { return DoCreate(*request, *response); });
}

grpc::ServerUnaryReactor* SessionService::GetSession(grpc::CallbackServerContext* context,
                                                     const v1::GetSessionRequest* request,
                                                     v1::GetSessionResponse* response) {
  return HandleUnary(context, [&] { return DoGet(*request, *response); });
}

grpc::ServerUnaryReactor* SessionService::UpdateSession(grpc::CallbackServerContext* context,
                                                        const v1::UpdateSessionRequest* request,
                                                        v1::UpdateSessionResponse* response) {
  return HandleUnary(context, [&] { return DoUpdate(*request, *response); });
}

grpc::ServerUnaryReactor* SessionService::RotateSession(grpc::CallbackServerContext* context,
                                                        const v1::RotateSessionRequest* request,
                                                        v1::RotateSessionResponse* response) {
  return HandleUnary(context, [&] { return DoRotate(*request, *response); });
}

grpc::ServerUnaryReactor* SessionService::DeleteSession(grpc::CallbackServerContext* context,
                                                        const v1::DeleteSessionRequest* request,
                                                        v1::DeleteSessionResponse* response) {
  return HandleUnary(context, [&] { return DoDelete(*request, *response); });
}

grpc::ServerUnaryReactor* SessionService::ListUserSessions(
    grpc::CallbackServerContext* context, const v1::ListUserSessionsRequest* request,
    v1::ListUserSessionsResponse* response) {
  return HandleUnary(context, [&] { return DoList(*request, *response); });
}

grpc::ServerUnaryReactor* SessionService::DeleteUserSessions(
    grpc::CallbackServerContext* context, const v1::DeleteUserSessionsRequest* request,
    v1::DeleteUserSessionsResponse* response) {
  return HandleUnary(context, [&] { return DoDeleteAll(*request, *response); });
}

// ---- Operations ----

absl::Status SessionService::DoCreate(const v1::CreateSessionRequest& request,
                                      v1::CreateSessionResponse& response) {
  if (absl::Status s = CheckKey("user_id", request.user_id(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  if (!request.has_idle_timeout()) return absl::InvalidArgumentError("idle_timeout: required");
  absl::StatusOr<int64_t> idle = DurationToMs("idle_timeout", request.idle_timeout(),
                                              ZeroDuration::kRejected, limits_.max_ttl_ms);
  if (!idle.ok()) return idle.status();
  domain::NewSession spec;
  spec.idle_timeout_ms = *idle;
  if (request.has_absolute_timeout()) {
    absl::StatusOr<int64_t> absolute = DurationToMs("absolute_timeout", request.absolute_timeout(),
                                                    ZeroDuration::kRejected, limits_.max_ttl_ms);
    if (!absolute.ok()) return absolute.status();
    spec.absolute_timeout_ms = *absolute;
  }
  if (request.has_max_sessions_per_user()) {
    if (request.max_sessions_per_user() == 0) {
      return absl::InvalidArgumentError("max_sessions_per_user: must be > 0");
    }
    spec.max_sessions_per_user = request.max_sessions_per_user();
  }
  spec.user_id = request.user_id();
  spec.data = ToStringMap(request.data());
  spec.labels = ToStringMap(request.labels());
  // The content limit (data + labels <= --max_value_bytes) is the domain's: it also bounds
  // what UpdateSession merges.
  absl::StatusOr<domain::Session> session = sessions_.Create(std::move(spec));
  if (!session.ok()) return session.status();
  if (metrics_ != nullptr) metrics_->SessionCreated();
  ToProto(*session, *response.mutable_session());
  return absl::OkStatus();
}

absl::Status SessionService::DoGet(const v1::GetSessionRequest& request,
                                   v1::GetSessionResponse& response) {
  if (absl::Status s = CheckSessionId(request.session_id(), limits_); !s.ok()) return s;
  absl::StatusOr<std::optional<domain::Session>> session =
      sessions_.Get(request.session_id(), request.touch());
  if (!session.ok()) return session.status();
  response.set_found(session->has_value());
  if (session->has_value()) ToProto(**session, *response.mutable_session());
  return absl::OkStatus();
}

absl::Status SessionService::DoUpdate(const v1::UpdateSessionRequest& request,
                                      v1::UpdateSessionResponse& response) {
  if (absl::Status s = CheckSessionId(request.session_id(), limits_); !s.ok()) return s;
  domain::SessionChange change;
  if (request.has_idle_timeout()) {
    absl::StatusOr<int64_t> idle = DurationToMs("idle_timeout", request.idle_timeout(),
                                                ZeroDuration::kRejected, limits_.max_ttl_ms);
    if (!idle.ok()) return idle.status();
    change.idle_timeout_ms = *idle;
  }
  change.set = ToStringMap(request.data());
  change.remove_keys.assign(request.remove_keys().begin(), request.remove_keys().end());
  absl::StatusOr<domain::Session> session = sessions_.Update(request.session_id(), change);
  if (!session.ok()) return session.status();
  ToProto(*session, *response.mutable_session());
  return absl::OkStatus();
}

absl::Status SessionService::DoRotate(const v1::RotateSessionRequest& request,
                                      v1::RotateSessionResponse& response) {
  if (absl::Status s = CheckSessionId(request.session_id(), limits_); !s.ok()) return s;
  absl::StatusOr<domain::Session> session = sessions_.Rotate(request.session_id());
  if (!session.ok()) return session.status();
  ToProto(*session, *response.mutable_session());
  return absl::OkStatus();
}

absl::Status SessionService::DoDelete(const v1::DeleteSessionRequest& request,
                                      v1::DeleteSessionResponse& response) {
  if (absl::Status s = CheckSessionId(request.session_id(), limits_); !s.ok()) return s;
  absl::StatusOr<bool> deleted = sessions_.Delete(request.session_id());
  if (!deleted.ok()) return deleted.status();
  response.set_deleted(*deleted);
  return absl::OkStatus();
}

absl::Status SessionService::DoList(const v1::ListUserSessionsRequest& request,
                                    v1::ListUserSessionsResponse& response) {
  if (absl::Status s = CheckKey("user_id", request.user_id(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<domain::Session>> sessions = sessions_.List(request.user_id());
  if (!sessions.ok()) return sessions.status();
  response.mutable_sessions()->Reserve(static_cast<int>(sessions->size()));
  for (const domain::Session& session : *sessions) ToProto(session, *response.add_sessions());
  return absl::OkStatus();
}

absl::Status SessionService::DoDeleteAll(const v1::DeleteUserSessionsRequest& request,
                                         v1::DeleteUserSessionsResponse& response) {
  if (absl::Status s = CheckKey("user_id", request.user_id(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckSize("except_session_id", request.except_session_id(), limits_.max_key_bytes);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<int64_t> deleted =
      sessions_.DeleteAll(request.user_id(), request.except_session_id());
  if (!deleted.ok()) return deleted.status();
  response.set_deleted(*deleted);
  return absl::OkStatus();
}

void SessionService::ToProto(const domain::Session& session, v1::Session& out) const {
  out.set_session_id(session.id);
  out.set_user_id(session.user_id);
  for (const auto& [key, value] : session.data) (*out.mutable_data())[key] = value;
  for (const auto& [key, value] : session.labels) (*out.mutable_labels())[key] = value;
  *out.mutable_create_time() = WallMsToTimestamp(session.create_wall_ms);
  // The idle deadline is monotonic and converting it reads both clocks again, exact only to
  // +-1 ms: a deadline capped by the absolute one could show a millisecond off it. Snap that
  // millisecond, so a capped session shows expire_time == absolute_expire_time, never later.
  int64_t expire_wall_ms = clock_.ToWallMs(session.expire_deadline_ms);
  if (session.absolute_wall_ms != domain::kNoAbsoluteDeadline) {
    if (expire_wall_ms >= session.absolute_wall_ms - 1) expire_wall_ms = session.absolute_wall_ms;
    *out.mutable_absolute_expire_time() = WallMsToTimestamp(session.absolute_wall_ms);
  }
  *out.mutable_expire_time() = WallMsToTimestamp(expire_wall_ms);
}

}  // namespace hourglass::server
