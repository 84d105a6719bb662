#pragma once

// The shape of every unary handler: validate, call the domain, map the status once.
//
//   grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* context, const SetRequest* request,
//                                 SetResponse* response) override {
//     return HandleUnary(context, [&] { return DoSet(*request, *response); });
//   }
//
// `handler` returns absl::Status and runs inline on the gRPC callback thread (our handlers never
// block: every store operation is a short critical section).

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/status/status.h"
#include "server/status.h"

namespace hourglass::server {

// DEADLINE_EXCEEDED when the client's deadline has already passed (checked before the first
// operation, so no work is half-applied; shared/HOSTILE_INPUTS.md row 28). OK otherwise.
inline absl::Status CheckCallDeadline(const grpc::CallbackServerContext& context) {
  if (context.deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("deadline expired before the call was handled");
  }
  return absl::OkStatus();
}

template <typename Handler>
grpc::ServerUnaryReactor* HandleUnary(grpc::CallbackServerContext* context, Handler&& handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = CheckCallDeadline(*context);
  if (status.ok()) status = handler();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace hourglass::server
