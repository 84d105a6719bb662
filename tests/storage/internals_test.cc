// Unit tests of the engine's internal pieces: int codec, entry layout, table, wheel, budget.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/entry.h"
#include "storage/entry_table.h"
#include "storage/expiry_wheel.h"
#include "storage/int_codec.h"
#include "storage/memory_budget.h"

namespace hourglass::storage::internal {
namespace {

TEST(IntCodec, ParsesLikeRedisString2ll) {
  EXPECT_EQ(ParseInt64("0"), 0);
  EXPECT_EQ(ParseInt64("41"), 41);
  EXPECT_EQ(ParseInt64("-7"), -7);
  EXPECT_EQ(ParseInt64("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseInt64("-9223372036854775808"), INT64_MIN);
  for (const char* bad :
       {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1a", "0x1", "1.0", "9223372036854775808",
        "-9223372036854775809", "99999999999999999999", "123456789012345678901"}) {
    EXPECT_FALSE(ParseInt64(bad).has_value()) << bad;
  }
  char buf[20];
  EXPECT_EQ(std::string(buf, FormatInt64(INT64_MIN, buf)), "-9223372036854775808");
  EXPECT_EQ(std::string(buf, FormatInt64(42, buf)), "42");
}

TEST(Entry, LayoutRoundTrips) {
  Entry* e = Entry::Create(Space::kCache, "key", "value", 12345);
  EXPECT_EQ(e->space(), Space::kCache);
  EXPECT_EQ(e->key(), "key");
  EXPECT_EQ(e->value(), "value");
  EXPECT_EQ(e->deadline_rel(), 12345u);
  e->set_meta(0xABCDEF);
  e->set_hinted(true);
  EXPECT_EQ(e->meta(), 0xABCDEFu);
  EXPECT_EQ(e->deadline_rel(), 12345u);
  EXPECT_TRUE(e->hinted());
  EXPECT_EQ(e->space(), Space::kCache);
  e->set_deadline_rel(kMaxRelDeadline);
  EXPECT_EQ(e->deadline_rel(), kMaxRelDeadline);
  EXPECT_EQ(e->meta(), 0xABCDEFu);
  EXPECT_TRUE(e->Matches(Space::kCache, "key"));
  EXPECT_FALSE(e->Matches(Space::kKv, "key"));
  // 16 B key + 64 B value: a 95 B allocation, charged as a 112 B glibc chunk + 12 B of table.
  EXPECT_EQ(ChargeFor(16, 64), 112u + kSlotShareBytes);
  Entry::Destroy(e);
}

TEST(EntryTable, InsertFindEraseAcrossRebuilds) {
  EntryTable t;
  std::vector<Entry*> entries;
  std::vector<std::string> keys;
  constexpr int kN = 5000;
  for (int i = 0; i < kN; ++i) keys.push_back("k" + std::to_string(i));
  for (int i = 0; i < kN; ++i) {
    Entry* e = Entry::Create(Space::kKv, keys[i], "v", i % 2 ? 7 : 0);
    entries.push_back(e);
    const uint64_t h = TableHash(KeyHash(keys[i]), Space::kKv);
    ASSERT_EQ(t.Find(h, Space::kKv, keys[i]), EntryTable::kNotFound);
    t.Insert(h, e);
    // Load stays within (0, 0.85].
    ASSERT_LE(t.size() * 20, t.capacity() * 17);
  }
  EXPECT_EQ(t.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    const uint64_t h = TableHash(KeyHash(keys[i]), Space::kKv);
    const size_t s = t.Find(h, Space::kKv, keys[i]);
    ASSERT_NE(s, EntryTable::kNotFound);
    EXPECT_EQ(t.entry(s), entries[i]);
    EXPECT_EQ(t.is_volatile(s), i % 2 == 1);
    // Same key, another space: absent.
    EXPECT_EQ(t.Find(TableHash(KeyHash(keys[i]), Space::kCache), Space::kCache, keys[i]),
              EntryTable::kNotFound);
  }
  for (int i = 0; i < kN; i += 2) {
    const uint64_t h = TableHash(KeyHash(keys[i]), Space::kKv);
    t.EraseAt(t.Find(h, Space::kKv, keys[i]));
    Entry::Destroy(entries[i]);
    entries[i] = nullptr;
  }
  EXPECT_EQ(t.size(), static_cast<size_t>(kN / 2));
  const uint64_t gen = t.generation();
  EXPECT_TRUE(t.MaybeShrink());  // half tombstones
  EXPECT_GT(t.generation(), gen);
  EXPECT_EQ(t.tombstones(), 0u);
  for (int i = 0; i < kN; ++i) {
    const uint64_t h = TableHash(KeyHash(keys[i]), Space::kKv);
    EXPECT_EQ(t.Find(h, Space::kKv, keys[i]) != EntryTable::kNotFound, i % 2 == 1) << i;
  }
  t.ForEach([](Entry* e) { Entry::Destroy(e); });
}

TEST(ExpiryWheel, DrainsDueBucketsAndKeepsCurrent) {
  ExpiryWheel w(/*now_rel=*/100);
  EXPECT_TRUE(w.Add(110, 1));
  EXPECT_TRUE(w.Add(200, 2));
  EXPECT_FALSE(w.Add(100 + ExpiryWheel::kHorizonMs + 10, 3));  // beyond the horizon
  std::vector<ExpiryWheel::Due> due;
  EXPECT_FALSE(w.TakeDue(105, 100, &due));
  EXPECT_TRUE(due.empty());
  EXPECT_FALSE(w.TakeDue(111, 100, &due));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].hint, 1u);
  due.clear();
  // A long jump drains everything.
  EXPECT_FALSE(w.TakeDue(1'000'000, 100, &due));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].hint, 2u);
  EXPECT_EQ(w.pending(), 0u);
  // The window moved with the jump.
  EXPECT_TRUE(w.Add(1'000'000 + 50, 4));
}

TEST(ExpiryWheel, LimitLeavesBacklog) {
  ExpiryWheel w(0);
  for (uint32_t i = 0; i < 10; ++i) ASSERT_TRUE(w.Add(8, i));
  std::vector<ExpiryWheel::Due> due;
  EXPECT_TRUE(w.TakeDue(100, 4, &due));
  EXPECT_EQ(due.size(), 4u);
  EXPECT_FALSE(w.TakeDue(100, 100, &due));
  EXPECT_EQ(due.size(), 10u);
}

TEST(MemoryBudget, NeverExceedsTheCap) {
  MemoryBudget b(100);
  EXPECT_TRUE(b.TryReserve(60));
  EXPECT_FALSE(b.TryReserve(41));
  EXPECT_TRUE(b.TryReserve(40));
  EXPECT_FALSE(b.TryReserve(1));
  b.Release(50);
  b.set_max(40);
  EXPECT_FALSE(b.TryReserve(1));  // used 50 > max 40
  b.ForceReserve(5);
  EXPECT_EQ(b.used(), 55u);
}

}  // namespace
}  // namespace hourglass::storage::internal
