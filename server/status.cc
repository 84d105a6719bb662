#include "server/status.h"

#include <string>

namespace hourglass::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  // absl::StatusCode and grpc::StatusCode share the canonical numbering 1..16.
  if (code < 1 || code > 16) return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::string(status.message()));
}

}  // namespace hourglass::server
