#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace hourglass::server {

// The one place an absl::Status becomes a grpc::Status: same code number, same message.
// Codes outside gRPC's range (never produced by our code) become INTERNAL.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace hourglass::server
