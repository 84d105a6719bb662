// Byte accounting and the cap.

#include <string>

#include "gtest/gtest.h"
#include "storage/entry.h"
#include "tests/storage/test_util.h"

namespace hourglass::storage::testing {
namespace {

using internal::ChargeFor;

uint64_t SpaceBytes(Store& s, Space sp) {
  return s.GetStats().spaces[static_cast<size_t>(sp)].bytes;
}

TEST(Accounting, ReturnsToBaselineAfterInsertOverwriteDelete) {
  TestStore s;
  EXPECT_EQ(s->GetStats().used_bytes, 0u);
  ASSERT_TRUE(s->Set(Kv("key"), std::string(10, 'v')).ok());
  EXPECT_EQ(s->GetStats().used_bytes, ChargeFor(3, 10));
  ASSERT_TRUE(s->Set(Kv("key"), std::string(300, 'v')).ok());  // grow
  EXPECT_EQ(s->GetStats().used_bytes, ChargeFor(3, 300));
  ASSERT_TRUE(s->Set(Kv("key"), "v").ok());  // shrink
  EXPECT_EQ(s->GetStats().used_bytes, ChargeFor(3, 1));
  EXPECT_EQ(SpaceBytes(*s.store, Space::kKv), ChargeFor(3, 1));
  ASSERT_TRUE(s->Set({Space::kCache, "key"}, "v").ok());
  EXPECT_EQ(s->GetStats().used_bytes, 2 * ChargeFor(3, 1));
  const KeyRef keys[] = {Kv("key"), {Space::kCache, "key"}};
  EXPECT_EQ(s->Delete(keys), 2u);
  auto st = s->GetStats();
  EXPECT_EQ(st.used_bytes, 0u);
  for (const SpaceStats& sp : st.spaces) {
    EXPECT_EQ(sp.bytes, 0u);
    EXPECT_EQ(sp.keys, 0u);
  }
}

TEST(Accounting, EveryPathReturnsToBaseline) {
  TestStore s;
  // Increment growth, GETDEL, expiry (lazy and reclaimed), Update put/erase, past deadlines.
  ASSERT_TRUE(s->Increment(Kv("n"), 9, std::nullopt).ok());
  ASSERT_TRUE(s->Increment(Kv("n"), 1000, std::nullopt).ok());
  GetOptions del;
  del.delete_after = true;
  ASSERT_TRUE(s->Get(Kv("n"), del)->found);
  ASSERT_TRUE(s->Set(Kv("a"), "v", WithTtl(10)).ok());
  ASSERT_TRUE(s->Set(Kv("b"), "v", WithTtl(10)).ok());
  ASSERT_TRUE(s->Update(Kv("c"), [](Cursor& c) {
                 c.Put("value", kNoDeadline);
                 return absl::OkStatus();
               }).ok());
  ASSERT_TRUE(s->Update(Kv("c"), [](Cursor& c) {
                 c.Put(std::string(c.value()) + "-longer", kNoDeadline);
                 return absl::OkStatus();
               }).ok());
  ASSERT_TRUE(s->Update(Kv("c"), [](Cursor& c) {
                 c.Erase();
                 return absl::OkStatus();
               }).ok());
  s.clock.AdvanceMs(10);
  EXPECT_EQ(ValueOf(*s.store, Kv("a")), "<absent>");  // lazy
  s->RunReclaimStep();                                // active for b
  ASSERT_TRUE(s->Set(Kv("d"), "v").ok());
  SetOptions past;
  past.expiry = Expiry::At(s.now() - 1);
  ASSERT_TRUE(s->Set(Kv("d"), "v", past).ok());
  auto st = s->GetStats();
  EXPECT_EQ(st.used_bytes, 0u);
  EXPECT_EQ(st.spaces[0].keys, 0u);
  EXPECT_EQ(st.spaces[0].bytes, 0u);
  EXPECT_EQ(st.spaces[0].keys_with_expiry, 0u);
  EXPECT_EQ(st.expired, 2u);
}

TEST(Accounting, CapRefusalChangesNothingAndReadsStillWork) {
  Store::Options o;
  o.max_memory_bytes = 3 * ChargeFor(2, 10);
  o.eviction_policy = EvictionPolicy::kNoEviction;
  TestStore s(o);
  const std::string v(10, 'x');
  ASSERT_TRUE(s->Set(Kv("k1"), v, WithTtl(1000)).ok());
  ASSERT_TRUE(s->Set(Kv("k2"), v).ok());
  ASSERT_TRUE(s->Set(Kv("k3"), v).ok());
  EXPECT_EQ(s->GetStats().used_bytes, s->max_memory());
  // A new key does not fit.
  auto r = s->Set(Kv("k4"), v);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ValueOf(*s.store, Kv("k4")), "<absent>");
  // Growing an existing one does not fit either, and leaves it (and its TTL) as it was.
  SetOptions prev;
  prev.return_previous = true;
  r = s->Set(Kv("k1"), std::string(100, 'x'), prev);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ValueOf(*s.store, Kv("k1")), v);
  EXPECT_EQ(s->GetTtl(Kv("k1")).deadline, s.now() + 1000);
  // Same-size and shrinking writes fit.
  EXPECT_TRUE(s->Set(Kv("k2"), std::string(10, 'y')).ok());
  EXPECT_TRUE(s->Set(Kv("k3"), "z").ok());
  EXPECT_EQ(ValueOf(*s.store, Kv("k3")), "z");
  // Update and Increment are refused the same way.
  EXPECT_EQ(s->Update(Kv("new"),
                      [](Cursor& c) {
                        c.Put("something", kNoDeadline);
                        return absl::OkStatus();
                      })
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ValueOf(*s.store, Kv("new")), "<absent>");
  auto st = s->GetStats();
  EXPECT_LE(st.used_bytes, st.max_bytes);
  EXPECT_EQ(st.rejected_writes, 3u);
  EXPECT_EQ(st.spaces[0].keys, 3u);
}

TEST(Accounting, SetMaxMemoryIsLive) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("a"), "1").ok());
  const uint64_t one = ChargeFor(1, 1);
  s->SetMaxMemory(one);
  EXPECT_EQ(s->max_memory(), one);
  EXPECT_EQ(s->GetStats().max_bytes, one);
  EXPECT_EQ(s->Set(Kv("b"), "1").status().code(), absl::StatusCode::kResourceExhausted);
  // Below what is used: reads work, writes that grow fail, deletes work.
  s->SetMaxMemory(1);
  EXPECT_EQ(ValueOf(*s.store, Kv("a")), "1");
  EXPECT_EQ(s->Increment(Kv("c"), 1, std::nullopt).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(s->Set(Kv("a"), "2").ok());  // same size: fits (nothing grows)
  s->SetMaxMemory(10 * one);
  EXPECT_TRUE(s->Set(Kv("b"), "1").ok());
  EXPECT_EQ(s->GetStats().used_bytes, 2 * one);
}

TEST(Accounting, ChargeCoversAllocationAndSlot) {
  // The 16 B key + 64 B value shape of the memory benchmark.
  EXPECT_EQ(ChargeFor(16, 64), 124u);
  EXPECT_EQ(ChargeFor(0, 0), 32u + internal::kSlotShareBytes);  // glibc minimum chunk
}

}  // namespace
}  // namespace hourglass::storage::testing
