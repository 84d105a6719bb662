#pragma once

// Test harness for SessionManager and TokenManager: a FakeClock store without reclaimer thread,
// the two managers wired the way server.cc wires them, the store's events recorded, and probes
// into the indexes the managers keep.
//
// Eviction has not landed in the engine yet, so the harness can play it: the store is wrapped in
// HookCapturingStore, which keeps each space's RemovalHook, and Evict() removes an entry and
// then runs that hook exactly as the engine will (same key and value, a ShardEditor limited to
// the entry's shard).
//
// Thread-safety: the managers and the store are thread-safe; the recorded events are guarded;
// the rest of the harness is for the test's main thread.

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/domain/member_index.h"
#include "server/domain/routing.h"
#include "server/domain/sessions.h"
#include "server/domain/tokens.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::domain::testing {

// Forwards everything to `inner`, and remembers the removal hooks it is given.
class HookCapturingStore final : public storage::Store {
 public:
  explicit HookCapturingStore(storage::Store& inner) : inner_(inner) {}

  absl::StatusOr<storage::GetResult> Get(const storage::KeyRef& key,
                                         const storage::GetOptions& options) override {
    return inner_.Get(key, options);
  }
  absl::StatusOr<storage::SetResult> Set(const storage::KeyRef& key, std::string_view value,
                                         const storage::SetOptions& options) override {
    return inner_.Set(key, value, options);
  }
  uint64_t Delete(absl::Span<const storage::KeyRef> keys) override { return inner_.Delete(keys); }
  absl::StatusOr<bool> Expire(const storage::KeyRef& key, storage::Expiry expiry,
                              storage::ExpireCondition condition) override {
    return inner_.Expire(key, expiry, condition);
  }
  bool Persist(const storage::KeyRef& key) override { return inner_.Persist(key); }
  storage::TtlInfo GetTtl(const storage::KeyRef& key) override { return inner_.GetTtl(key); }
  absl::StatusOr<storage::IncrementResult> Increment(
      const storage::KeyRef& key, int64_t delta, std::optional<int64_t> ttl_on_create) override {
    return inner_.Increment(key, delta, ttl_on_create);
  }
  absl::Status Update(const storage::KeyRef& key,
                      absl::FunctionRef<absl::Status(storage::Cursor&)> fn) override {
    return inner_.Update(key, fn);
  }
  absl::Status UpdateMany(
      absl::Span<const storage::KeyRef> keys,
      absl::FunctionRef<absl::Status(absl::Span<storage::Cursor* const>)> fn) override {
    return inner_.UpdateMany(keys, fn);
  }
  absl::Status Export(
      absl::FunctionRef<absl::Status(const storage::ExportedEntry&)> sink) override {
    return inner_.Export(sink);
  }
  absl::StatusOr<bool> Import(const storage::KeyRef& key, std::string_view value,
                              int64_t deadline) override {
    return inner_.Import(key, value, deadline);
  }
  void SetRemovalHook(storage::Space space, storage::RemovalHook hook) override {
    hooks_[static_cast<size_t>(space)] = hook;
    inner_.SetRemovalHook(space, std::move(hook));
  }
  void SetMaxMemory(uint64_t bytes) override { inner_.SetMaxMemory(bytes); }
  uint64_t max_memory() const override { return inner_.max_memory(); }
  void SetEvictionPolicy(storage::EvictionPolicy policy) override {
    inner_.SetEvictionPolicy(policy);
  }
  storage::EvictionPolicy eviction_policy() const override { return inner_.eviction_policy(); }
  uint64_t RunReclaimStep() override { return inner_.RunReclaimStep(); }
  storage::StoreStats GetStats() const override { return inner_.GetStats(); }
  size_t shard_count() const override { return inner_.shard_count(); }
  const storage::Clock& clock() const override { return inner_.clock(); }

  // Plays the engine's eviction of `key`: removes it, then runs its space's removal hook with
  // the removed value and an editor that refuses keys of another affinity (another shard).
  // False when the key was absent.
  bool Evict(const storage::KeyRef& key) {
    std::optional<std::string> value;
    EXPECT_TRUE(inner_
                    .Update(key,
                            [&](storage::Cursor& cursor) {
                              if (cursor.found()) value.emplace(cursor.value());
                              cursor.Erase();
                              return absl::OkStatus();
                            })
                    .ok());
    if (!value) return false;
    const storage::RemovalHook& hook = hooks_[static_cast<size_t>(key.space)];
    if (hook) {
      SameShardEditor editor(inner_, key.affinity.empty() ? key.key : key.affinity);
      hook(key.key, *value, editor);
    }
    return true;
  }

 private:
  // A ShardEditor over the real store that, like the engine's, refuses keys placed elsewhere
  // (here: by another affinity, a stricter rule than "another shard").
  class SameShardEditor final : public storage::ShardEditor {
   public:
    SameShardEditor(storage::Store& store, std::string_view placement)
        : store_(store), placement_(placement) {}
    absl::Status Update(const storage::KeyRef& key,
                        absl::FunctionRef<absl::Status(storage::Cursor&)> fn) override {
      const std::string_view placement = key.affinity.empty() ? key.key : key.affinity;
      EXPECT_EQ(placement, placement_) << "removal hook edits a key of another shard";
      if (placement != placement_) return absl::FailedPreconditionError("other shard");
      return store_.Update(key, fn);
    }

   private:
    storage::Store& store_;
    const std::string placement_;
  };

  storage::Store& inner_;
  std::array<storage::RemovalHook, storage::kNumSpaces> hooks_;
};

struct RecordedEvent {
  storage::EventKind kind;
  storage::Space space;
  std::string key;                   // raw store key
  std::optional<std::string> shown;  // what SessionEventKey / TokenEventKey derive
};

class SessionHarness {
  // First: the store's listener writes here until the store is gone.
  mutable std::mutex events_mu_;
  std::vector<RecordedEvent> events_;

 public:
  explicit SessionHarness(size_t shards = 8, uint64_t max_content_bytes = 1 << 20) {
    storage::Store::Options options;
    options.clock = &clock;
    options.shards = shards;
    options.max_memory_bytes = 64u << 20;
    options.reclaim_interval_ms = 0;
    options.listener = [this](const storage::Event& event) {
      RecordedEvent recorded{event.kind, event.space, std::string(event.key), std::nullopt};
      if (event.space == storage::Space::kSession) {
        recorded.shown = SessionEventKey(event.key, event.value);
      } else if (event.space == storage::Space::kToken) {
        recorded.shown = TokenEventKey(event.key, event.value);
      }
      std::lock_guard<std::mutex> lock(events_mu_);
      events_.push_back(std::move(recorded));
    };
    inner = std::move(storage::Store::Create(std::move(options))).value();
    store = std::make_unique<HookCapturingStore>(*inner);
    sessions = std::make_unique<SessionManager>(
        *store, SessionManager::Options{.max_content_bytes = max_content_bytes});
    tokens = std::make_unique<TokenManager>(*store);
  }

  storage::FakeClock clock;
  // Declared in construction order; `sessions` and `tokens` register their hooks on `store`.
  std::unique_ptr<storage::Store> inner;
  std::unique_ptr<HookCapturingStore> store;
  std::unique_ptr<SessionManager> sessions;
  std::unique_ptr<TokenManager> tokens;

  int64_t now() const { return clock.MonotonicMs(); }
  void Advance(int64_t ms) { clock.AdvanceMs(ms); }
  // Reclaims everything that is due (steps are bounded; loops until a step finds nothing).
  void Reclaim() {
    while (store->RunReclaimStep() > 0) {
    }
  }

  // Entries of a space (store statistics).
  uint64_t Keys(storage::Space space) const {
    return store->GetStats().spaces[static_cast<size_t>(space)].keys;
  }

  // The members of `user`'s session index, in order (empty when there is no index), and its
  // deadline (nullopt when absent).
  std::vector<std::string> SessionIndex(std::string_view user) {
    return IndexMembers(SessionIndexRef(user));
  }
  std::optional<int64_t> SessionIndexDeadline(std::string_view user) {
    return IndexDeadline(SessionIndexRef(user));
  }
  std::vector<std::string> TokenIndex(std::string_view subject) {
    return IndexMembers(TokenIndexRef(subject));
  }
  std::optional<int64_t> TokenIndexDeadline(std::string_view subject) {
    return IndexDeadline(TokenIndexRef(subject));
  }

  // The stored deadline of session `id` (nullopt when absent).
  std::optional<int64_t> SessionDeadline(std::string_view id) {
    const storage::TtlInfo ttl = store->GetTtl(SessionRef(id));
    if (!ttl.found) return std::nullopt;
    return ttl.deadline;
  }

  // Evicts session `id` / token key `key` the way the engine will.
  bool EvictSession(std::string_view id) { return store->Evict(SessionRef(id)); }
  bool EvictToken(std::string_view key) {
    return store->Evict(storage::KeyRef{storage::Space::kToken, key, key.substr(0, 4)});
  }

  std::vector<RecordedEvent> events() const {
    std::lock_guard<std::mutex> lock(events_mu_);
    return events_;
  }

  static storage::KeyRef SessionRef(std::string_view id) {
    return storage::KeyRef{storage::Space::kSession, id, id.substr(id.size() - kRoutingTagChars)};
  }

 private:
  // The index KeyRefs as the managers build them (their strings kept alive here).
  storage::KeyRef SessionIndexRef(std::string_view user) {
    scratch_key_ = std::string("s:").append(user);
    scratch_tag_ = RoutingTag(user);
    return storage::KeyRef{storage::Space::kIndex, scratch_key_, scratch_tag_};
  }
  storage::KeyRef TokenIndexRef(std::string_view subject) {
    scratch_key_ = std::string("t:").append(subject);
    scratch_tag_ = RoutingTag(subject);
    return storage::KeyRef{storage::Space::kIndex, scratch_key_, scratch_tag_};
  }
  std::vector<std::string> IndexMembers(const storage::KeyRef& ref) {
    absl::StatusOr<storage::GetResult> got = store->Get(ref, {});
    EXPECT_TRUE(got.ok()) << got.status();
    std::vector<std::string> out;
    if (!got.ok() || !got->found) return out;
    for (std::string_view m : DecodeMembers(got->value)) out.emplace_back(m);
    return out;
  }
  std::optional<int64_t> IndexDeadline(const storage::KeyRef& ref) {
    const storage::TtlInfo ttl = store->GetTtl(ref);
    if (!ttl.found) return std::nullopt;
    return ttl.deadline;
  }

  std::string scratch_key_;
  std::string scratch_tag_;
};

// Shorthands.
inline NewSession MakeSession(std::string_view user, int64_t idle_ms,
                              std::optional<int64_t> absolute_ms = std::nullopt,
                              std::optional<uint32_t> max_sessions = std::nullopt) {
  NewSession spec;
  spec.user_id = std::string(user);
  spec.idle_timeout_ms = idle_ms;
  spec.absolute_timeout_ms = absolute_ms;
  spec.max_sessions_per_user = max_sessions;
  return spec;
}

inline NewToken MakeToken(std::string_view purpose, std::string_view subject, int64_t ttl_ms,
                          TokenFormat format = TokenFormat::kOpaque) {
  NewToken spec;
  spec.purpose = std::string(purpose);
  spec.subject = std::string(subject);
  spec.ttl_ms = ttl_ms;
  spec.format = format;
  return spec;
}

inline TokenQuery Query(std::string_view purpose, std::string_view token,
                        std::string_view subject = {}) {
  return TokenQuery{purpose, token, subject};
}

}  // namespace hourglass::domain::testing
