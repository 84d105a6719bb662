#include "server/token_service.h"

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/unary.h"
#include "server/validation.h"

namespace hourglass::server {
namespace {

namespace v1 = ::hourglass::v1;

v1::TokenReason ToProto(domain::TokenReason reason) {
  switch (reason) {
    case domain::TokenReason::kOk:
      return v1::TOKEN_REASON_OK;
    case domain::TokenReason::kNotFound:
      return v1::TOKEN_REASON_NOT_FOUND;
    case domain::TokenReason::kPurposeMismatch:
      return v1::TOKEN_REASON_PURPOSE_MISMATCH;
    case domain::TokenReason::kUsedUp:
      return v1::TOKEN_REASON_USED_UP;
    case domain::TokenReason::kTooManyAttempts:
      return v1::TOKEN_REASON_TOO_MANY_ATTEMPTS;
    case domain::TokenReason::kWrongCode:
      return v1::TOKEN_REASON_WRONG_CODE;
  }
  return v1::TOKEN_REASON_NOT_FOUND;
}

// The fields Verify, Consume and Revoke share. The token itself is not size-checked: a token
// of the wrong length is just unknown (TOKEN_REASON_NOT_FOUND), never an error that describes
// the format; the gRPC message limit bounds it.
absl::Status CheckTokenQuery(const std::string& purpose, const std::string& token,
                             const std::string& subject, const Limits& limits) {
  if (absl::Status s = CheckKey("purpose", purpose, limits.max_key_bytes); !s.ok()) return s;
  if (absl::Status s = RequireNonEmpty("token", token); !s.ok()) return s;
  return CheckSize("subject", subject, limits.max_key_bytes);
}

// An optional field that only a NUMERIC code takes.
absl::Status NumericOnly(std::string_view field) {
  return absl::InvalidArgumentError(absl::StrCat(absl::string_view(field.data(), field.size()),
                                                 ": only for format TOKEN_FORMAT_NUMERIC"));
}

}  // namespace

TokenService::TokenService(storage::Store& store, const Limits& limits, DomainMetrics* metrics)
    : limits_(limits), tokens_(store), metrics_(metrics) {}

// ---- RPCs: every one is its Do* function behind HandleUnary (deadline, status mapping). ----

grpc::ServerUnaryReactor* TokenService::IssueToken(grpc::CallbackServerContext* context,
                                                   const v1::IssueTokenRequest* request,
                                                   v1::IssueTokenResponse* response) {
  return HandleUnary(context, [&] { return DoIssue(*request, *response); });
}

grpc::ServerUnaryReactor* TokenService::VerifyToken(grpc::CallbackServerContext* context,
                                                    const v1::VerifyTokenRequest* request,
                                                    v1::VerifyTokenResponse* response) {
  return HandleUnary(context, [&] { return DoCheck(*request, /*consume=*/false, *response); });
}

grpc::ServerUnaryReactor* TokenService::ConsumeToken(grpc::CallbackServerContext* context,
                                                     const v1::ConsumeTokenRequest* request,
                                                     v1::ConsumeTokenResponse* response) {
  return HandleUnary(context, [&] { return DoCheck(*request, /*consume=*/true, *response); });
}

grpc::ServerUnaryReactor* TokenService::RevokeToken(grpc::CallbackServerContext* context,
                                                    const v1::RevokeTokenRequest* request,
                                                    v1::RevokeTokenResponse* response) {
  return HandleUnary(context, [&] { return DoRevoke(*request, *response); });
}

grpc::ServerUnaryReactor* TokenService::RevokeSubjectTokens(
    grpc::CallbackServerContext* context, const v1::RevokeSubjectTokensRequest* request,
    v1::RevokeSubjectTokensResponse* response) {
  return HandleUnary(context, [&] { return DoRevokeSubject(*request, *response); });
}

// ---- Operations ----

absl::Status TokenService::DoIssue(const v1::IssueTokenRequest& request,
                                   v1::IssueTokenResponse& response) {
  if (absl::Status s = CheckKey("purpose", request.purpose(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckEnum("format", request.format(), v1::TokenFormat_IsValid); !s.ok()) {
    return s;
  }
  const bool numeric = request.format() == v1::TOKEN_FORMAT_NUMERIC;
  if (absl::Status s = numeric ? CheckKey("subject", request.subject(), limits_.max_key_bytes)
                               : CheckSize("subject", request.subject(), limits_.max_key_bytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSize("payload", request.payload(), limits_.max_value_bytes); !s.ok()) {
    return s;
  }
  if (!request.has_ttl()) return absl::InvalidArgumentError("ttl: required");
  absl::StatusOr<int64_t> ttl =
      DurationToMs("ttl", request.ttl(), ZeroDuration::kRejected, limits_.max_ttl_ms);
  if (!ttl.ok()) return ttl.status();

  domain::NewToken spec;
  spec.purpose = request.purpose();
  spec.subject = request.subject();
  spec.payload = request.payload();
  spec.ttl_ms = *ttl;
  spec.format = numeric ? domain::TokenFormat::kNumeric : domain::TokenFormat::kOpaque;
  if (request.has_max_uses()) {
    if (request.max_uses() == 0) return absl::InvalidArgumentError("max_uses: must be > 0");
    spec.max_uses = request.max_uses();
  }
  if (request.has_digits()) {
    if (!numeric) return NumericOnly("digits");
    if (request.digits() < static_cast<uint32_t>(domain::kMinCodeDigits) ||
        request.digits() > static_cast<uint32_t>(domain::kMaxCodeDigits)) {
      return absl::InvalidArgumentError(absl::StrCat("digits: ", request.digits(), " is outside ",
                                                     domain::kMinCodeDigits, "-",
                                                     domain::kMaxCodeDigits));
    }
    spec.digits = static_cast<int>(request.digits());
  }
  if (request.has_max_attempts()) {
    if (!numeric) return NumericOnly("max_attempts");
    if (request.max_attempts() == 0) {
      return absl::InvalidArgumentError("max_attempts: must be > 0");
    }
    spec.max_attempts = request.max_attempts();
  }

  absl::StatusOr<domain::IssuedToken> issued = tokens_.Issue(spec);
  if (!issued.ok()) return issued.status();
  if (metrics_ != nullptr) metrics_->TokenIssued(spec.format);
  response.set_token(issued->token);
  *response.mutable_expire_time() = WallMsToTimestamp(issued->expire_wall_ms);
  return absl::OkStatus();
}

template <typename Request, typename Response>
absl::Status TokenService::DoCheck(const Request& request, bool consume, Response& response) {
  if (absl::Status s =
          CheckTokenQuery(request.purpose(), request.token(), request.subject(), limits_);
      !s.ok()) {
    return s;
  }
  const domain::TokenQuery query{request.purpose(), request.token(), request.subject()};
  absl::StatusOr<domain::TokenCheck> check =
      consume ? tokens_.Consume(query) : tokens_.Verify(query);
  if (!check.ok()) return check.status();
  if (metrics_ != nullptr) metrics_->TokenChecked(consume, check->reason);
  response.set_valid(check->valid());
  response.set_reason(ToProto(check->reason));
  if (check->valid()) {
    response.set_subject(check->subject);
    response.set_payload(check->payload);
    response.set_remaining_uses(check->remaining_uses);
    *response.mutable_expire_time() = WallMsToTimestamp(check->expire_wall_ms);
  }
  return absl::OkStatus();
}

absl::Status TokenService::DoRevoke(const v1::RevokeTokenRequest& request,
                                    v1::RevokeTokenResponse& response) {
  if (absl::Status s =
          CheckTokenQuery(request.purpose(), request.token(), request.subject(), limits_);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<bool> revoked =
      tokens_.Revoke(domain::TokenQuery{request.purpose(), request.token(), request.subject()});
  if (!revoked.ok()) return revoked.status();
  if (metrics_ != nullptr && *revoked) metrics_->TokensRevoked(1);
  response.set_revoked(*revoked);
  return absl::OkStatus();
}

absl::Status TokenService::DoRevokeSubject(const v1::RevokeSubjectTokensRequest& request,
                                           v1::RevokeSubjectTokensResponse& response) {
  if (absl::Status s = CheckKey("subject", request.subject(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSize("purpose", request.purpose(), limits_.max_key_bytes); !s.ok()) {
    return s;
  }
  absl::StatusOr<int64_t> revoked = tokens_.RevokeSubject(request.subject(), request.purpose());
  if (!revoked.ok()) return revoked.status();
  if (metrics_ != nullptr) metrics_->TokensRevoked(*revoked);
  response.set_revoked(*revoked);
  return absl::OkStatus();
}

}  // namespace hourglass::server
