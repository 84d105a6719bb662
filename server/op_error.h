#pragma once

// OpError: how one failed operation inside a batch or a stream reports itself (shared/API.md),
// with the same code and message the stand-alone RPC would return (through ToGrpcStatus).

#include <cstdint>

#include "absl/status/status.h"
#include "hourglass/v1/common.pb.h"
#include "server/status.h"

namespace hourglass::server {

// Fills `out` from a non-OK `status`.
inline void ToOpError(const absl::Status& status, hourglass::v1::OpError& out) {
  const grpc::Status mapped = ToGrpcStatus(status);
  out.set_code(static_cast<int32_t>(mapped.error_code()));
  out.set_message(mapped.error_message());
}

}  // namespace hourglass::server
