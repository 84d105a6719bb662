#include "server/watch_events_reactor.h"

#include "server/admin_convert.h"
#include "server/validation.h"

namespace hourglass::server {

WatchEventsReactor::WatchEventsReactor(EventHub& hub, EventHub::SpaceSet spaces, size_t capacity) {
  // We hold the turn until Pump() hands it over, so the hub cannot call Pump() before the
  // subscription is stored.
  subscription_ = hub.Subscribe(spaces, capacity, [this] { Pump(); });
  StartSendInitialMetadata();
  Pump();
}

WatchEventsReactor::WatchEventsReactor(const grpc::Status& status) { Finish(status); }

void WatchEventsReactor::Pump() {
  EventHub::Item item;
  EventHub::CloseReason reason = EventHub::CloseReason::kCancelled;
  switch (subscription_->Next(&item, &reason)) {
    case EventHub::Subscription::State::kEvent: {
      response_.Clear();
      hourglass::v1::Event* event = response_.mutable_event();
      event->set_space(ToProto(item.event->space));
      event->set_kind(ToProto(item.event->kind));
      event->set_key(item.event->key);
      *event->mutable_time() = WallMsToTimestamp(item.event->wall_ms);
      response_.set_dropped(item.dropped);
      StartWrite(&response_);
      return;
    }
    case EventHub::Subscription::State::kWaiting:
      return;
    case EventHub::Subscription::State::kClosed:
      if (reason == EventHub::CloseReason::kShutdown) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
      } else {
        Finish(grpc::Status::CANCELLED);
      }
      return;
  }
}

void WatchEventsReactor::OnWriteDone(bool ok) {
  // A failed write means the stream is broken (cancelled or the connection is gone).
  if (!ok) subscription_->Cancel();
  Pump();
}

void WatchEventsReactor::OnCancel() {
  // If the hub held the turn, it is ours now and nobody else will finish the stream.
  if (subscription_ != nullptr && subscription_->Cancel()) Pump();
}

void WatchEventsReactor::OnDone() { delete this; }

}  // namespace hourglass::server
