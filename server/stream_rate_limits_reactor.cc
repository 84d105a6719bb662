#include "server/stream_rate_limits_reactor.h"

#include <utility>

namespace hourglass::server {

StreamRateLimitsReactor::StreamRateLimitsReactor(Handler handler) : handler_(std::move(handler)) {
  storage::MutexLock lock(&mu_);
  reading_ = true;
  StartRead(&request_);
}

void StreamRateLimitsReactor::OnReadDone(bool ok) {
  storage::MutexLock lock(&mu_);
  reading_ = false;
  if (!ok) {
    reads_done_ = true;  // half-close, cancellation or a broken connection
  } else if (!broken_) {
    queue_.emplace_back();
    handler_(request_, queue_.back());
  }
  Advance();
}

void StreamRateLimitsReactor::OnWriteDone(bool ok) {
  storage::MutexLock lock(&mu_);
  writing_ = false;
  queue_.pop_front();
  if (!ok) broken_ = true;
  Advance();
}

void StreamRateLimitsReactor::OnCancel() {
  storage::MutexLock lock(&mu_);
  broken_ = true;
  Advance();
}

void StreamRateLimitsReactor::OnDone() { delete this; }

void StreamRateLimitsReactor::Advance() {
  if (finished_) return;
  if (broken_) {
    // Nothing more will be delivered: drop what is queued; finish once no write is in flight
    // (a pending read completes on its own, with ok = false).
    if (!writing_) {
      queue_.clear();
      finished_ = true;
      Finish(grpc::Status::CANCELLED);
    }
    return;
  }
  if (!writing_ && !queue_.empty()) {
    writing_ = true;
    // No buffer hint: a hinted write may not complete until a later write flushes it, and the
    // next write only starts when this one completes.
    StartWrite(&queue_.front());
  }
  if (!reading_ && !reads_done_ && queue_.size() < kMaxQueuedResponses) {
    reading_ = true;
    StartRead(&request_);
  }
  if (reads_done_ && !writing_ && queue_.empty()) {
    finished_ = true;
    Finish(grpc::Status::OK);
  }
}

}  // namespace hourglass::server
