// EventHub without gRPC: what each space shows, filtering, the bounded buffer and its `dropped`
// counts (exact totals under concurrency), the turn hand-over, cancel, close, no leaks.

#include "server/event_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hourglass::server {
namespace {

using storage::EventKind;
using storage::FakeClock;
using storage::Space;
using State = EventHub::Subscription::State;

EventHub::SpaceSet All() { return EventHub::SpaceSet().set(); }
EventHub::SpaceSet Only(Space space) {
  return EventHub::SpaceSet().set(static_cast<size_t>(space));
}

storage::Event Removed(Space space, std::string_view key, int64_t time_ms,
                       EventKind kind = EventKind::kDeleted, std::string_view value = "v") {
  return storage::Event{kind, space, key, value, time_ms};
}

// A subscriber driven by hand: counts hand-backs of the turn.
struct Probe {
  explicit Probe(EventHub& hub, EventHub::SpaceSet spaces, size_t capacity = 16)
      : subscription(hub.Subscribe(spaces, capacity, [this] { ++wakeups; })) {}

  // Drains what is buffered (the caller holds the turn); leaves the turn with the hub.
  std::vector<EventHub::Item> Drain() {
    std::vector<EventHub::Item> items;
    EventHub::Item item;
    EventHub::CloseReason reason;
    while (subscription->Next(&item, &reason) == State::kEvent) items.push_back(item);
    return items;
  }

  std::atomic<int> wakeups{0};
  std::unique_ptr<EventHub::Subscription> subscription;
};

TEST(EventHubTest, ShowsRawKeysOnlyForKvRateLimitAndCache) {
  FakeClock clock;
  EventHub hub(clock);
  Probe probe(hub, All());
  ASSERT_TRUE(probe.Drain().empty());
  const int64_t now = clock.MonotonicMs();
  for (Space space : {Space::kKv, Space::kSession, Space::kToken, Space::kRateLimit, Space::kCache,
                      Space::kIndex}) {
    hub.Publish(Removed(space, "secret-or-key", now));
  }
  std::vector<EventHub::Item> items = probe.Drain();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].event->space, Space::kKv);
  EXPECT_EQ(items[1].event->space, Space::kRateLimit);
  EXPECT_EQ(items[2].event->space, Space::kCache);
  for (const auto& item : items) EXPECT_EQ(item.event->key, "secret-or-key");
}

TEST(EventHubTest, FormattersRewriteOrHideKeys) {
  FakeClock clock;
  EventHub hub(clock);
  hub.SetKeyFormatter(Space::kSession, [](std::string_view key, std::string_view value) {
    return std::optional<std::string>(std::string(value) + ":" + std::string(key.substr(0, 2)));
  });
  hub.SetKeyFormatter(Space::kCache,
                      [](std::string_view, std::string_view) -> std::optional<std::string> {
                        return std::nullopt;  // hides every cache event
                      });
  hub.SetKeyFormatter(Space::kIndex, [](std::string_view, std::string_view) {
    return std::optional<std::string>("never");
  });
  Probe probe(hub, All());
  probe.Drain();
  hub.Publish(
      Removed(Space::kSession, "sid-secret", clock.MonotonicMs(), EventKind::kExpired, "user7"));
  hub.Publish(Removed(Space::kCache, "c", clock.MonotonicMs()));
  hub.Publish(Removed(Space::kIndex, "i", clock.MonotonicMs()));
  hub.Publish(Removed(Space::kKv, "k", clock.MonotonicMs()));
  std::vector<EventHub::Item> items = probe.Drain();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].event->key, "user7:si");
  EXPECT_EQ(items[0].event->kind, EventKind::kExpired);
  EXPECT_EQ(items[1].event->key, "k");
}

TEST(EventHubTest, FiltersBySpaceAndConvertsTimeToWallClock) {
  FakeClock clock;
  EventHub hub(clock);
  Probe kv(hub, Only(Space::kKv));
  Probe cache(hub, Only(Space::kCache));
  kv.Drain();
  cache.Drain();
  clock.AdvanceMs(500);
  hub.Publish(Removed(Space::kKv, "a", clock.MonotonicMs() - 20));
  hub.Publish(Removed(Space::kCache, "b", clock.MonotonicMs()));
  std::vector<EventHub::Item> kv_items = kv.Drain();
  std::vector<EventHub::Item> cache_items = cache.Drain();
  ASSERT_EQ(kv_items.size(), 1u);
  ASSERT_EQ(cache_items.size(), 1u);
  EXPECT_EQ(kv_items[0].event->key, "a");
  EXPECT_EQ(kv_items[0].event->wall_ms, FakeClock::kStartWallMs + 500 - 20);
  EXPECT_EQ(cache_items[0].event->key, "b");
}

TEST(EventHubTest, UnwatchedSpacesAreNeverFormatted) {
  FakeClock clock;
  EventHub hub(clock);
  int calls = 0;
  hub.SetKeyFormatter(Space::kSession, [&calls](std::string_view, std::string_view) {
    ++calls;
    return std::optional<std::string>("x");
  });
  hub.Publish(Removed(Space::kSession, "s", clock.MonotonicMs()));  // nobody subscribed
  {
    Probe kv(hub, Only(Space::kKv));
    hub.Publish(Removed(Space::kSession, "s", clock.MonotonicMs()));  // not this space
  }
  EXPECT_EQ(calls, 0);
  Probe session(hub, Only(Space::kSession));
  hub.Publish(Removed(Space::kSession, "s", clock.MonotonicMs()));
  EXPECT_EQ(calls, 1);
}

TEST(EventHubTest, TurnPassesToHubWhenEmptyAndBackOnTheNextEvent) {
  FakeClock clock;
  EventHub hub(clock);
  Probe probe(hub, All());
  hub.Publish(Removed(Space::kKv, "early", clock.MonotonicMs()));
  EXPECT_EQ(probe.wakeups, 0);  // the subscriber held the turn: no call-back
  EXPECT_EQ(probe.Drain().size(), 1u);
  hub.Publish(Removed(Space::kKv, "a", clock.MonotonicMs()));
  hub.Publish(Removed(Space::kKv, "b", clock.MonotonicMs()));
  EXPECT_EQ(probe.wakeups, 1);  // handed back once; the second event just queued
  EXPECT_EQ(probe.Drain().size(), 2u);
}

TEST(EventHubTest, FullBufferDropsAndTheNextEventCarriesTheCount) {
  FakeClock clock;
  EventHub hub(clock);
  Probe probe(hub, All(), /*capacity=*/3);
  probe.Drain();
  for (int i = 0; i < 10; ++i) {
    hub.Publish(Removed(Space::kKv, std::to_string(i), clock.MonotonicMs()));
  }
  std::vector<EventHub::Item> items = probe.Drain();
  ASSERT_EQ(items.size(), 3u);
  for (const auto& item : items) EXPECT_EQ(item.dropped, 0);
  EXPECT_EQ(items[2].event->key, "2");
  hub.Publish(Removed(Space::kKv, "next", clock.MonotonicMs()));
  items = probe.Drain();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].event->key, "next");
  EXPECT_EQ(items[0].dropped, 7);
  EXPECT_EQ(hub.dropped_total(), 7u);
}

TEST(EventHubTest, CancelTakesTheTurnOnlyFromTheHub) {
  FakeClock clock;
  EventHub hub(clock);
  Probe idle(hub, All());
  idle.Drain();                               // the hub holds idle's turn
  EXPECT_TRUE(idle.subscription->Cancel());   // ... and gives it to the canceller
  Probe busy(hub, All());                     // busy's subscriber holds its turn
  EXPECT_FALSE(busy.subscription->Cancel());  // the holder will see kClosed
  EventHub::Item item;
  EventHub::CloseReason reason = EventHub::CloseReason::kShutdown;
  EXPECT_EQ(busy.subscription->Next(&item, &reason), State::kClosed);
  EXPECT_EQ(reason, EventHub::CloseReason::kCancelled);
  hub.Publish(Removed(Space::kKv, "k", clock.MonotonicMs()));
  EXPECT_EQ(idle.wakeups + busy.wakeups, 0);  // closed subscriptions get nothing
}

TEST(EventHubTest, CloseWakesIdleSubscribersAndRefusesNewOnes) {
  FakeClock clock;
  EventHub hub(clock);
  Probe idle(hub, All());
  idle.Drain();
  Probe busy(hub, All());
  hub.Close();
  EXPECT_EQ(idle.wakeups, 1);
  EXPECT_EQ(busy.wakeups, 0);
  EventHub::Item item;
  EventHub::CloseReason reason = EventHub::CloseReason::kCancelled;
  EXPECT_EQ(idle.subscription->Next(&item, &reason), State::kClosed);
  EXPECT_EQ(reason, EventHub::CloseReason::kShutdown);
  reason = EventHub::CloseReason::kCancelled;
  EXPECT_EQ(busy.subscription->Next(&item, &reason), State::kClosed);
  EXPECT_EQ(reason, EventHub::CloseReason::kShutdown);
  Probe late(hub, All());
  reason = EventHub::CloseReason::kCancelled;
  EXPECT_EQ(late.subscription->Next(&item, &reason), State::kClosed);
  EXPECT_EQ(reason, EventHub::CloseReason::kShutdown);
  hub.Close();  // idempotent
}

TEST(EventHubTest, DestroyedSubscriptionsLeaveNothingBehind) {
  FakeClock clock;
  EventHub hub(clock);
  for (int i = 0; i < 100; ++i) {
    Probe probe(hub, All());
    hub.Publish(Removed(Space::kKv, "k", clock.MonotonicMs()));
  }
  EXPECT_EQ(hub.subscription_count(), 0u);
}

// A subscriber on its own thread, following the turn protocol as the gRPC reactor does.
class ThreadedConsumer {
 public:
  ThreadedConsumer(EventHub& hub, size_t capacity)
      : subscription_(hub.Subscribe(All(), capacity, [this] { Wake(); })),
        thread_([this] { Run(); }) {}
  ~ThreadedConsumer() { Finish(); }

  // Blocks until the consumer has drained its buffer and handed the turn to the hub.
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return waiting_ && !ready_; });
  }
  // No more events will be published: the consumer ends once its buffer is empty.
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      publishers_done_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }
  int64_t delivered() const { return delivered_; }
  int64_t reported_dropped() const { return reported_dropped_; }

 private:
  void Wake() {
    std::lock_guard<std::mutex> lock(mu_);
    ready_ = true;
    cv_.notify_all();
  }
  void Run() {
    EventHub::Item item;
    EventHub::CloseReason reason;
    for (;;) {
      switch (subscription_->Next(&item, &reason)) {
        case State::kEvent:
          ++delivered_;
          reported_dropped_ += item.dropped;
          if (delivered_ % 64 == 0) std::this_thread::yield();  // a slowish consumer
          continue;
        case State::kClosed:
          return;
        case State::kWaiting:
          break;
      }
      std::unique_lock<std::mutex> lock(mu_);
      waiting_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return ready_ || publishers_done_; });
      waiting_ = false;
      // A publish that queued an event ran its call-back before the publishers were joined, so
      // "done and not ready" means the buffer is empty for good.
      if (!ready_) return;
      ready_ = false;
    }
  }

  std::unique_ptr<EventHub::Subscription> subscription_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;
  bool waiting_ = false;
  bool publishers_done_ = false;
  int64_t delivered_ = 0;
  int64_t reported_dropped_ = 0;
  std::thread thread_;
};

TEST(EventHubTest, ConcurrentPublishersAndConsumersAccountForEveryEvent) {
  FakeClock clock;
  EventHub hub(clock);
  constexpr int kPublishers = 4;
  constexpr int kEventsEach = 20'000;
  constexpr int kConsumers = 3;
  std::vector<std::unique_ptr<ThreadedConsumer>> consumers;
  for (int i = 0; i < kConsumers; ++i) {
    consumers.push_back(std::make_unique<ThreadedConsumer>(hub, /*capacity=*/64));
  }
  // Churn: subscriptions created and cancelled while events flow.
  std::atomic<bool> stop_churn{false};
  std::thread churn([&] {
    while (!stop_churn.load()) hub.Subscribe(All(), 8, [] {})->Cancel();
  });
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&hub, &clock, p] {
      const std::string key = "k" + std::to_string(p);
      for (int i = 0; i < kEventsEach; ++i) {
        hub.Publish(Removed(Space::kKv, key, clock.MonotonicMs()));
      }
    });
  }
  for (auto& t : publishers) t.join();
  stop_churn = true;
  churn.join();
  // Once every consumer is drained, one more event reports what each lost after its last
  // delivery: then every event is accounted for, exactly.
  for (auto& consumer : consumers) consumer->WaitIdle();
  hub.Publish(Removed(Space::kKv, "sentinel", clock.MonotonicMs()));
  for (auto& consumer : consumers) {
    consumer->Finish();
    EXPECT_EQ(consumer->delivered() + consumer->reported_dropped(), kPublishers * kEventsEach + 1);
  }
  consumers.clear();
  EXPECT_EQ(hub.subscription_count(), 0u);
}

}  // namespace
}  // namespace hourglass::server
