#include "server/event_hub.h"

#include <algorithm>
#include <utility>

namespace hourglass::server {
namespace {

size_t Index(storage::Space space) { return static_cast<size_t>(space); }

// Spaces whose raw key may be shown when no formatter is registered. Session ids and token
// hashes are secrets (or stand in for them), and the index space is internal.
bool ShowsRawKey(storage::Space space) {
  return space == storage::Space::kKv || space == storage::Space::kRateLimit ||
         space == storage::Space::kCache;
}

}  // namespace

EventHub::Subscription::Subscription(EventHub* hub, SpaceSet spaces, size_t capacity,
                                     std::function<void()> on_ready)
    : hub_(hub), spaces_(spaces), capacity_(capacity), on_ready_(std::move(on_ready)) {}

EventHub::Subscription::~Subscription() { hub_->Remove(this); }

EventHub::Subscription::State EventHub::Subscription::Next(Item* item, CloseReason* reason) {
  storage::MutexLock lock(&hub_->mu_);
  if (closed_.has_value()) {
    *reason = *closed_;
    return State::kClosed;
  }
  if (buffer_.empty()) {
    hub_has_turn_ = true;
    return State::kWaiting;
  }
  *item = std::move(buffer_.front());
  buffer_.pop_front();
  return State::kEvent;
}

bool EventHub::Subscription::Cancel() {
  storage::MutexLock lock(&hub_->mu_);
  if (!closed_.has_value()) closed_ = CloseReason::kCancelled;
  buffer_.clear();
  const bool caller_takes_turn = hub_has_turn_;
  hub_has_turn_ = false;
  return caller_takes_turn;
}

EventHub::EventHub(const storage::Clock& clock) : clock_(clock) {}

EventHub::~EventHub() = default;

void EventHub::SetKeyFormatter(storage::Space space, KeyFormatter formatter) {
  if (space == storage::Space::kIndex || Index(space) >= storage::kNumSpaces) return;
  auto shared = formatter ? std::make_shared<const KeyFormatter>(std::move(formatter)) : nullptr;
  storage::MutexLock lock(&mu_);
  formatters_[Index(space)] = std::move(shared);
}

std::unique_ptr<EventHub::Subscription> EventHub::Subscribe(SpaceSet spaces, size_t capacity,
                                                            std::function<void()> on_ready) {
  spaces.reset(Index(storage::Space::kIndex));
  std::unique_ptr<Subscription> subscription(
      new Subscription(this, spaces, std::max<size_t>(capacity, 1), std::move(on_ready)));
  storage::MutexLock lock(&mu_);
  if (closed_) subscription->closed_ = CloseReason::kShutdown;
  subscriptions_.push_back(subscription.get());
  for (size_t i = 0; i < storage::kNumSpaces; ++i) {
    if (spaces.test(i)) watchers_[i].fetch_add(1, std::memory_order_relaxed);
  }
  return subscription;
}

void EventHub::Remove(Subscription* subscription) {
  storage::MutexLock lock(&mu_);
  auto it = std::find(subscriptions_.begin(), subscriptions_.end(), subscription);
  if (it == subscriptions_.end()) return;
  *it = subscriptions_.back();
  subscriptions_.pop_back();
  for (size_t i = 0; i < storage::kNumSpaces; ++i) {
    if (subscription->spaces_.test(i)) watchers_[i].fetch_sub(1, std::memory_order_relaxed);
  }
}

void EventHub::Publish(const storage::Event& event) {
  const size_t space = Index(event.space);
  if (event.space == storage::Space::kIndex || space >= storage::kNumSpaces) return;
  // Unwatched space: no lock, no formatting (the common case on the store's hot paths). A
  // subscription racing with this event may or may not receive it, as with any live feed.
  if (watchers_[space].load(std::memory_order_relaxed) == 0) return;

  std::shared_ptr<const KeyFormatter> formatter;
  {
    storage::MutexLock lock(&mu_);
    formatter = formatters_[space];
  }
  // Formatting (a SHA-256 for sessions) runs outside the lock and once per event, however many
  // subscriptions receive it.
  std::optional<std::string> key;
  if (formatter != nullptr) {
    key = (*formatter)(event.key, event.value);
  } else if (ShowsRawKey(event.space)) {
    key.emplace(event.key);
  }
  if (!key.has_value()) return;
  auto shown = std::make_shared<const WatchedEvent>(
      WatchedEvent{event.space, event.kind, std::move(*key), clock_.ToWallMs(event.time_ms)});

  std::vector<Subscription*> ready;
  {
    storage::MutexLock lock(&mu_);
    for (Subscription* subscription : subscriptions_) {
      if (subscription->closed_.has_value() || !subscription->spaces_.test(space)) continue;
      if (subscription->buffer_.size() >= subscription->capacity_) {
        ++subscription->dropped_since_last_;
        ++dropped_total_;
        continue;
      }
      subscription->buffer_.push_back(Item{shown, subscription->dropped_since_last_});
      subscription->dropped_since_last_ = 0;
      if (subscription->hub_has_turn_) {
        subscription->hub_has_turn_ = false;
        ready.push_back(subscription);
      }
    }
  }
  // Each of these now holds the turn, so none can finish (and be destroyed) before its
  // on_ready runs; calling outside the lock lets on_ready call Next() and start a write.
  for (Subscription* subscription : ready) subscription->on_ready_();
}

void EventHub::Close() {
  std::vector<Subscription*> ready;
  {
    storage::MutexLock lock(&mu_);
    closed_ = true;
    for (Subscription* subscription : subscriptions_) {
      if (subscription->closed_.has_value()) continue;
      subscription->closed_ = CloseReason::kShutdown;
      subscription->buffer_.clear();
      if (subscription->hub_has_turn_) {
        subscription->hub_has_turn_ = false;
        ready.push_back(subscription);
      }
    }
  }
  for (Subscription* subscription : ready) subscription->on_ready_();
}

size_t EventHub::subscription_count() const {
  storage::MutexLock lock(&mu_);
  return subscriptions_.size();
}

uint64_t EventHub::dropped_total() const {
  storage::MutexLock lock(&mu_);
  return dropped_total_;
}

}  // namespace hourglass::server
