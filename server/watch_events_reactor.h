#pragma once

// WatchEventsReactor: one AdminService.WatchEvents stream, fed by an EventHub subscription.
//
// The reactor writes one event at a time. It holds its subscription's turn (event_hub.h) while
// a write is in flight; when the buffer runs dry the turn passes to the hub, which calls back
// (Pump) on the next event. The stream ends:
//   - with UNAVAILABLE when the hub closes (the server drains): an idle stream at once, a busy
//     one after its current write;
//   - with CANCELLED when the client cancels, its deadline passes, or a write fails.
// Whoever holds the turn calls Finish, exactly once; OnDone then deletes the reactor, whose
// subscription unsubscribes (nothing outlives the stream).
//
// Thread-safety: gRPC reactions, hub callbacks and OnCancel may run on different threads; the
// turn guarantees only one of them touches the stream or `response_` at a time.

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <memory>

#include "hourglass/v1/admin.grpc.pb.h"
#include "server/event_hub.h"

namespace hourglass::server {

class WatchEventsReactor final
    : public grpc::ServerWriteReactor<hourglass::v1::WatchEventsResponse> {
 public:
  // A stream of `spaces`, buffering at most `capacity` undelivered events. Sends the response
  // headers at once: a client that has them knows its subscription is live.
  WatchEventsReactor(EventHub& hub, EventHub::SpaceSet spaces, size_t capacity);
  // A stream refused with `status` (not OK) before it subscribes.
  explicit WatchEventsReactor(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ~WatchEventsReactor() override = default;

  // Called by the turn holder: writes the next buffered event, hands the turn to the hub when
  // there is none, or finishes the stream when the subscription is closed.
  void Pump();

  std::unique_ptr<EventHub::Subscription> subscription_;  // null when refused
  hourglass::v1::WatchEventsResponse response_;           // the write in flight
};

}  // namespace hourglass::server
