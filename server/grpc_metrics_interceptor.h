#pragma once

// The server interceptor that feeds GrpcMetrics: one per call (gRPC creates it when the call is
// matched to a method and deletes it when the call is over), for unary and streaming calls
// alike, sync or callback API.
//
//   started           when the call is matched (the interceptor is created)
//   msg_received      each request message actually received (not the end of the stream)
//   msg_sent          each response message whose send succeeded
//   handled + latency when the status is sent (its code; time since start). A call that ends
//                     without sending a status (torn down by shutdown) is handled as Canceled,
//                     so started - handled is always the calls in flight.
//   request log       at debug level only: "rpc /service/method CODE 0.123 ms" (no request
//                     data, no status message, no metadata).
//
// Thread-safety: the factory is thread-safe; an interceptor belongs to its call (gRPC never runs
// two hooks of one call at once).

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "server/grpc_metrics.h"

namespace hourglass::server {

// For ServerBuilder::experimental().SetInterceptorCreators. Keeps `metrics` alive.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewMetricsInterceptorFactory(
    std::shared_ptr<GrpcMetrics> metrics);

}  // namespace hourglass::server
