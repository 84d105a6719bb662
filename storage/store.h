#pragma once

// The hourglass engine: a sharded, in-process, expiring key-value store with a byte cap.
//
// This header is the contract every layer above builds on (KeyValueService maps onto the
// Redis-like operations; sessions, tokens, rate limits and the cache are built on `Update` and
// `UpdateMany`). It depends on abseil only.
//
// Model
//   - Keys live in separate `Space`s: the same key string in two spaces are two entries.
//   - A key is placed on a shard by the hash of its key, or of its `affinity` when given, so a
//     caller can put related keys (a session and its user's index) on one shard and change them
//     in one atomic step.
//   - Every entry has a value (bytes) and an optional deadline (monotonic ms, 1 ms resolution,
//     at most `Options::max_ttl_ms` ahead). Expired entries are never returned: they are removed
//     lazily on access and actively by a reclaimer in bounded steps.
//   - Every entry is charged what it costs (header, key, value, share of the table). Accounted
//     bytes never exceed `max_memory_bytes`; a write that does not fit fails with
//     RESOURCE_EXHAUSTED and changes nothing. Reads always work.
//
// Thread-safety: `Store` is thread-safe. Each shard has its own mutex; an operation on one key
// locks one shard; `UpdateMany` locks the shards involved in ascending index order (so no
// deadlock is possible). Callbacks passed to `Update`/`UpdateMany` run under those locks: they
// must be short, must not block, and must not call back into the `Store` (except through the
// `ShardEditor` given to a `RemovalHook`).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "storage/clock.h"

namespace hourglass::storage {

// Key spaces. The first five mirror API.md's `Space`; `kIndex` holds internal indexes (a user's
// sessions, a subject's tokens, a tag's entries): charged to the cap, never evicted.
enum class Space : uint8_t { kKv = 0, kSession, kToken, kRateLimit, kCache, kIndex };
inline constexpr int kNumSpaces = 6;

// A deadline is a monotonic millisecond instant (Clock::MonotonicMs()). A persistent key has
// `kNoDeadline`, which compares greater than every real deadline ("infinite TTL", as Redis).
inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

// Identifies one key. The views must outlive the call.
struct KeyRef {
  Space space = Space::kKv;
  std::string_view key;
  // When non-empty the shard is chosen by hashing this instead of `key`. Every access to the
  // key must pass the same affinity (it is not stored).
  std::string_view affinity = {};
};

// Redis's eight maxmemory policies, with Redis's semantics, and a modern one:
//   kAllKeysTinyLfu  sampled TinyLFU: a per-shard count-min sketch remembers how often every key
//                    (present or not) was asked for; the victim is the sampled key asked for
//                    least, and a new key asked for less often than the victim it displaces
//                    becomes the next victim itself (TinyLFU's admission test).
// Victims are sampled (a 16-candidate pool per shard, as Redis's evict.c). kIndex entries are
// never victims. noeviction, and a volatile-* policy with no key with a TTL left, fail the write
// with RESOURCE_EXHAUSTED and change nothing.
enum class EvictionPolicy : uint8_t {
  kNoEviction,
  kAllKeysLru,
  kVolatileLru,
  kAllKeysLfu,
  kVolatileLfu,
  kAllKeysRandom,
  kVolatileRandom,
  kVolatileTtl,
  kAllKeysTinyLfu,
};
inline constexpr int kNumEvictionPolicies = 9;

enum class EventKind : uint8_t { kExpired, kEvicted, kDeleted };

// An entry that left the store. Views are valid only during the callback.
struct Event {
  EventKind kind;
  Space space;
  std::string_view key;
  std::string_view value;  // the entry's value, so a domain layer can derive what it may show
  int64_t time_ms;         // monotonic instant of removal
};

// Called after the shard lock is released, on the thread that removed the entry (a request
// thread or the reclaimer). DELETED is raised for explicit removals (Delete, Get with
// delete_after, Cursor::Erase, a deadline in the past), not for overwrites.
using EventListener = std::function<void(const Event&)>;

// The state of one key inside an atomic step (`Update`, `UpdateMany`, `ShardEditor`). Reads see
// the key as it is (expired entries read as absent); writes are staged and applied only when
// the step's callback returns OK and everything fits under the cap.
class Cursor {
 public:
  virtual ~Cursor() = default;
  // Whether the key exists (after any staged write on this cursor).
  virtual bool found() const = 0;
  // The value, valid until the step ends or the next write on this cursor. Empty if !found().
  virtual std::string_view value() const = 0;
  // The deadline, kNoDeadline when persistent or absent.
  virtual int64_t deadline() const = 0;
  // Creates or replaces the entry. A deadline <= now removes the key instead (DELETED).
  virtual void Put(std::string_view value, int64_t deadline) = 0;
  // Changes the deadline of an existing entry (no-op when absent). <= now removes it.
  virtual void SetDeadline(int64_t deadline) = 0;
  // Removes the entry (DELETED event when it existed).
  virtual void Erase() = 0;
};

// Lets a `RemovalHook` edit keys on the shard whose lock it holds.
class ShardEditor {
 public:
  virtual ~ShardEditor() = default;
  // Runs `fn` on `key`, which must map to the locked shard (FAILED_PRECONDITION otherwise).
  // Writes made here are not refused by the cap (they are index clean-ups that shrink).
  virtual absl::Status Update(const KeyRef& key, absl::FunctionRef<absl::Status(Cursor&)> fn) = 0;
};

// Called under the shard lock when an entry of a space is removed by expiry or eviction (not by
// an explicit write, whose caller keeps its own indexes right). Used to update an index placed
// on the same shard (by affinity) in the same atomic step. `value` is the removed entry's value.
using RemovalHook =
    std::function<void(std::string_view key, std::string_view value, ShardEditor& shard)>;

// ---- Redis-like operations (KeyValueService) ----

struct GetOptions {
  enum class Touch : uint8_t { kNone, kTtl, kPersist };
  Touch touch = Touch::kNone;
  int64_t ttl_ms = 0;         // with kTtl: new deadline = now + ttl_ms (> 0)
  bool delete_after = false;  // GETDEL
};
struct GetResult {
  bool found = false;
  std::string value;
  int64_t deadline = kNoDeadline;  // after the touch, if any
};

// How a write sets the deadline.
struct Expiry {
  enum class Kind : uint8_t { kNone, kTtl, kDeadline, kKeep };
  Kind kind = Kind::kNone;
  int64_t ms = 0;  // kTtl: milliseconds from now; kDeadline: monotonic instant

  static Expiry None() { return {}; }
  static Expiry Ttl(int64_t ttl_ms) { return {Kind::kTtl, ttl_ms}; }
  static Expiry At(int64_t deadline_ms) { return {Kind::kDeadline, deadline_ms}; }
  static Expiry Keep() { return {Kind::kKeep, 0}; }
};

enum class SetCondition : uint8_t { kAlways, kIfAbsent, kIfPresent };
struct SetOptions {
  SetCondition condition = SetCondition::kAlways;
  Expiry expiry;  // kNone clears an old TTL (plain SET); a past deadline deletes, applied = true
  bool return_previous = false;
};
struct SetResult {
  bool applied = false;
  bool had_previous = false;
  std::string previous;  // filled only with return_previous
};

enum class ExpireCondition : uint8_t { kAlways, kIfNoExpiry, kIfHasExpiry, kIfGreater, kIfLess };

struct TtlInfo {
  bool found = false;
  int64_t deadline = kNoDeadline;
};

struct IncrementResult {
  int64_t value = 0;
  int64_t deadline = kNoDeadline;
};

// ---- Stats ----

struct SpaceStats {
  uint64_t keys = 0;
  uint64_t keys_with_expiry = 0;
  uint64_t bytes = 0;  // accounted bytes of this space's entries
};

// Reclamation lateness (reclaim instant - deadline) histogram, milliseconds.
inline constexpr std::array<int64_t, 12> kLatenessBucketsMs = {1,   2,   5,   10,   25,   50,
                                                               100, 250, 500, 1000, 2500, 5000};
struct LatenessHistogram {
  std::array<uint64_t, kLatenessBucketsMs.size() + 1> counts{};  // last bucket: > 5000 ms
  uint64_t total = 0;
  double sum_ms = 0;
};

struct StoreStats {
  std::array<SpaceStats, kNumSpaces> spaces{};
  uint64_t used_bytes = 0;
  uint64_t max_bytes = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t expired = 0;
  uint64_t evicted = 0;
  uint64_t rejected_writes = 0;
  std::vector<uint64_t> shard_keys;
  LatenessHistogram lateness;
};

// ---- Snapshots ----

// One live entry as Store::Export hands it out. The views are valid only during the sink call.
struct ExportedEntry {
  Space space = Space::kKv;
  std::string_view key;
  std::string_view value;
  int64_t deadline = kNoDeadline;  // monotonic ms; kNoDeadline when persistent
};

class Store {
 public:
  struct Options {
    Clock* clock = nullptr;  // required, outlives the Store
    size_t shards = 16;      // power of two, 1..65536
    uint64_t max_memory_bytes = 256u << 20;
    EvictionPolicy eviction_policy = EvictionPolicy::kVolatileLru;
    int64_t max_ttl_ms = 87600LL * 3600 * 1000;  // deadlines beyond now + this: INVALID_ARGUMENT
    // Background reclaimer period (real time). 0 = no thread; call RunReclaimStep() (tests).
    int64_t reclaim_interval_ms = 10;
    EventListener listener;  // optional
  };

  // INVALID_ARGUMENT when options are out of range.
  static absl::StatusOr<std::unique_ptr<Store>> Create(Options options);
  virtual ~Store() = default;

  // ---- Redis-like operations. Errors: INVALID_ARGUMENT (bad deadline/ttl), RESOURCE_EXHAUSTED
  // (does not fit under the cap; nothing changed), FAILED_PRECONDITION (Increment on a value
  // that is not a decimal int64, or overflow; value unchanged). ----
  virtual absl::StatusOr<GetResult> Get(const KeyRef& key, const GetOptions& options = {}) = 0;
  virtual absl::StatusOr<SetResult> Set(const KeyRef& key, std::string_view value,
                                        const SetOptions& options = {}) = 0;
  // Returns how many of `keys` existed and were removed.
  virtual uint64_t Delete(absl::Span<const KeyRef> keys) = 0;
  // `expiry` is kTtl or kDeadline; ttl 0 / a past deadline deletes when the condition holds.
  // Returns whether the condition held and the change was applied (false when absent).
  virtual absl::StatusOr<bool> Expire(const KeyRef& key, Expiry expiry,
                                      ExpireCondition condition) = 0;
  // Removes the deadline. False when absent or already persistent.
  virtual bool Persist(const KeyRef& key) = 0;
  virtual TtlInfo GetTtl(const KeyRef& key) = 0;
  // INCRBY; `ttl_on_create_ms` (> 0) sets a TTL only when this call creates the key.
  virtual absl::StatusOr<IncrementResult> Increment(const KeyRef& key, int64_t delta,
                                                    std::optional<int64_t> ttl_on_create_ms) = 0;

  // ---- The atomic read-modify-write primitive every domain operation is built on. ----
  // Runs `fn` under the key's shard lock. If `fn` returns non-OK nothing is applied and that
  // status is returned; otherwise staged writes are applied (RESOURCE_EXHAUSTED and nothing
  // applied when they do not fit).
  virtual absl::Status Update(const KeyRef& key, absl::FunctionRef<absl::Status(Cursor&)> fn) = 0;
  // The multi-key form: locks every shard involved in ascending order, gives one cursor per key
  // in the order of `keys`, applies all staged writes or none. Keys must be distinct
  // (INVALID_ARGUMENT otherwise).
  virtual absl::Status UpdateMany(
      absl::Span<const KeyRef> keys,
      absl::FunctionRef<absl::Status(absl::Span<Cursor* const>)> fn) = 0;

  // ---- Snapshots. ----
  // Visits every live entry (expired ones are skipped, not removed), shard by shard. Each shard
  // is copied in chunks of at most kExportChunkEntries entries / kExportChunkBytes bytes under
  // its lock; `sink` runs with no lock held, so it may do I/O (and may call the store). Not a
  // point-in-time image: writes made meanwhile may or may not be seen, and a key is visited
  // more than once if its shard's table was rebuilt between two chunks (the later visit is the
  // newer state). A key present and unchanged for the whole call is visited at least once.
  // Stops at the first non-OK status of `sink` and returns it. Thread-safe.
  static constexpr size_t kExportChunkEntries = 4096;
  static constexpr size_t kExportChunkBytes = 1u << 20;
  virtual absl::Status Export(absl::FunctionRef<absl::Status(const ExportedEntry&)> sink) = 0;

  // Restores one entry (what a snapshot loader calls, before serving): stores `value` under
  // `key` (whose affinity must be the one every later access will pass) with `deadline`
  // (monotonic ms or kNoDeadline), replacing an entry already there. A deadline further than
  // max_ttl ahead is clamped to now + max_ttl. Never evicts: the entry is stored only if it
  // fits under the cap. Not counted as a hit, miss or rejected write; raises no event of its
  // own (an expired entry met at the key is reclaimed as usual).
  // Returns true when stored, false when `deadline` <= now (nothing stored);
  // RESOURCE_EXHAUSTED when it does not fit (nothing stored); INVALID_ARGUMENT for a key or
  // value the store cannot hold.
  virtual absl::StatusOr<bool> Import(const KeyRef& key, std::string_view value,
                                      int64_t deadline) = 0;

  // Registers the removal hook of a space. Call before the store is shared between threads.
  virtual void SetRemovalHook(Space space, RemovalHook hook) = 0;

  // ---- Configuration, live. ----
  virtual void SetMaxMemory(uint64_t bytes) = 0;
  virtual uint64_t max_memory() const = 0;
  virtual void SetEvictionPolicy(EvictionPolicy policy) = 0;
  virtual EvictionPolicy eviction_policy() const = 0;

  // ---- Expiry and stats. ----
  // One bounded reclamation step over every shard (what the background thread runs each tick).
  // Returns the number of entries reclaimed.
  virtual uint64_t RunReclaimStep() = 0;
  // Sums per-shard stats (takes each shard lock briefly).
  virtual StoreStats GetStats() const = 0;
  virtual size_t shard_count() const = 0;
  virtual const Clock& clock() const = 0;
};

}  // namespace hourglass::storage
