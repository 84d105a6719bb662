#pragma once

// StreamRateLimitsReactor: one RateLimitService.StreamRateLimits stream (shared/API.md).
//
// Each request is answered by one response with its id, in request order: the check runs as soon
// as the request is read (a store step never blocks), and its response joins a bounded queue of
// writes. While kMaxQueuedResponses responses wait on a client that does not read them, the
// reactor stops reading (HTTP/2 flow control then pushes back on the client): memory per stream
// stays bounded.
//
// The stream ends:
//   - OK after the client half-closes and every response is written;
//   - CANCELLED when the client cancels, its deadline passes or a write fails;
//   - when the server drains: gRPC cancels the streams still open at the end of the grace period
//     (--shutdown_grace); responses to checks read before then are written first.
// A bad request is answered by its own `error` response; the stream stays open.
//
// Thread-safety: gRPC may run OnReadDone, OnWriteDone and OnCancel concurrently; the state is
// guarded by `mu_`. Operations are started from reactions only (gRPC defers their completions
// until the reaction returns), so starting them under `mu_` cannot re-enter it.

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "hourglass/v1/ratelimit.grpc.pb.h"
#include "storage/mutex.h"

namespace hourglass::server {

class StreamRateLimitsReactor final
    : public grpc::ServerBidiReactor<hourglass::v1::StreamRateLimitsRequest,
                                     hourglass::v1::StreamRateLimitsResponse> {
 public:
  // Fills the response (id included) for one request. Must not block.
  using Handler = std::function<void(const hourglass::v1::StreamRateLimitsRequest&,
                                     hourglass::v1::StreamRateLimitsResponse&)>;
  // Responses a stream may hold for a client that does not read before it stops reading.
  static constexpr size_t kMaxQueuedResponses = 256;

  explicit StreamRateLimitsReactor(Handler handler);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ~StreamRateLimitsReactor() override = default;

  // Starts the next write, or the next read, or finishes, as the state allows.
  void Advance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Handler handler_;
  storage::Mutex mu_;
  hourglass::v1::StreamRateLimitsRequest request_;  // the read in flight
  // Responses not yet written; the front one is in flight while writing_.
  std::deque<hourglass::v1::StreamRateLimitsResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;  // the client half-closed
  bool broken_ ABSL_GUARDED_BY(mu_) = false;      // cancelled, or a write failed
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hourglass::server
