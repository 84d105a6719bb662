// Cache: states at the fresh/stale/miss boundaries, leases, fills, invalidation and the tag
// indexes, on a FakeClock (no sleeps, no threads).

#include "server/domain/cache.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/domain/cache_harness.h"

namespace hourglass::domain {
namespace {

using storage::Space;
using testing::CacheHarness;
using testing::MakeFill;

constexpr int64_t kFresh = 1000;
constexpr int64_t kStale = 500;

TEST(CacheTest, MissGrantsOneLeaseAndItsFillIsFresh) {
  CacheHarness h;
  const CacheLookup first = h.Lookup("k");
  EXPECT_EQ(first.state, CacheState::kMiss);
  EXPECT_TRUE(first.revalidate);
  EXPECT_EQ(first.lease_id.size(), 22u);  // 128 bits, base64url
  EXPECT_TRUE(first.value.empty());

  const CacheLookup second = h.Lookup("k");
  EXPECT_EQ(second.state, CacheState::kMiss);
  EXPECT_FALSE(second.revalidate);
  EXPECT_TRUE(second.lease_id.empty());

  h.clock.AdvanceMs(7);
  EXPECT_TRUE(h.Fill("k", "v", kFresh, kStale, {}, first.lease_id));
  const CacheLookup hit = h.Lookup("k");
  EXPECT_EQ(hit.state, CacheState::kFresh);
  EXPECT_EQ(hit.value, "v");
  EXPECT_EQ(hit.age_ms, 0);
  EXPECT_FALSE(hit.revalidate);
  h.clock.AdvanceMs(250);
  EXPECT_EQ(h.Lookup("k").age_ms, 250);
}

TEST(CacheTest, FreshThenStaleThenMissAtExactBoundaries) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, kStale));
  h.clock.AdvanceMs(kFresh - 1);
  EXPECT_EQ(h.Lookup("k").state, CacheState::kFresh);

  h.clock.AdvanceMs(1);  // fresh_for elapsed: stale, and this caller revalidates
  const CacheLookup stale = h.Lookup("k", /*lease_ttl_ms=*/200);
  EXPECT_EQ(stale.state, CacheState::kStale);
  EXPECT_EQ(stale.value, "v");
  EXPECT_EQ(stale.age_ms, kFresh);
  EXPECT_TRUE(stale.revalidate);
  EXPECT_FALSE(stale.lease_id.empty());

  const CacheLookup other = h.Lookup("k");
  EXPECT_EQ(other.state, CacheState::kStale);
  EXPECT_EQ(other.value, "v");
  EXPECT_FALSE(other.revalidate);

  h.clock.AdvanceMs(kStale - 1);
  const CacheLookup last = h.Lookup("k", /*lease_ttl_ms=*/1);
  EXPECT_EQ(last.state, CacheState::kStale);
  EXPECT_TRUE(last.revalidate);  // the 200 ms lease ended: a new window
  h.clock.AdvanceMs(1);          // fresh_for + stale_for elapsed: the value is gone
  const CacheLookup gone = h.Lookup("k");
  EXPECT_EQ(gone.state, CacheState::kMiss);
  EXPECT_TRUE(gone.value.empty());
  EXPECT_EQ(gone.age_ms, 0);
  EXPECT_TRUE(gone.revalidate);  // and so did the 1 ms one
}

TEST(CacheTest, ZeroStaleForGoesStraightFromFreshToMiss) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, 0));
  h.clock.AdvanceMs(kFresh - 1);
  EXPECT_EQ(h.Lookup("k").state, CacheState::kFresh);
  h.clock.AdvanceMs(1);
  const CacheLookup miss = h.Lookup("k");
  EXPECT_EQ(miss.state, CacheState::kMiss);
  EXPECT_TRUE(miss.revalidate);
}

TEST(CacheTest, LeaseOutlivingTheStaleWindowStillBlocksOtherRevalidators) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, kStale));
  h.clock.AdvanceMs(kFresh);
  const CacheLookup stale = h.Lookup("k", /*lease_ttl_ms=*/10'000);
  ASSERT_TRUE(stale.revalidate);
  h.clock.AdvanceMs(kStale);  // value gone, lease still running
  const CacheLookup miss = h.Lookup("k");
  EXPECT_EQ(miss.state, CacheState::kMiss);
  EXPECT_FALSE(miss.revalidate);
  EXPECT_TRUE(h.Fill("k", "v2", kFresh, kStale, {}, stale.lease_id));
  EXPECT_EQ(h.Lookup("k").value, "v2");
}

TEST(CacheTest, UnfinishedLeaseExpiresAndTheNextCallerGetsANewOne) {
  CacheHarness h;
  const CacheLookup first = h.Lookup("k", /*lease_ttl_ms=*/100);
  ASSERT_TRUE(first.revalidate);
  h.clock.AdvanceMs(99);
  EXPECT_FALSE(h.Lookup("k").revalidate);
  h.clock.AdvanceMs(1);
  const CacheLookup second = h.Lookup("k", 100);
  EXPECT_TRUE(second.revalidate);
  EXPECT_NE(second.lease_id, first.lease_id);
  EXPECT_FALSE(h.Fill("k", "late", kFresh, 0, {}, first.lease_id));  // superseded
  EXPECT_TRUE(h.Fill("k", "v", kFresh, 0, {}, second.lease_id));
  EXPECT_EQ(h.Lookup("k").value, "v");
}

TEST(CacheTest, ExpiredLeaseIsRefusedEvenWithoutANewer) {
  CacheHarness h;
  const CacheLookup miss = h.Lookup("miss", 100);
  ASSERT_TRUE(h.Fill("stale", "v", kFresh, 10'000));
  h.clock.AdvanceMs(kFresh);
  const CacheLookup stale = h.Lookup("stale", 100);
  ASSERT_TRUE(miss.revalidate && stale.revalidate);
  h.clock.AdvanceMs(100);
  EXPECT_FALSE(h.Fill("miss", "x", kFresh, 0, {}, miss.lease_id));
  EXPECT_FALSE(h.Fill("stale", "x", kFresh, 0, {}, stale.lease_id));
  EXPECT_EQ(h.Lookup("stale").value, "v");
}

TEST(CacheTest, StaleLeaseIsOneWindowThenRenewed) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, 10'000));
  h.clock.AdvanceMs(kFresh);
  const CacheLookup first = h.Lookup("k", 300);
  ASSERT_TRUE(first.revalidate);
  h.clock.AdvanceMs(299);
  EXPECT_FALSE(h.Lookup("k").revalidate);
  h.clock.AdvanceMs(1);
  const CacheLookup second = h.Lookup("k", 300);
  EXPECT_TRUE(second.revalidate);
  EXPECT_EQ(second.value, "v");
  EXPECT_NE(second.lease_id, first.lease_id);
}

TEST(CacheTest, LeaseIsRefusedAfterANewerValue) {
  CacheHarness h;
  const CacheLookup miss = h.Lookup("k");
  ASSERT_TRUE(miss.revalidate);
  EXPECT_TRUE(h.Fill("k", "unconditional", kFresh, 0));  // no lease: always applies
  EXPECT_FALSE(h.Fill("k", "leased", kFresh, 0, {}, miss.lease_id));
  EXPECT_EQ(h.Lookup("k").value, "unconditional");
  // A lease is used once.
  h.clock.AdvanceMs(kFresh);
  const CacheLookup again = h.Lookup("k");
  ASSERT_TRUE(again.revalidate);
  EXPECT_TRUE(h.Fill("k", "a", kFresh, 0, {}, again.lease_id));
  EXPECT_FALSE(h.Fill("k", "b", kFresh, 0, {}, again.lease_id));
  EXPECT_EQ(h.Lookup("k").value, "a");
}

TEST(CacheTest, UnknownLeaseIsRefusedAndChangesNothing) {
  CacheHarness h;
  EXPECT_FALSE(h.Fill("absent", "x", kFresh, 0, {}, "not-a-lease"));
  EXPECT_EQ(h.Keys(Space::kCache), 0u);
  ASSERT_TRUE(h.Fill("k", "v", kFresh, 0, {"t"}));
  EXPECT_FALSE(h.Fill("k", "x", kFresh, 0, {"u"}, "not-a-lease"));
  EXPECT_EQ(h.Lookup("k").value, "v");
  EXPECT_FALSE(h.TagMembers("u").has_value());
}

TEST(CacheTest, InvalidateKeyCancelsItsLease) {
  CacheHarness h;
  const CacheLookup miss = h.Lookup("k");
  ASSERT_TRUE(miss.revalidate);
  EXPECT_EQ(h.Invalidate({"k"}, {}), 0);  // a lease alone is not an entry
  EXPECT_FALSE(h.Fill("k", "old", kFresh, 0, {}, miss.lease_id));
  const CacheLookup next = h.Lookup("k");
  EXPECT_EQ(next.state, CacheState::kMiss);
  EXPECT_TRUE(next.revalidate);
}

TEST(CacheTest, InvalidateTagCancelsAMissLeaseFillingThatTag) {
  CacheHarness h;
  const CacheLookup a = h.Lookup("a");
  const CacheLookup b = h.Lookup("b");
  ASSERT_TRUE(a.revalidate && b.revalidate);
  EXPECT_EQ(h.Invalidate({}, {"user:42"}), 0);
  EXPECT_FALSE(h.Fill("a", "old", kFresh, 0, {"user:42"}, a.lease_id));
  EXPECT_TRUE(h.Fill("b", "unrelated", kFresh, 0, {"user:7"}, b.lease_id));
  // The cancelled lease is cleared: the next caller recomputes at once.
  const CacheLookup again = h.Lookup("a");
  EXPECT_EQ(again.state, CacheState::kMiss);
  EXPECT_TRUE(again.revalidate);
  EXPECT_EQ(h.Lookup("b").state, CacheState::kFresh);
  EXPECT_FALSE(h.Fill("a", "old", kFresh, 0, {"user:42"}, a.lease_id));  // still refused
  EXPECT_TRUE(h.Fill("a", "new", kFresh, 0, {"user:42"}, again.lease_id));
}

TEST(CacheTest, InvalidateTagCancelsAStaleLeaseOfAValueWithThatTag) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, kStale, {"a"}));
  h.clock.AdvanceMs(kFresh);
  const CacheLookup stale = h.Lookup("k");
  ASSERT_TRUE(stale.revalidate);
  EXPECT_EQ(h.Invalidate({}, {"a"}), 1);
  // Dropping the tag in the fill does not escape the invalidation of the replaced value's tag.
  EXPECT_FALSE(h.Fill("k", "v2", kFresh, 0, {}, stale.lease_id));
  EXPECT_EQ(h.Lookup("k").state, CacheState::kMiss);
}

TEST(CacheTest, InvalidateOfAFillsNewTagCancelsTheLease) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, kStale, {"a"}));
  h.clock.AdvanceMs(kFresh);
  const CacheLookup stale = h.Lookup("k");
  ASSERT_TRUE(stale.revalidate);
  EXPECT_EQ(h.Invalidate({}, {"b"}), 0);
  EXPECT_FALSE(h.Fill("k", "v2", kFresh, 0, {"b"}, stale.lease_id));
  const CacheLookup again = h.Lookup("k");
  EXPECT_EQ(again.state, CacheState::kStale);
  EXPECT_EQ(again.value, "v");    // still the stale value
  EXPECT_TRUE(again.revalidate);  // and a new lease at once
}

TEST(CacheTest, LeaseGrantedAfterATagInvalidationIsHonoured) {
  CacheHarness h;
  EXPECT_EQ(h.Invalidate({}, {"t"}), 0);
  const CacheLookup miss = h.Lookup("k");
  ASSERT_TRUE(miss.revalidate);
  EXPECT_TRUE(h.Fill("k", "new", kFresh, 0, {"t"}, miss.lease_id));
  EXPECT_EQ(h.Lookup("k").value, "new");
}

TEST(CacheTest, InvalidateCountsDistinctEntriesOnce) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("a", "1", kFresh, 0, {"t", "u"}));
  ASSERT_TRUE(h.Fill("b", "2", kFresh, 0, {"t"}));
  ASSERT_TRUE(h.Fill("c", "3", kFresh, 0, {"u"}));
  ASSERT_TRUE(h.Fill("d", "4", kFresh, 0));
  ASSERT_TRUE(h.Fill("e", "5", kFresh, 0, {"v"}));
  EXPECT_EQ(h.Invalidate({"a", "a", "d", "missing"}, {"t", "u", "t", "none"}), 4);
  for (const char* key : {"a", "b", "c", "d"}) {
    EXPECT_EQ(h.Lookup(key).state, CacheState::kMiss) << key;
  }
  EXPECT_EQ(h.Lookup("e").state, CacheState::kFresh);
  EXPECT_FALSE(h.TagMembers("t").has_value());
  EXPECT_FALSE(h.TagMembers("u").has_value());
  EXPECT_EQ(h.TagMembers("v"), std::vector<std::string>{"e"});
}

TEST(CacheTest, InvalidateCountsAStaleEntryButNotADeadOne) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("stale", "v", kFresh, kStale, {"t"}));
  ASSERT_TRUE(h.Fill("dead", "v", kFresh, 0, {"t"}));
  h.clock.AdvanceMs(kFresh);
  EXPECT_EQ(h.Invalidate({}, {"t"}), 1);
  EXPECT_FALSE(h.TagMembers("t").has_value());
}

TEST(CacheTest, FillReplacesTagsAndTheirIndexes) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v1", kFresh, 0, {"old", "kept"}));
  ASSERT_TRUE(h.Fill("k", "v2", kFresh, 0, {"kept", "new"}));
  EXPECT_FALSE(h.TagMembers("old").has_value());
  EXPECT_EQ(h.TagMembers("kept"), std::vector<std::string>{"k"});
  EXPECT_EQ(h.TagMembers("new"), std::vector<std::string>{"k"});
  EXPECT_EQ(h.Invalidate({}, {"old"}), 0);
  EXPECT_EQ(h.Lookup("k").value, "v2");
  EXPECT_EQ(h.Invalidate({}, {"new"}), 1);
  EXPECT_FALSE(h.TagMembers("kept").has_value());  // unindexed through the DELETED event
}

TEST(CacheTest, DuplicateTagsInAFillAreOneTag) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, 0, {"t", "t", "t"}));
  EXPECT_EQ(h.TagMembers("t"), std::vector<std::string>{"k"});
  EXPECT_EQ(h.Invalidate({}, {"t"}), 1);
}

TEST(CacheTest, TagIndexesDisappearWhenTheirEntriesExpire) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("short", "v", 100, 0, {"t", "only-short"}));
  ASSERT_TRUE(h.Fill("long", "v", 100, 900, {"t"}));
  ASSERT_TRUE(h.Fill("leased", "v", 100, 100, {"t"}));
  h.clock.AdvanceMs(100);
  ASSERT_TRUE(h.Lookup("leased", /*lease_ttl_ms=*/5000).revalidate);  // record outlives value
  h.store->RunReclaimStep();
  EXPECT_FALSE(h.TagMembers("only-short").has_value());
  EXPECT_TRUE(h.TagMembers("t").has_value());  // "long" is still stale-servable

  h.clock.AdvanceMs(900);
  h.store->RunReclaimStep();
  EXPECT_FALSE(h.TagMembers("t").has_value());
  EXPECT_EQ(h.Keys(Space::kIndex), 0u);
  EXPECT_EQ(h.Keys(Space::kCache), 1u);  // the lease of "leased" runs on, alone
  h.clock.AdvanceMs(5000);
  h.store->RunReclaimStep();
  EXPECT_EQ(h.Keys(Space::kCache), 0u);
  EXPECT_EQ(h.store->GetStats().used_bytes, 0u);
}

TEST(CacheTest, AnIndexDropsDeadMembersWhenItIsWritten) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("a", "v", 100, 0, {"t"}));
  ASSERT_TRUE(h.Fill("b", "v", 10'000, 0, {"t"}));
  h.clock.AdvanceMs(100);
  ASSERT_TRUE(h.Fill("c", "v", 10'000, 0, {"t"}));
  EXPECT_EQ(h.TagMembers("t"), (std::vector<std::string>{"b", "c"}));
}

TEST(CacheTest, RemovingAnEntryOutsideInvalidateUnindexesIt) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, 0, {"t", "u"}));
  ASSERT_TRUE(h.Fill("other", "v", kFresh, 0, {"u"}));
  // Any removal the store reports (here an explicit delete: DELETED) reaches OnStoreEvent.
  const storage::KeyRef ref{Space::kCache, "k"};
  ASSERT_EQ(h.store->Delete({&ref, 1}), 1u);
  EXPECT_FALSE(h.TagMembers("t").has_value());
  EXPECT_EQ(h.TagMembers("u"), std::vector<std::string>{"other"});
}

TEST(CacheTest, EvictedEntriesLeaveTheirTagIndexes) {
  CacheHarness h(storage::EvictionPolicy::kAllKeysLru);
  h.store->SetMaxMemory(96 * 1024);
  const std::string value(1024, 'v');
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("k", i);
    const std::vector<std::string_view> tags = {"all", i % 2 == 1 ? "odd" : "even"};
    const absl::Status status = h.cache->Fill(MakeFill(key, value, 60'000, 0, tags)).status();
    ASSERT_TRUE(status.ok()) << status;
  }
  ASSERT_GT(h.store->GetStats().evicted, 0u);
  for (const char* tag : {"all", "odd", "even"}) {
    std::set<std::string> carrying;
    for (int i = 0; i < 300; ++i) {
      const std::string key = absl::StrCat("k", i);
      absl::StatusOr<storage::GetResult> got = h.store->Get(storage::KeyRef{Space::kCache, key});
      ASSERT_TRUE(got.ok());
      if (!got->found) continue;
      if (cache_codec::DecodeRecord(got->value)->CarriesTag(tag)) carrying.insert(key);
    }
    const std::vector<std::string> listed = h.TagMembers(tag).value_or(std::vector<std::string>{});
    EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), carrying) << tag;
  }
}

TEST(CacheTest, AnEventForAKeyFilledAgainKeepsItsMembership) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v1", kFresh, 0, {"t"}));
  const std::string old_record =
      std::move(h.store->Get(storage::KeyRef{Space::kCache, "k"})).value().value;
  ASSERT_TRUE(h.Fill("k", "v2", kFresh, 0, {"t"}));
  // A late event about the old value must not unlist the new one.
  h.cache->OnStoreEvent(storage::Event{storage::EventKind::kEvicted, Space::kCache, "k", old_record,
                                       h.clock.MonotonicMs()});
  EXPECT_EQ(h.TagMembers("t"), std::vector<std::string>{"k"});
  EXPECT_EQ(h.Invalidate({}, {"t"}), 1);
}

TEST(CacheTest, KeysValuesAndTagsAreArbitraryBytes) {
  CacheHarness h;
  const std::string key("k\0ey\xc3\xa9", 6);
  const std::string value("\0\xff\x01 value", 9);
  const std::string tag("t\0g", 3);
  ASSERT_TRUE(h.Fill(key, value, kFresh, 0, {tag}));
  EXPECT_EQ(h.Lookup(key).value, value);
  ASSERT_TRUE(h.Fill("empty", "", kFresh, 0));
  const CacheLookup empty = h.Lookup("empty");
  EXPECT_EQ(empty.state, CacheState::kFresh);
  EXPECT_TRUE(empty.value.empty());
  EXPECT_EQ(h.Invalidate({}, {tag}), 1);
}

TEST(CacheTest, CacheKeysDoNotCollideWithOtherSpaces) {
  CacheHarness h;
  ASSERT_TRUE(h.store->Set(storage::KeyRef{Space::kKv, "k"}, "kv").ok());
  ASSERT_TRUE(h.Fill("k", "cache", kFresh, 0));
  EXPECT_EQ(h.Lookup("k").value, "cache");
  EXPECT_EQ(h.store->Get(storage::KeyRef{Space::kKv, "k"})->value, "kv");
}

TEST(CacheTest, RejectsBadDurations) {
  CacheHarness h;
  EXPECT_TRUE(absl::IsInvalidArgument(h.cache->Lookup("k", 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.cache->Lookup("k", -5).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.cache->Fill(MakeFill("k", "v", 0)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.cache->Fill(MakeFill("k", "v", 1, -1)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.cache->Fill(MakeFill("k", "v", INT64_MAX, 1)).status()));
  // Beyond the store's max_ttl (10 years by default).
  constexpr int64_t kElevenYears = 11LL * 365 * 24 * 3600 * 1000;
  EXPECT_TRUE(absl::IsInvalidArgument(h.cache->Lookup("k", kElevenYears).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.cache->Fill(MakeFill("k", "v", kElevenYears)).status()));
  EXPECT_EQ(h.Keys(Space::kCache), 0u);
}

TEST(CacheTest, AtTheCapAFillChangesNothingAndAStaleHitIsStillServed) {
  CacheHarness h;
  ASSERT_TRUE(h.Fill("k", "v", kFresh, kStale, {"t"}));
  h.store->SetMaxMemory(h.store->GetStats().used_bytes);  // full, noeviction
  EXPECT_TRUE(absl::IsResourceExhausted(h.cache->Fill(MakeFill("n", "v", kFresh)).status()));
  const std::vector<std::string_view> tags = {"t", "u"};
  EXPECT_TRUE(absl::IsResourceExhausted(
      h.cache->Fill(MakeFill("k", "bigger value", kFresh, 0, tags)).status()));
  EXPECT_FALSE(h.TagMembers("u").has_value());
  EXPECT_EQ(h.Lookup("k").value, "v");

  h.clock.AdvanceMs(kFresh);
  const CacheLookup stale = h.Lookup("k");  // the lease does not fit: served without one
  EXPECT_EQ(stale.state, CacheState::kStale);
  EXPECT_EQ(stale.value, "v");
  EXPECT_FALSE(stale.revalidate);
  EXPECT_TRUE(absl::IsResourceExhausted(h.cache->Lookup("absent", 1000).status()));
  // Invalidation frees memory even at the cap.
  EXPECT_EQ(h.Invalidate({}, {"t"}), 1);
  EXPECT_EQ(h.Keys(Space::kIndex), 0u);
}

}  // namespace
}  // namespace hourglass::domain
