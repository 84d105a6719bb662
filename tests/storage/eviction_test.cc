// Eviction under the cap: one conformance suite run against every policy, then each policy's own
// ordering on a FakeClock, live cap changes, and a concurrent stress with exact totals.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/entry.h"
#include "tests/storage/test_util.h"

namespace hourglass::storage::testing {
namespace {

using internal::ChargeFor;

constexpr EvictionPolicy kAllPolicies[] = {
    EvictionPolicy::kNoEviction,     EvictionPolicy::kAllKeysLru,  EvictionPolicy::kVolatileLru,
    EvictionPolicy::kAllKeysLfu,     EvictionPolicy::kVolatileLfu, EvictionPolicy::kAllKeysRandom,
    EvictionPolicy::kVolatileRandom, EvictionPolicy::kVolatileTtl, EvictionPolicy::kAllKeysTinyLfu,
};
static_assert(std::size(kAllPolicies) == kNumEvictionPolicies);

bool Evicts(EvictionPolicy p) { return p != EvictionPolicy::kNoEviction; }
bool VolatileOnly(EvictionPolicy p) {
  return p == EvictionPolicy::kVolatileLru || p == EvictionPolicy::kVolatileLfu ||
         p == EvictionPolicy::kVolatileRandom || p == EvictionPolicy::kVolatileTtl;
}

// Keys of one size, so every entry has the same charge: "k" + 7 digits.
std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "k%07d", i);
  return buf;
}
constexpr size_t kKeyLen = 8;
const std::string kValue(16, 'v');
const uint64_t kCharge = ChargeFor(kKeyLen, 16);

// Records every event, by kind and key.
struct EventLog {
  std::mutex mu;
  std::vector<std::pair<EventKind, std::string>> events;
  EventListener Listener() {
    return [this](const Event& e) {
      std::lock_guard<std::mutex> l(mu);
      events.emplace_back(e.kind, std::string(e.key));
    };
  }
  std::set<std::string> Keys(EventKind kind) {
    std::lock_guard<std::mutex> l(mu);
    std::set<std::string> out;
    for (const auto& [k, key] : events) {
      if (k == kind) out.insert(key);
    }
    return out;
  }
  size_t Count(EventKind kind) {
    std::lock_guard<std::mutex> l(mu);
    return std::count_if(events.begin(), events.end(),
                         [&](const auto& e) { return e.first == kind; });
  }
};

struct Fixture {
  Fixture(EvictionPolicy policy, size_t fit, size_t shards = 4) {
    Store::Options o;
    o.shards = shards;
    o.eviction_policy = policy;
    o.max_memory_bytes = fit * kCharge;
    o.listener = log.Listener();
    s = std::make_unique<TestStore>(o);
  }
  Store& store() { return *s->store; }
  absl::Status Put(int i, bool with_ttl = true) {
    return store().Set(Kv(Key(i)), kValue, with_ttl ? WithTtl(3600000) : SetOptions{}).status();
  }
  uint64_t Keys(Space sp = Space::kKv) {
    return store().GetStats().spaces[static_cast<size_t>(sp)].keys;
  }
  // Accounting invariants: used = sum of the spaces' bytes, and (unless a shrunk cap could not
  // be reached) not above the cap.
  void ExpectExactAccounting(bool within_cap = true) {
    const StoreStats st = store().GetStats();
    uint64_t sum = 0;
    for (const SpaceStats& sp : st.spaces) sum += sp.bytes;
    EXPECT_EQ(st.used_bytes, sum);
    if (within_cap) {
      EXPECT_LE(st.used_bytes, st.max_bytes);
    }
  }

  EventLog log;
  std::unique_ptr<TestStore> s;
};

class EvictionConformance : public ::testing::TestWithParam<EvictionPolicy> {};

std::string PolicyName(const ::testing::TestParamInfo<EvictionPolicy>& info) {
  static const char* const kNames[] = {"NoEviction",     "AllKeysLru",  "VolatileLru",
                                       "AllKeysLfu",     "VolatileLfu", "AllKeysRandom",
                                       "VolatileRandom", "VolatileTtl", "AllKeysTinyLfu"};
  return kNames[static_cast<size_t>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionConformance, ::testing::ValuesIn(kAllPolicies),
                         PolicyName);

TEST_P(EvictionConformance, InsertsOverTheCapEvictExactlyWhatIsNeeded) {
  constexpr int kFit = 200;
  constexpr int kMore = 300;
  Fixture f(GetParam(), kFit);
  for (int i = 0; i < kFit; ++i) ASSERT_TRUE(f.Put(i).ok());
  EXPECT_EQ(f.store().GetStats().used_bytes, kFit * kCharge);
  int refused = 0;
  for (int i = kFit; i < kFit + kMore; ++i) {
    absl::Status st = f.Put(i);
    if (!st.ok()) {
      ASSERT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  const StoreStats st = f.store().GetStats();
  if (Evicts(GetParam())) {
    EXPECT_EQ(refused, 0);
    EXPECT_EQ(st.evicted, static_cast<uint64_t>(kMore));  // one eviction per insert, no more
    EXPECT_EQ(f.log.Count(EventKind::kEvicted), static_cast<size_t>(kMore));
    EXPECT_EQ(f.Keys(), static_cast<uint64_t>(kFit));
  } else {
    EXPECT_EQ(refused, kMore);
    EXPECT_EQ(st.evicted, 0u);
    EXPECT_EQ(st.rejected_writes, static_cast<uint64_t>(kMore));
    EXPECT_EQ(f.log.Count(EventKind::kEvicted), 0u);
    for (int i = 0; i < kFit; ++i) EXPECT_EQ(ValueOf(f.store(), Kv(Key(i))), kValue);
  }
  EXPECT_EQ(st.used_bytes, kFit * kCharge);
  f.ExpectExactAccounting();
  // Every evicted key is gone, every resident one readable.
  for (const std::string& k : f.log.Keys(EventKind::kEvicted)) {
    EXPECT_EQ(ValueOf(f.store(), Kv(k)), "<absent>") << k;
  }
}

TEST_P(EvictionConformance, PersistentKeysAreVictimsOnlyOfAllKeysPolicies) {
  constexpr int kFit = 100;
  Fixture f(GetParam(), kFit);
  // 90 persistent keys, 10 with a TTL.
  for (int i = 0; i < kFit; ++i) ASSERT_TRUE(f.Put(i, /*with_ttl=*/i >= 90).ok());
  int refused = 0;
  for (int i = kFit; i < kFit + 30; ++i) {
    if (!f.Put(i, /*with_ttl=*/false).ok()) ++refused;
  }
  const std::set<std::string> evicted = f.log.Keys(EventKind::kEvicted);
  if (!Evicts(GetParam())) {
    EXPECT_EQ(refused, 30);
  } else if (VolatileOnly(GetParam())) {
    // Exactly the ten volatile keys go, then writes fail and change nothing.
    EXPECT_EQ(refused, 20);
    EXPECT_EQ(evicted.size(), 10u);
    for (int i = 90; i < kFit; ++i) EXPECT_TRUE(evicted.count(Key(i))) << i;
    for (int i = 0; i < 90; ++i) EXPECT_EQ(ValueOf(f.store(), Kv(Key(i))), kValue);
    EXPECT_EQ(f.store().GetStats().rejected_writes, 20u);
  } else {
    EXPECT_EQ(refused, 0);
    EXPECT_EQ(evicted.size(), 30u);
  }
  EXPECT_EQ(f.Keys(), static_cast<uint64_t>(kFit));
  f.ExpectExactAccounting();
}

TEST_P(EvictionConformance, IndexEntriesAreNeverVictims) {
  constexpr int kFit = 100;
  Fixture f(GetParam(), kFit);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(f.store().Set({Space::kIndex, Key(i)}, kValue, WithTtl(3600000)).ok());
  }
  for (int i = 50; i < kFit; ++i) ASSERT_TRUE(f.Put(i).ok());
  int refused = 0;
  for (int i = kFit; i < kFit + 200; ++i) {
    if (!f.store().Set({Space::kCache, Key(i)}, kValue, WithTtl(3600000)).ok()) ++refused;
  }
  EXPECT_EQ(f.Keys(Space::kIndex), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(ValueOf(f.store(), {Space::kIndex, Key(i)}), kValue);
  }
  if (Evicts(GetParam())) {
    EXPECT_EQ(refused, 0);
    EXPECT_EQ(f.store().GetStats().evicted, 200u);
    // Only index entries and the newest cache entries' worth of room: the cap still holds.
    EXPECT_EQ(f.Keys(Space::kKv) + f.Keys(Space::kCache), 50u);
  } else {
    EXPECT_EQ(refused, 200);
  }
  // With nothing but index entries left to evict, even a write that would need it fails.
  const std::string big(60 * kCharge, 'x');
  EXPECT_EQ(f.store().Set(Kv("big"), big).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(f.Keys(Space::kIndex), 50u);
  f.ExpectExactAccounting();
}

TEST_P(EvictionConformance, AnErasedKeyIsNeverAVictim) {
  constexpr int kFit = 100;
  Fixture f(GetParam(), kFit, /*shards=*/1);
  for (int i = 0; i < kFit; ++i) ASSERT_TRUE(f.Put(i).ok());
  // Evictions fill the candidate pool; then erase every key, by every explicit path.
  for (int i = kFit; i < kFit + 20; ++i) (void)f.Put(i);
  std::vector<KeyRef> all;
  std::vector<std::string> names;
  for (int i = 0; i < kFit + 20; ++i) names.push_back(Key(i));
  for (const std::string& n : names) all.push_back(Kv(n));
  const std::set<std::string> evicted_before = f.log.Keys(EventKind::kEvicted);
  f.store().Delete(all);
  // New keys now fill the store and overflow it: the victims can only be new keys.
  for (int i = 1000; i < 1000 + 2 * kFit; ++i) (void)f.Put(i);
  for (const std::string& k : f.log.Keys(EventKind::kEvicted)) {
    if (evicted_before.count(k)) continue;
    EXPECT_GE(k, Key(1000)) << "an erased key was evicted: " << k;
  }
  f.ExpectExactAccounting();
}

TEST_P(EvictionConformance, EvictingAMemberUpdatesItsIndexInTheSameStep) {
  // A session-like space: members with a TTL, indexed by owner on the owner's shard.
  constexpr int kFit = 60;
  Fixture f(GetParam(), kFit);
  Store& store = f.store();
  std::atomic<int> hook_calls{0};
  store.SetRemovalHook(
      Space::kSession, [&](std::string_view key, std::string_view value, ShardEditor& shard) {
        hook_calls.fetch_add(1);
        // value = owner; the owner's index lists member keys separated by ','.
        absl::Status st = shard.Update({Space::kIndex, value, value}, [&](Cursor& c) {
          if (!c.found()) return absl::OkStatus();
          std::string list(c.value());
          const std::string item = std::string(key) + ",";
          const size_t pos = list.find(item);
          if (pos != std::string::npos) list.erase(pos, item.size());
          if (list.empty()) {
            c.Erase();
          } else {
            c.Put(list, c.deadline());
          }
          return absl::OkStatus();
        });
        EXPECT_TRUE(st.ok()) << st;
      });
  // 4 owners; each write of a member adds it to its owner's index in one UpdateMany.
  std::map<std::string, std::set<std::string>> written;
  for (int i = 0; i < 300; ++i) {
    const std::string owner = "owner" + std::to_string(i % 4);
    const std::string member = Key(i);
    const KeyRef keys[] = {{Space::kIndex, owner, owner}, {Space::kSession, member, owner}};
    absl::Status st = store.UpdateMany(keys, [&](absl::Span<Cursor* const> c) {
      c[0]->Put(std::string(c[0]->value()) + member + ",", kNoDeadline);
      c[1]->Put(owner, f.s->now() + 3600000);
      return absl::OkStatus();
    });
    // The index grows, so late writes may find nothing left to evict but other members.
    if (!st.ok()) {
      ASSERT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
      continue;
    }
    written[owner].insert(member);
  }
  // (noeviction: the writes that do not fit are refused, and no hook runs.)
  EXPECT_EQ(hook_calls.load() > 0, Evicts(GetParam()));
  // Every index lists exactly its owner's members still present.
  for (const auto& [owner, members] : written) {
    const std::string list = ValueOf(store, {Space::kIndex, owner, owner});
    std::set<std::string> listed;
    for (size_t start = 0, end; (end = list.find(',', start)) != std::string::npos;
         start = end + 1) {
      listed.insert(list.substr(start, end - start));
    }
    std::set<std::string> present;
    for (const std::string& m : members) {
      if (ValueOf(store, {Space::kSession, m, owner}) != "<absent>") present.insert(m);
    }
    EXPECT_EQ(listed, present) << owner;
  }
  EXPECT_EQ(f.Keys(Space::kIndex), 4u);
  f.ExpectExactAccounting();
}

TEST_P(EvictionConformance, AStepsOwnKeysAreNotEvictedForIt) {
  Fixture f(GetParam(), /*fit=*/3, /*shards=*/1);
  ASSERT_TRUE(f.Put(1).ok());
  f.s->clock.AdvanceMs(1000);
  ASSERT_TRUE(f.Put(2).ok());
  ASSERT_TRUE(f.Put(3).ok());
  f.s->clock.AdvanceMs(1000);
  // Key 1 is the oldest and least used; the step reads it while writing a new key, so the
  // victim must be 2 or 3.
  const std::string k1 = Key(1), k4 = Key(4);
  const KeyRef keys[] = {Kv(k1), Kv(k4)};
  const absl::Status st = f.store().UpdateMany(keys, [&](absl::Span<Cursor* const> c) {
    EXPECT_EQ(c[0]->value(), kValue);
    c[1]->Put(c[0]->value(), f.s->now() + 3600000);
    return absl::OkStatus();
  });
  if (!Evicts(GetParam())) {
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(ValueOf(f.store(), Kv(k4)), "<absent>");
    EXPECT_EQ(f.Keys(), 3u);
    return;
  }
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(ValueOf(f.store(), Kv(k1)), kValue);
  EXPECT_EQ(ValueOf(f.store(), Kv(k4)), kValue);
  EXPECT_EQ(f.log.Count(EventKind::kEvicted), 1u);
  EXPECT_FALSE(f.log.Keys(EventKind::kEvicted).count(k1));
  // Overwriting with a larger value keeps the overwritten key too.
  ASSERT_TRUE(f.store().Set(Kv(k1), std::string(16 + 32, 'w'), WithTtl(1000)).ok());
  EXPECT_EQ(ValueOf(f.store(), Kv(k1)), std::string(48, 'w'));
  f.ExpectExactAccounting();
}

TEST_P(EvictionConformance, AFullShardEvictsFromOthers) {
  Fixture f(GetParam(), /*fit=*/50, /*shards=*/8);
  // Everything on one shard (same affinity); then writes that land anywhere.
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i) names.push_back(Key(i));
  for (const std::string& n : names) {
    ASSERT_TRUE(f.store().Set({Space::kKv, n, "one-shard"}, kValue, WithTtl(3600000)).ok());
  }
  for (int i = 100; i < 150; ++i) {
    EXPECT_EQ(f.Put(i).ok(), Evicts(GetParam())) << i;
  }
  EXPECT_EQ(f.store().GetStats().evicted, Evicts(GetParam()) ? 50u : 0u);
  f.ExpectExactAccounting();
}

TEST_P(EvictionConformance, ShrinkingTheCapEvictsDownToItInBoundedSteps) {
  constexpr int kKeys = 3000;
  Fixture f(GetParam(), kKeys);
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(f.Put(i).ok());
  const uint64_t new_cap = 1000 * kCharge;
  f.store().SetMaxMemory(new_cap);
  EXPECT_EQ(f.store().max_memory(), new_cap);
  // Reads work meanwhile; writes cannot push the store further over.
  EXPECT_EQ(ValueOf(f.store(), Kv(Key(kKeys - 1))), kValue);
  int steps = 0;
  while (f.store().GetStats().used_bytes > new_cap && steps < 100) {
    f.store().RunReclaimStep();
    ++steps;
  }
  const StoreStats st = f.store().GetStats();
  if (Evicts(GetParam())) {
    EXPECT_LE(st.used_bytes, new_cap);
    EXPECT_EQ(st.evicted, static_cast<uint64_t>(kKeys - 1000));
    // 4 shards x kMaxEvictionsPerStep per step: 2000 evictions take at least one step.
    EXPECT_GE(steps, 1);
    ASSERT_TRUE(f.Put(kKeys).ok());
    EXPECT_LE(f.store().GetStats().used_bytes, new_cap);
  } else {
    EXPECT_EQ(st.evicted, 0u);
    EXPECT_EQ(st.used_bytes, kKeys * kCharge);
    EXPECT_EQ(f.Put(kKeys).code(), absl::StatusCode::kResourceExhausted);
  }
  f.ExpectExactAccounting(/*within_cap=*/Evicts(GetParam()));
}

TEST(Eviction, PolicyChangesApplyLive) {
  Fixture f(EvictionPolicy::kNoEviction, 10);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.Put(i).ok());
  EXPECT_EQ(f.Put(10).code(), absl::StatusCode::kResourceExhausted);
  f.store().SetEvictionPolicy(EvictionPolicy::kAllKeysLru);
  EXPECT_EQ(f.store().eviction_policy(), EvictionPolicy::kAllKeysLru);
  EXPECT_TRUE(f.Put(10).ok());
  f.store().SetEvictionPolicy(EvictionPolicy::kNoEviction);
  EXPECT_EQ(f.Put(11).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(f.store().GetStats().evicted, 1u);
}

// ---- Each policy's own order (sampled, so checked as a strong majority) ----

// Where the victims of an ordering scenario came from.
struct Victims {
  int old = 0;     // keys [0, 1000), written first
  int recent = 0;  // keys [1000, 2000), written 10 s later
  int fresh = 0;   // the 500 keys written last, which overflow the cap
};

// Inserts 2000 keys on one shard (old, then recent), runs `between`, then writes 500 new keys
// that overflow the cap by 500 entries. `f` is the fixture to use.
template <class Between>
Victims RunOrderScenario(Fixture& f, Between between) {
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(f.Put(i).ok());
  f.s->clock.AdvanceMs(10000);
  for (int i = 1000; i < 2000; ++i) EXPECT_TRUE(f.Put(i).ok());
  f.s->clock.AdvanceMs(10000);
  between(f);
  for (int i = 5000; i < 5500; ++i) EXPECT_TRUE(f.Put(i).ok());
  Victims v;
  for (const std::string& k : f.log.Keys(EventKind::kEvicted)) {
    if (k < Key(1000)) {
      ++v.old;
    } else if (k < Key(2000)) {
      ++v.recent;
    } else {
      ++v.fresh;
    }
  }
  EXPECT_EQ(f.log.Count(EventKind::kEvicted), 500u);
  return v;
}
template <class Between>
Victims RunOrderScenario(EvictionPolicy policy, Between between) {
  Fixture f(policy, 2000, /*shards=*/1);
  return RunOrderScenario(f, between);
}

TEST(EvictionOrder, LruEvictsTheLeastRecentlyUsed) {
  // Reading the old keys makes them recent: the other half goes first.
  const Victims read = RunOrderScenario(EvictionPolicy::kAllKeysLru, [](Fixture& f) {
    for (int i = 0; i < 1000; ++i) ASSERT_NE(ValueOf(f.store(), Kv(Key(i))), "<absent>");
  });
  EXPECT_GE(read.recent, 475) << "LRU evicted " << read.old << " recently read keys";
  // Untouched: insertion order decides.
  EXPECT_GE(RunOrderScenario(EvictionPolicy::kVolatileLru, [](Fixture&) {}).old, 475);
}

TEST(EvictionOrder, LfuEvictsTheLeastFrequentlyUsedAndCountsDecay) {
  // The recent half is read 50 times each: the old half (count 5) goes first.
  auto read_recent = [](Fixture& f) {
    for (int r = 0; r < 50; ++r) {
      for (int i = 1000; i < 2000; ++i) ASSERT_NE(ValueOf(f.store(), Kv(Key(i))), "<absent>");
    }
  };
  // (New keys start at Redis's LFU_INIT_VAL, as the old half: both are fair victims.)
  EXPECT_LE(RunOrderScenario(EvictionPolicy::kAllKeysLfu, read_recent).recent, 25);
  // Ten idle minutes decay every counter to 0; one read of the old half then ranks it above
  // the recent half (new keys start at 5, above both).
  const Victims decayed = RunOrderScenario(EvictionPolicy::kVolatileLfu, [&](Fixture& f) {
    read_recent(f);
    f.s->clock.AdvanceMs(10 * 60 * 1000);
    for (int i = 0; i < 1000; ++i) ASSERT_NE(ValueOf(f.store(), Kv(Key(i))), "<absent>");
  });
  EXPECT_GE(decayed.recent, 475);
}

TEST(EvictionOrder, VolatileTtlEvictsTheSoonestToExpire) {
  Fixture f(EvictionPolicy::kVolatileTtl, 1000, /*shards=*/1);
  // TTL grows with the key number; key 0 expires first.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(f.store().Set(Kv(Key(i)), kValue, WithTtl(100000 + i * 100)).ok());
  }
  for (int i = 5000; i < 5200; ++i) ASSERT_TRUE(f.Put(i).ok());  // TTL 1 h: the longest
  int soonest = 0;
  int longest = 0;
  for (const std::string& k : f.log.Keys(EventKind::kEvicted)) {
    soonest += k < Key(300);
    longest += k >= Key(5000);
  }
  // Sampled: victims are the soonest of the keys sampled so far, not of all keys (measured
  // 172-189 of 200 in the soonest 30 %; random choice: 60).
  EXPECT_GE(soonest, 160) << "of 200 victims";
  EXPECT_LE(longest, 2);
}

TEST(EvictionOrder, RandomIgnoresRecency) {
  const Victims v = RunOrderScenario(EvictionPolicy::kAllKeysRandom, [](Fixture&) {});
  // Victims fall on both halves alike (~47 % of the table each: binomial(500, 0.47), mean 235,
  // sd 11; the bounds are > 5 sd away).
  EXPECT_GE(v.old, 175);
  EXPECT_GE(v.recent, 175);
}

TEST(EvictionOrder, TinyLfuKeepsFrequentKeysAndMakesOneOffsTheNextVictims) {
  // The old half is read 4 times each; then a stream of one-off keys must not displace it.
  auto fixture = std::make_unique<Fixture>(EvictionPolicy::kAllKeysTinyLfu, 2000, 1);
  Fixture* f = fixture.get();
  const Victims v = RunOrderScenario(*f, [](Fixture& f) {
    for (int r = 0; r < 4; ++r) {
      for (int i = 0; i < 1000; ++i) ASSERT_NE(ValueOf(f.store(), Kv(Key(i))), "<absent>");
    }
  });
  EXPECT_LE(v.old, 25);
  // The one-offs written last failed admission: each was the victim of the one after it.
  EXPECT_GE(v.fresh, 400);
  // A key asked for many times while absent is admitted and kept over the one-offs.
  const std::string wanted = Key(9999);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(ValueOf(f->store(), Kv(wanted)), "<absent>");
  ASSERT_TRUE(f->store().Set(Kv(wanted), kValue, WithTtl(3600000)).ok());
  for (int i = 6000; i < 6200; ++i) ASSERT_TRUE(f->Put(i).ok());
  EXPECT_EQ(ValueOf(f->store(), Kv(wanted)), kValue);
}

TEST(EvictionOrder, AShrunkCapTakesEachShardsLeastRecentlyUsed) {
  // 4 shards, the first half of the keys read after the second half was written: shrinking to
  // half must take the unread half from every shard, not empty the first shards.
  Fixture f(EvictionPolicy::kAllKeysLru, 4000, /*shards=*/4);
  for (int i = 0; i < 4000; ++i) ASSERT_TRUE(f.Put(i).ok());
  f.s->clock.AdvanceMs(10000);
  for (int i = 0; i < 2000; ++i) ASSERT_NE(ValueOf(f.store(), Kv(Key(i))), "<absent>");
  f.store().SetMaxMemory(2000 * kCharge);
  for (int step = 0; step < 10 && f.store().GetStats().used_bytes > 2000 * kCharge; ++step) {
    f.store().RunReclaimStep();
  }
  EXPECT_EQ(f.store().GetStats().used_bytes, 2000 * kCharge);
  int read_victims = 0;
  for (const std::string& k : f.log.Keys(EventKind::kEvicted)) read_victims += k < Key(2000);
  // Sampled LRU misses some of the last unread keys of a shard (measured 185-214 of 2000; by
  // shard order it was 1006, at random it would be 1000).
  EXPECT_LE(read_victims, 300) << "of 2000 victims";
  for (uint64_t keys : f.store().GetStats().shard_keys) EXPECT_GT(keys, 300u);
}

// ---- Concurrency: exact totals while every write evicts ----

TEST(EvictionStress, ConcurrentWritersOverAFullStoreKeepExactTotals) {
  for (EvictionPolicy policy : {EvictionPolicy::kAllKeysLru, EvictionPolicy::kAllKeysTinyLfu,
                                EvictionPolicy::kVolatileTtl}) {
    constexpr int kFit = 500;
    constexpr int kThreads = 4;
    constexpr int kPerThread = 2000;
    Fixture f(policy, kFit, /*shards=*/4);
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const int id = t * kPerThread + i;
          absl::Status st;
          if (i % 3 == 0) {
            // A two-key step across shards, each key new.
            const std::string a = Key(id), b = Key(100000 + id);
            const KeyRef keys[] = {Kv(a), Kv(b)};
            st = f.store().UpdateMany(keys, [&](absl::Span<Cursor* const> c) {
              c[0]->Put(kValue, f.s->now() + 3600000);
              c[1]->Put(kValue, f.s->now() + 3600000);
              return absl::OkStatus();
            });
            if (st.ok()) ok.fetch_add(2);
          } else {
            st = f.Put(id);
            if (st.ok()) ok.fetch_add(1);
          }
          // Another writer may take the room a write freed before it reserves: that write is
          // refused (never over the cap), the rest land.
          if (!st.ok()) {
            ASSERT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    const StoreStats st = f.store().GetStats();
    EXPECT_EQ(st.spaces[0].keys, static_cast<uint64_t>(kFit));
    EXPECT_EQ(st.used_bytes, kFit * kCharge);
    EXPECT_EQ(st.evicted + kFit, static_cast<uint64_t>(ok.load()));
    EXPECT_EQ(f.log.Count(EventKind::kEvicted), st.evicted);
    EXPECT_GT(ok.load(), kThreads * kPerThread * 9 / 10);
  }
}

}  // namespace
}  // namespace hourglass::storage::testing
