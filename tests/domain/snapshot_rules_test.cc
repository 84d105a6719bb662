// domain::SnapshotAffinity, RestorableAfterUncleanStop and RebaseValue: entries written by the
// real managers, exported from one store and imported into another with a different shard
// count, behave as before (found, listed, and their removal hooks fix their indexes on the
// new shards); cache instants move to the new clock and leases do not survive.

#include "server/domain/snapshot_rules.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/domain/cache.h"
#include "server/domain/cache_codec.h"
#include "tests/domain/session_harness.h"

namespace hourglass::domain::testing {
namespace {

using storage::Space;

// Copies every entry of `from` into `to` the way the snapshot loader does (affinity from the
// key, deadline through the wall clock, values rebased), and returns how many were imported.
int Restore(storage::Store& from, storage::Store& to) {
  const storage::Clock& old_clock = from.clock();
  const storage::Clock& new_clock = to.clock();
  const int64_t old_offset = old_clock.WallMs() - old_clock.MonotonicMs();
  const int64_t new_offset = new_clock.WallMs() - new_clock.MonotonicMs();
  int imported = 0;
  EXPECT_TRUE(from.Export([&](const storage::ExportedEntry& e) -> absl::Status {
                    int64_t deadline = e.deadline;
                    if (deadline != storage::kNoDeadline) deadline += old_offset - new_offset;
                    RestoredValue restored =
                        RebaseValue(e.space, e.key, e.value, deadline, old_offset - new_offset);
                    if (restored.kind == RestoredValue::Kind::kDropped) return absl::OkStatus();
                    const bool rewritten = restored.kind == RestoredValue::Kind::kRewritten;
                    const std::string affinity = SnapshotAffinity(e.space, e.key);
                    auto stored = to.Import(storage::KeyRef{e.space, e.key, affinity},
                                            rewritten ? restored.value : e.value,
                                            rewritten ? restored.deadline : deadline);
                    EXPECT_TRUE(stored.ok()) << stored.status();
                    if (stored.ok() && *stored) ++imported;
                    return absl::OkStatus();
                  })
                  .ok());
  return imported;
}

TEST(SnapshotRules, OnlyKvSurvivesAnUncleanStop) {
  EXPECT_TRUE(RestorableAfterUncleanStop(Space::kKv, "anything"));
  EXPECT_FALSE(RestorableAfterUncleanStop(Space::kSession, "id"));
  EXPECT_FALSE(RestorableAfterUncleanStop(Space::kToken, "key"));
  EXPECT_FALSE(RestorableAfterUncleanStop(Space::kRateLimit, "Fkey"));
  EXPECT_FALSE(RestorableAfterUncleanStop(Space::kCache, "key"));
  EXPECT_FALSE(RestorableAfterUncleanStop(Space::kIndex, "s:user"));
  EXPECT_FALSE(RestorableAfterUncleanStop(Space::kIndex, "t:subject"));
  EXPECT_FALSE(RestorableAfterUncleanStop(Space::kIndex, "ct:tag"));
}

TEST(SnapshotRules, AffinityOfEveryKeyShape) {
  EXPECT_EQ(SnapshotAffinity(Space::kKv, "user:1"), "");
  EXPECT_EQ(SnapshotAffinity(Space::kRateLimit, "Fkey"), "");
  EXPECT_EQ(SnapshotAffinity(Space::kCache, "feed"), "");
  EXPECT_EQ(SnapshotAffinity(Space::kIndex, "ct:tag"), "");
  EXPECT_EQ(SnapshotAffinity(Space::kIndex, "s:alice"), RoutingTag("alice"));
  EXPECT_EQ(SnapshotAffinity(Space::kIndex, "t:bob"), RoutingTag("bob"));
  EXPECT_EQ(SnapshotAffinity(Space::kSession, std::string(43, 'A') + "WXYZ"), "WXYZ");
  EXPECT_EQ(SnapshotAffinity(Space::kToken, "WXYZo0123"), "WXYZ");
  // Damaged keys do not crash.
  EXPECT_EQ(SnapshotAffinity(Space::kSession, "ab"), "ab");
  EXPECT_EQ(SnapshotAffinity(Space::kToken, "ab"), "ab");
}

TEST(SnapshotRules, SessionsAndTokensWorkOnTheNewShards) {
  SessionHarness a(/*shards=*/8);
  SessionHarness b(/*shards=*/64);  // a different placement of every shard-hashed key
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    NewSession spec;
    spec.user_id = "user" + std::to_string(i % 4);
    spec.idle_timeout_ms = i < 10 ? 1000 : 60'000;
    auto session = a.sessions->Create(spec);
    ASSERT_TRUE(session.ok()) << session.status();
    ids.push_back(session->id);
  }
  NewToken spec;
  spec.purpose = "reset";
  spec.subject = "user0";
  spec.ttl_ms = 1000;
  auto token = a.tokens->Issue(spec);
  ASSERT_TRUE(token.ok());

  EXPECT_EQ(Restore(*a.store, *b.store), 20 + 4 + 1 + 1);  // sessions, user and subject indexes
  for (const std::string& id : ids) {
    auto got = b.sessions->Get(id, /*touch=*/false);
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(got->has_value()) << id;
  }
  auto listed = b.sessions->List("user1");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 5u);
  EXPECT_EQ(b.TokenIndex("user0").size(), 1u);
  auto verified = b.tokens->Verify(TokenQuery{"reset", token->token, ""});
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->valid());

  // Expiry on the new store runs the removal hooks, which edit each index on its owner's shard
  // (the engine refuses an edit on another shard): every index shrinks exactly.
  b.Advance(1000);
  b.Reclaim();
  EXPECT_EQ(b.Keys(Space::kSession), 10u);
  for (int u = 0; u < 4; ++u) {
    EXPECT_EQ(b.SessionIndex("user" + std::to_string(u)).size(), u < 2 ? 2u : 3u) << u;
  }
  EXPECT_TRUE(b.TokenIndex("user0").empty());
}

TEST(SnapshotRules, CacheRecordsMoveToTheNewClockAndLoseTheirLease) {
  cache_codec::Record record;
  record.has_value = true;
  record.value = "v";
  record.fill_ms = 1000;
  record.fresh_until_ms = 6000;
  record.stale_until_ms = 9000;
  record.tags = {"t1", "t2"};
  record.lease_id = "lease";
  record.lease_until_ms = 12'000;
  record.lease_seq = 77;
  const std::string encoded = cache_codec::EncodeRecord(record);

  RestoredValue out = RebaseValue(Space::kCache, "k", encoded, 12'000 + 500, 500);
  ASSERT_EQ(out.kind, RestoredValue::Kind::kRewritten);
  auto moved = cache_codec::DecodeRecord(out.value);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->fill_ms, 1500);
  EXPECT_EQ(moved->fresh_until_ms, 6500);
  EXPECT_EQ(moved->stale_until_ms, 9500);
  EXPECT_EQ(moved->value, "v");
  EXPECT_EQ(moved->tags, (std::vector<std::string_view>{"t1", "t2"}));
  EXPECT_FALSE(moved->has_lease());
  EXPECT_EQ(out.deadline, 9500);  // the lease no longer extends it

  // A new clock that began after the fill: the instants before it clamp to 0.
  out = RebaseValue(Space::kCache, "k", encoded, 0, -3000);
  moved = cache_codec::DecodeRecord(out.value);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->fill_ms, 0);
  EXPECT_EQ(moved->fresh_until_ms, 3000);
  EXPECT_EQ(moved->stale_until_ms, 6000);

  // A MISS placeholder is only a lease: dropped.
  cache_codec::Record placeholder;
  placeholder.lease_id = "lease";
  placeholder.lease_until_ms = 5000;
  EXPECT_EQ(RebaseValue(Space::kCache, "k", cache_codec::EncodeRecord(placeholder), 5000, 0).kind,
            RestoredValue::Kind::kDropped);

  // Tag indexes: every member's instant moves.
  const cache_codec::TagMember members[] = {{"a", 100}, {"b", 200}};
  out = RebaseValue(Space::kIndex, "ct:t1", cache_codec::EncodeTagIndex(members), 250, 50);
  ASSERT_EQ(out.kind, RestoredValue::Kind::kRewritten);
  auto index = cache_codec::DecodeTagIndex(out.value);
  ASSERT_TRUE(index.has_value());
  ASSERT_EQ(index->size(), 2u);
  EXPECT_EQ((*index)[0].deadline_ms, 150);
  EXPECT_EQ((*index)[1].deadline_ms, 250);
  EXPECT_EQ(out.deadline, 250);

  // Other spaces, other indexes and undecodable values stay as they are.
  EXPECT_EQ(RebaseValue(Space::kKv, "k", encoded, 1, 5).kind, RestoredValue::Kind::kAsIs);
  EXPECT_EQ(RebaseValue(Space::kIndex, "s:u", "x", 1, 5).kind, RestoredValue::Kind::kAsIs);
  EXPECT_EQ(RebaseValue(Space::kCache, "k", "garbage", 1, 5).kind, RestoredValue::Kind::kAsIs);
}

TEST(SnapshotRules, ARestoredCacheAgesAndInvalidatesOnTheNewClock) {
  SessionHarness a;
  SessionHarness b;
  // b's monotonic clock reads 10 minutes more than a's at the same wall-clock instant.
  b.clock.AdvanceMs(600'000);
  b.clock.JumpWallMs(-600'000);
  Cache cache_a(*a.store);
  const std::string_view tags[] = {"feed"};
  ASSERT_TRUE(cache_a.Fill(CacheFill{"k", "value", 10'000, 5000, tags, ""}).value());
  const std::string_view other_tags[] = {"other"};
  ASSERT_TRUE(cache_a.Fill(CacheFill{"k2", "value2", 10'000, 5000, other_tags, ""}).value());
  auto miss = cache_a.Lookup("missing", 5000);  // leaves a lease placeholder
  ASSERT_TRUE(miss.ok() && miss->revalidate);
  a.Advance(4000);
  b.Advance(4000);

  EXPECT_EQ(Restore(*a.store, *b.store), 2 + 2);  // records + tag indexes, no placeholder
  Cache cache_b(*b.store);
  auto hit = cache_b.Lookup("k", 5000);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->state, CacheState::kFresh);
  EXPECT_EQ(hit->age_ms, 4000);
  EXPECT_EQ(hit->value, "value");
  b.Advance(6000);  // fresh for 10 s after the fill
  hit = cache_b.Lookup("k", 5000);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->state, CacheState::kStale);
  // The tag index was carried over: invalidating the tag finds the entry.
  const std::string_view invalidate[] = {"feed"};
  EXPECT_EQ(cache_b.Invalidate({}, invalidate).value(), 1);
  EXPECT_EQ(cache_b.Lookup("k", 5000)->state, CacheState::kMiss);
  EXPECT_EQ(cache_b.Lookup("k2", 5000)->state, CacheState::kStale);
}

}  // namespace
}  // namespace hourglass::domain::testing
