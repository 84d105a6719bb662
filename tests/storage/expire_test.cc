// Redis expire.tcl behaviours on a FakeClock (no sleeping).

#include <string>

#include "gtest/gtest.h"
#include "tests/storage/test_util.h"

namespace hourglass::storage::testing {
namespace {

TEST(Expire, KeyWithDeadlineIsVisibleUntilTheMillisecondBefore) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "v", WithTtl(100)).ok());
  const int64_t deadline = s.now() + 100;
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, deadline);
  s.clock.AdvanceMs(99);  // D - 1
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "v");
  EXPECT_TRUE(s->GetTtl(Kv("k")).found);
  s.clock.AdvanceMs(1);  // D
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "<absent>");
  EXPECT_FALSE(s->GetTtl(Kv("k")).found);
}

TEST(Expire, EveryOperationSeesExpiredKeysAsAbsentBeforeAnySweep) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "5", WithTtl(10)).ok());
  s.clock.AdvanceMs(10);
  EXPECT_FALSE(s->GetTtl(Kv("k")).found);
  ASSERT_TRUE(s->Set(Kv("k"), "5", WithTtl(10)).ok());
  s.clock.AdvanceMs(10);
  EXPECT_FALSE(s->Persist(Kv("k")));
  ASSERT_TRUE(s->Set(Kv("k"), "5", WithTtl(10)).ok());
  s.clock.AdvanceMs(10);
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(1000), ExpireCondition::kAlways));
  ASSERT_TRUE(s->Set(Kv("k"), "5", WithTtl(10)).ok());
  s.clock.AdvanceMs(10);
  EXPECT_EQ(s->Increment(Kv("k"), 1, std::nullopt)->value, 1);  // starts from absent
  ASSERT_TRUE(s->Set(Kv("k"), "5", WithTtl(10)).ok());
  s.clock.AdvanceMs(10);
  SetOptions nx;
  nx.condition = SetCondition::kIfAbsent;
  EXPECT_TRUE(s->Set(Kv("k"), "new", nx)->applied);
  EXPECT_EQ(s->GetStats().expired, 5u);
}

TEST(Expire, OverwriteClearsTtlUnlessKeepTtl) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "v", WithTtl(100)).ok());
  ASSERT_TRUE(s->Set(Kv("k"), "w").ok());  // plain SET clears the TTL
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, kNoDeadline);
  ASSERT_TRUE(s->Set(Kv("k"), "v", WithTtl(100)).ok());
  SetOptions keep;
  keep.expiry = Expiry::Keep();
  ASSERT_TRUE(s->Set(Kv("k"), "x", keep).ok());
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 100);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "x");
  s.clock.AdvanceMs(100);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "<absent>");
  // Keep-TTL on an absent key: no TTL.
  ASSERT_TRUE(s->Set(Kv("n"), "x", keep).ok());
  EXPECT_EQ(s->GetTtl(Kv("n")).deadline, kNoDeadline);
}

TEST(Expire, PastDeadlineDeletes) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "v").ok());
  SetOptions past;
  past.expiry = Expiry::At(s.now() - 1);
  auto r = s->Set(Kv("k"), "w", past);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->applied);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "<absent>");
  past.expiry = Expiry::At(s.now());  // "now" is already past
  EXPECT_TRUE(s->Set(Kv("z"), "w", past)->applied);
  EXPECT_EQ(ValueOf(*s.store, Kv("z")), "<absent>");
  // Expire with ttl 0 or a past deadline deletes.
  ASSERT_TRUE(s->Set(Kv("k"), "v").ok());
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::Ttl(0), ExpireCondition::kAlways));
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "<absent>");
  ASSERT_TRUE(s->Set(Kv("k"), "v").ok());
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::At(s.now() - 1000), ExpireCondition::kAlways));
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "<absent>");
  // On a missing key: not applied.
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(0), ExpireCondition::kAlways));
}

TEST(Expire, NxXx) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "v").ok());
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(100), ExpireCondition::kIfHasExpiry));
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, kNoDeadline);
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::Ttl(100), ExpireCondition::kIfNoExpiry));
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(200), ExpireCondition::kIfNoExpiry));
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 100);
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::Ttl(200), ExpireCondition::kIfHasExpiry));
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 200);
}

TEST(Expire, GreaterLessTreatPersistentAsInfinite) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "v").ok());
  // GT on a persistent key never applies (nothing is greater than infinity) ...
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(100), ExpireCondition::kIfGreater));
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, kNoDeadline);
  // ... LT always does.
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::Ttl(100), ExpireCondition::kIfLess));
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 100);
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(200), ExpireCondition::kIfLess));
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(100), ExpireCondition::kIfGreater));  // equal
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::Ttl(200), ExpireCondition::kIfGreater));
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 200);
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::Ttl(50), ExpireCondition::kIfLess));
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 50);
  // A past deadline deletes only when the condition holds.
  EXPECT_FALSE(*s->Expire(Kv("k"), Expiry::Ttl(0), ExpireCondition::kIfGreater));
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "v");
  EXPECT_TRUE(*s->Expire(Kv("k"), Expiry::Ttl(0), ExpireCondition::kIfLess));
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "<absent>");
}

TEST(Expire, Persist) {
  TestStore s;
  EXPECT_FALSE(s->Persist(Kv("k")));
  ASSERT_TRUE(s->Set(Kv("k"), "v").ok());
  EXPECT_FALSE(s->Persist(Kv("k")));  // already persistent
  ASSERT_TRUE(s->Set(Kv("k"), "v", WithTtl(10)).ok());
  EXPECT_TRUE(s->Persist(Kv("k")));
  s.clock.AdvanceMs(1000);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "v");
  EXPECT_EQ(s->GetStats().spaces[0].keys_with_expiry, 0u);
}

TEST(Expire, GetTouchTtlAndPersist) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "v", WithTtl(100)).ok());
  s.clock.AdvanceMs(90);
  GetOptions touch;
  touch.touch = GetOptions::Touch::kTtl;
  touch.ttl_ms = 100;  // sliding: now + 100
  auto r = s->Get(Kv("k"), touch);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->found);
  EXPECT_EQ(r->deadline, s.now() + 100);
  s.clock.AdvanceMs(99);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "v");
  GetOptions persist;
  persist.touch = GetOptions::Touch::kPersist;
  r = s->Get(Kv("k"), persist);
  EXPECT_EQ(r->deadline, kNoDeadline);
  s.clock.AdvanceMs(10'000);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "v");
  // Touching a missing key: not found, nothing created.
  r = s->Get(Kv("missing"), touch);
  EXPECT_FALSE(r->found);
  EXPECT_FALSE(s->GetTtl(Kv("missing")).found);
}

TEST(Expire, DeleteAfterReadOfAnExpiringKey) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "v", WithTtl(100)).ok());
  GetOptions del;
  del.delete_after = true;
  auto r = s->Get(Kv("k"), del);
  EXPECT_TRUE(r->found);
  EXPECT_EQ(r->deadline, s.now() + 100);
  EXPECT_FALSE(s->Get(Kv("k"), del)->found);
  EXPECT_EQ(s->GetStats().expired, 0u);
}

TEST(Expire, IncrementKeepsTtlAndTtlOnCreateOnlyOnCreate) {
  TestStore s;
  auto r = s->Increment(Kv("c"), 1, 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deadline, s.now() + 1000);
  const int64_t deadline = r->deadline;
  s.clock.AdvanceMs(500);
  r = s->Increment(Kv("c"), 1, 1000);  // exists: ttl_on_create ignored, TTL kept
  EXPECT_EQ(r->value, 2);
  EXPECT_EQ(r->deadline, deadline);
  r = s->Increment(Kv("c"), 1000, std::nullopt);  // value grows (new allocation): TTL kept
  EXPECT_EQ(r->deadline, deadline);
  s.clock.AdvanceMs(499);
  EXPECT_EQ(ValueOf(*s.store, Kv("c")), "1002");
  s.clock.AdvanceMs(1);
  EXPECT_EQ(ValueOf(*s.store, Kv("c")), "<absent>");
  r = s->Increment(Kv("c"), 1, std::nullopt);
  EXPECT_EQ(r->value, 1);
  EXPECT_EQ(r->deadline, kNoDeadline);
}

TEST(Expire, SetAbsoluteDeadline) {
  TestStore s;
  SetOptions at;
  at.expiry = Expiry::At(s.now() + 5);
  ASSERT_TRUE(s->Set(Kv("k"), "v", at)->applied);
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 5);
  auto st = s->GetStats();
  EXPECT_EQ(st.spaces[0].keys_with_expiry, 1u);
  s.clock.AdvanceMs(5);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "<absent>");
}

}  // namespace
}  // namespace hourglass::storage::testing
