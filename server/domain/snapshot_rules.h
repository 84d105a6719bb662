#pragma once

// What a snapshot loader must know about the keys and values each domain keeps in the store:
// where a key lives (its affinity), which entries may come back after an unclean stop, and how
// to carry the monotonic instants some values hold over to a new process.
//
//   - Affinity: every key's KeyRef::affinity is derivable from the key (NOTES.md, "Placement"):
//     a session id ends with its routing tag; a token key starts with it; the "s:" / "t:"
//     indexes use the tag of their owner; everything else has none.
//   - After an unclean stop (a crash, then a restart from an older periodic snapshot) only KV
//     entries come back. Sessions, tokens, rate-limit state and the cache (with their indexes)
//     come back only from a snapshot written after the drain at shutdown, because an older one
//     could bring back a deleted or rotated session, an unspent token, a smaller rate-limit
//     count, or a cache entry invalidated since.
//   - Cache records and cache tag indexes hold monotonic instants (cache_codec.h); they are
//     moved by the difference between the two processes' monotonic clocks, and the lease is
//     dropped (the tag invalidations that may cancel it were kept in memory only).
//
// Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/store.h"

namespace hourglass::domain {

// The affinity `key` of `space` was stored with (empty: none).
std::string SnapshotAffinity(storage::Space space, std::string_view key);

// Whether an entry may be restored from a snapshot not written at a graceful shutdown.
bool RestorableAfterUncleanStop(storage::Space space, std::string_view key);

// An entry as it is to be restored in the new process.
struct RestoredValue {
  enum class Kind : uint8_t {
    kAsIs,       // restore the value and deadline unchanged
    kRewritten,  // restore `value` with `deadline`
    kDropped,    // restore nothing (a cache MISS placeholder: only a lease)
  };
  Kind kind = Kind::kAsIs;
  std::string value;
  int64_t deadline = storage::kNoDeadline;
};

// Carries an entry over to a process whose monotonic clock reads `shift_ms` more than the
// writer's did at the same wall-clock instant. `deadline` is the entry's deadline already
// converted to the new clock. Values of other spaces, and values that do not decode, are kept
// as they are.
RestoredValue RebaseValue(storage::Space space, std::string_view key, std::string_view value,
                          int64_t deadline, int64_t shift_ms);

}  // namespace hourglass::domain
