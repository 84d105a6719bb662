#pragma once

// TokenService: hourglass.v1.TokenService over domain::TokenManager.
//
// A thin adapter: each RPC validates its request (messages name the field and the limit,
// shared/API.md), converts proto to the domain's plain types, makes one TokenManager call and
// converts the result back. A token's plaintext appears only in IssueTokenResponse: never in a
// log line, an error message or an event.
//
// Thread-safety: thread-safe; the TokenManager is, and the limits are immutable. Handlers never
// block.

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "hourglass/v1/token.grpc.pb.h"
#include "server/domain/tokens.h"
#include "server/limits.h"
#include "server/metrics_domain.h"
#include "storage/store.h"

namespace hourglass::server {

class TokenService final : public hourglass::v1::TokenService::CallbackService {
 public:
  // Creates the TokenManager, which registers the kToken removal hook: construct before the
  // store is shared between threads. `store` must outlive the service.
  // `metrics` (optional, must outlive the service) counts what the calls did.
  TokenService(storage::Store& store, const Limits& limits, DomainMetrics* metrics = nullptr);

  grpc::ServerUnaryReactor* IssueToken(grpc::CallbackServerContext* context,
                                       const hourglass::v1::IssueTokenRequest* request,
                                       hourglass::v1::IssueTokenResponse* response) override;
  grpc::ServerUnaryReactor* VerifyToken(grpc::CallbackServerContext* context,
                                        const hourglass::v1::VerifyTokenRequest* request,
                                        hourglass::v1::VerifyTokenResponse* response) override;
  grpc::ServerUnaryReactor* ConsumeToken(grpc::CallbackServerContext* context,
                                         const hourglass::v1::ConsumeTokenRequest* request,
                                         hourglass::v1::ConsumeTokenResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const hourglass::v1::RevokeTokenRequest* request,
                                        hourglass::v1::RevokeTokenResponse* response) override;
  grpc::ServerUnaryReactor* RevokeSubjectTokens(
      grpc::CallbackServerContext* context,
      const hourglass::v1::RevokeSubjectTokensRequest* request,
      hourglass::v1::RevokeSubjectTokensResponse* response) override;

 private:
  absl::Status DoIssue(const hourglass::v1::IssueTokenRequest& request,
                       hourglass::v1::IssueTokenResponse& response);
  // Verify and Consume share their request and response shapes.
  template <typename Request, typename Response>
  absl::Status DoCheck(const Request& request, bool consume, Response& response);
  absl::Status DoRevoke(const hourglass::v1::RevokeTokenRequest& request,
                        hourglass::v1::RevokeTokenResponse& response);
  absl::Status DoRevokeSubject(const hourglass::v1::RevokeSubjectTokensRequest& request,
                               hourglass::v1::RevokeSubjectTokensResponse& response);

  const Limits limits_;
  domain::TokenManager tokens_;
  DomainMetrics* const metrics_;
};

}  // namespace hourglass::server
