#pragma once

// EventHub: fans the store's removal events (EXPIRED, EVICTED, DELETED) out to the
// AdminService.WatchEvents streams without ever slowing the store.
//
// The store calls Publish() from whichever thread removed an entry (a request thread or the
// reclaimer), after its shard lock is released. Publish returns at once when nobody watches the
// event's space; otherwise it derives the key a watcher may see and appends the event to the
// bounded buffer of every subscription that wants that space. A full buffer drops the event and
// counts it; the next event queued on that subscription carries the count (`dropped`). Publish
// takes the hub lock twice, briefly, and never waits for a consumer.
//
// What a watcher sees of a key (secrets never travel, API.md "AdminService"):
//   - kIndex: never shown.
//   - kSession, kToken: only what a registered key formatter derives (the contract's
//     non-secret form); without a formatter the event is not shown.
//   - kKv, kRateLimit, kCache: the formatter's result when one is registered, else the raw key.
//   A formatter returning nullopt hides that event.
//
// Delivery is driven by a "turn" per subscription: exactly one party may act on the stream at a
// time. The subscriber holds the turn while it writes; when Next() finds the buffer empty the
// turn passes to the hub, and the next event (or Close) hands it back by calling the
// subscriber's `on_ready` outside any hub lock. Only the turn holder may write to or finish the
// stream, so a subscriber can never be torn down while the hub is about to call it.
//
// Thread-safety: every method is thread-safe. The hub must outlive its subscriptions and the
// store that publishes to it.

#include <array>
#include <atomic>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "storage/clock.h"
#include "storage/mutex.h"
#include "storage/store.h"

namespace hourglass::server {

class EventHub {
 public:
  // Derives the key watchers see from a removed entry's key and value; nullopt hides the event.
  // Runs on the publishing thread, outside every lock: keep it short.
  using KeyFormatter =
      std::function<std::optional<std::string>(std::string_view key, std::string_view value)>;

  // A set of storage spaces (bit i = storage::Space i).
  using SpaceSet = std::bitset<storage::kNumSpaces>;

  // An event as watchers see it. Shared, immutable, between the subscriptions it is queued on.
  struct WatchedEvent {
    storage::Space space;
    storage::EventKind kind;
    std::string key;  // as shown (see the header comment)
    int64_t wall_ms;  // Unix epoch milliseconds of the removal
  };

  // One buffered delivery.
  struct Item {
    std::shared_ptr<const WatchedEvent> event;
    int64_t dropped = 0;  // events this subscription lost just before this one
  };

  enum class CloseReason { kCancelled, kShutdown };

  // A subscriber's handle. Destroying it unsubscribes; the hub then never touches it again.
  class Subscription {
   public:
    enum class State {
      kEvent,    // `item` filled; the caller keeps the turn
      kWaiting,  // nothing buffered: the turn passed to the hub (on_ready gives it back)
      kClosed,   // cancelled or shut down: the caller keeps the turn and ends the stream
    };

    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Called by the turn holder only. On kClosed, `reason` says why.
    State Next(Item* item, CloseReason* reason);

    // Ends the subscription (client cancel, broken stream); buffered events are discarded.
    // Returns true when the hub held the turn: the caller now holds it and must end the
    // stream. False: the current holder sees kClosed on its next Next().
    bool Cancel();

   private:
    friend class EventHub;
    Subscription(EventHub* hub, SpaceSet spaces, size_t capacity, std::function<void()> on_ready);

    EventHub* const hub_;
    const SpaceSet spaces_;
    const size_t capacity_;
    const std::function<void()> on_ready_;
    // Guarded by hub_->mu_ (Publish walks every subscription under that one lock; not written
    // as ABSL_GUARDED_BY because the analysis cannot see that hub_ is the hub holding it).
    std::deque<Item> buffer_;
    int64_t dropped_since_last_ = 0;
    bool hub_has_turn_ = false;
    std::optional<CloseReason> closed_;
  };

  // `clock` converts monotonic event times to wall time; it must outlive the hub.
  explicit EventHub(const storage::Clock& clock);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Registers how keys of `space` are shown (replacing any earlier formatter). Domain services
  // call it while the server starts. Ignored for kIndex, which is never shown.
  void SetKeyFormatter(storage::Space space, KeyFormatter formatter);

  // Starts a subscription to `spaces` holding at most `capacity` (>= 1) undelivered events. The
  // caller holds the turn and should call Next() to start. `on_ready` is called (from a
  // publishing or closing thread, outside hub locks) each time the hub hands the turn back.
  // After Close(), the subscription starts closed (kShutdown).
  std::unique_ptr<Subscription> Subscribe(SpaceSet spaces, size_t capacity,
                                          std::function<void()> on_ready);

  // The store's EventListener. Never blocks on a consumer.
  void Publish(const storage::Event& event);

  // Closes every subscription (kShutdown) and refuses new ones: idle streams are handed the
  // turn at once; busy ones see kClosed after their current write. Call when the server starts
  // draining. Idempotent.
  void Close();

  // Live subscriptions (tests: no leak after cancels).
  size_t subscription_count() const;
  // Events dropped on full buffers since start, over all subscriptions.
  uint64_t dropped_total() const;

 private:
  // Unlinks `subscription` (its destructor).
  void Remove(Subscription* subscription);

  const storage::Clock& clock_;
  // Per space, how many subscriptions want it: lets Publish skip unwatched spaces without a lock.
  std::array<std::atomic<int>, storage::kNumSpaces> watchers_{};

  mutable storage::Mutex mu_;
  std::vector<Subscription*> subscriptions_ ABSL_GUARDED_BY(mu_);
  std::array<std::shared_ptr<const KeyFormatter>, storage::kNumSpaces> formatters_
      ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hourglass::server
