#pragma once

// SessionService: hourglass.v1.SessionService over domain::SessionManager.
//
// A thin adapter: each RPC validates its request (messages name the field and the limit,
// shared/API.md), converts proto to the domain's plain types, makes one SessionManager call
// (one atomic store step) and converts the result back. Session ids never reach a log line or
// an error message.
//
// Thread-safety: thread-safe; the SessionManager is, and the limits are immutable. Handlers
// never block.

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "hourglass/v1/session.grpc.pb.h"
#include "server/domain/sessions.h"
#include "server/limits.h"
#include "server/metrics_domain.h"
#include "storage/store.h"

namespace hourglass::server {

class SessionService final : public hourglass::v1::SessionService::CallbackService {
 public:
  // Creates the SessionManager, which registers the kSession removal hook: construct before the
  // store is shared between threads. `store` must outlive the service.
  // `metrics` (optional, must outlive the service) counts what the calls did.
  SessionService(storage::Store& store, const Limits& limits, DomainMetrics* metrics = nullptr);

  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* context,
                                          const hourglass::v1::CreateSessionRequest* request,
                                          hourglass::v1::CreateSessionResponse* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const hourglass::v1::GetSessionRequest* request,
                                       hourglass::v1::GetSessionResponse* response) override;
  grpc::ServerUnaryReactor* UpdateSession(grpc::CallbackServerContext* context,
                                          const hourglass::v1::UpdateSessionRequest* request,
                                          hourglass::v1::UpdateSessionResponse* response) override;
  grpc::ServerUnaryReactor* RotateSession(grpc::CallbackServerContext* context,
                                          const hourglass::v1::RotateSessionRequest* request,
                                          hourglass::v1::RotateSessionResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSession(grpc::CallbackServerContext* context,
                                          const hourglass::v1::DeleteSessionRequest* request,
                                          hourglass::v1::DeleteSessionResponse* response) override;
  grpc::ServerUnaryReactor* ListUserSessions(
      grpc::CallbackServerContext* context, const hourglass::v1::ListUserSessionsRequest* request,
      hourglass::v1::ListUserSessionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteUserSessions(
      grpc::CallbackServerContext* context, const hourglass::v1::DeleteUserSessionsRequest* request,
      hourglass::v1::DeleteUserSessionsResponse* response) override;

 private:
  // One function per RPC: validate, call the domain, fill `response` only on success.
  absl::Status DoCreate(const hourglass::v1::CreateSessionRequest& request,
                        hourglass::v1::CreateSessionResponse& response);
  absl::Status DoGet(const hourglass::v1::GetSessionRequest& request,
                     hourglass::v1::GetSessionResponse& response);
  absl::Status DoUpdate(const hourglass::v1::UpdateSessionRequest& request,
                        hourglass::v1::UpdateSessionResponse& response);
  absl::Status DoRotate(const hourglass::v1::RotateSessionRequest& request,
                        hourglass::v1::RotateSessionResponse& response);
  absl::Status DoDelete(const hourglass::v1::DeleteSessionRequest& request,
                        hourglass::v1::DeleteSessionResponse& response);
  absl::Status DoList(const hourglass::v1::ListUserSessionsRequest& request,
                      hourglass::v1::ListUserSessionsResponse& response);
  absl::Status DoDeleteAll(const hourglass::v1::DeleteUserSessionsRequest& request,
                           hourglass::v1::DeleteUserSessionsResponse& response);

  // The domain session as a proto Session.
  void ToProto(const domain::Session& session, hourglass::v1::Session& out) const;

  const storage::Clock& clock_;
  const Limits limits_;
  domain::SessionManager sessions_;
  DomainMetrics* const metrics_;
};

}  // namespace hourglass::server
