// Atomic steps (Update, UpdateMany), events, removal hooks.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/entry.h"
#include "tests/storage/test_util.h"

namespace hourglass::storage::testing {
namespace {

std::string S(std::string_view v) { return std::string(v); }

std::vector<std::string> Split(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    if (comma > start) out.emplace_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

TEST(Update, ReadsStagesAndApplies) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "a", WithTtl(500)).ok());
  absl::Status st = s->Update(Kv("k"), [&](Cursor& c) {
    EXPECT_TRUE(c.found());
    EXPECT_EQ(c.value(), "a");
    EXPECT_EQ(c.deadline(), s.now() + 500);
    c.Put(S(c.value()) + "b", c.deadline());  // value() views the entry being replaced
    EXPECT_EQ(c.value(), "ab");
    c.SetDeadline(s.now() + 50);
    EXPECT_EQ(c.deadline(), s.now() + 50);
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "ab");
  EXPECT_EQ(s->GetTtl(Kv("k")).deadline, s.now() + 50);
  auto stats = s->GetStats();
  EXPECT_EQ(stats.hits, 2u);  // the Update's read and the Get
}

TEST(Update, FnErrorAppliesNothing) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "a").ok());
  absl::Status st = s->Update(Kv("k"), [](Cursor& c) {
    c.Put("changed", kNoDeadline);
    return absl::AbortedError("no");
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "a");
  st = s->Update(Kv("absent"), [](Cursor& c) {
    EXPECT_FALSE(c.found());
    EXPECT_EQ(c.value(), "");
    EXPECT_EQ(c.deadline(), kNoDeadline);
    c.Put("x", kNoDeadline);
    return absl::NotFoundError("no");
  });
  EXPECT_EQ(ValueOf(*s.store, Kv("absent")), "<absent>");
  EXPECT_EQ(s->GetStats().used_bytes, internal::ChargeFor(1, 1));
}

TEST(Update, InvalidDeadlineFailsTheStep) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("k"), "a").ok());
  absl::Status st = s->Update(Kv("k"), [&](Cursor& c) {
    c.Put("b", s.now() + Store::Options().max_ttl_ms + 60'000);
    return absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "a");
}

// A step that read the clock a moment after the store did may compute "now + max_ttl" a few ms
// past the store's horizon: that is a valid deadline, not an error.
TEST(Update, DeadlineAtMaxTtlFromALaterClockReadingIsAccepted) {
  TestStore s;
  absl::Status st = s->Update(Kv("k"), [&](Cursor& c) {
    c.Put("b", s.now() + Store::Options().max_ttl_ms + 5);
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(ValueOf(*s.store, Kv("k")), "b");
}

TEST(Update, PastDeadlineAndEraseDelete) {
  std::vector<std::string> events;
  Store::Options o;
  o.listener = [&](const Event& e) {
    events.push_back(absl::StrCat(static_cast<int>(e.kind), ":", S(e.key), "=", S(e.value)));
  };
  TestStore s(o);
  ASSERT_TRUE(s->Set(Kv("a"), "1").ok());
  ASSERT_TRUE(s->Set(Kv("b"), "2").ok());
  ASSERT_TRUE(s->Update(Kv("a"), [&](Cursor& c) {
                 c.Put("new", s.now());  // a deadline <= now removes the key
                 EXPECT_FALSE(c.found());
                 return absl::OkStatus();
               }).ok());
  ASSERT_TRUE(s->Update(Kv("b"), [&](Cursor& c) {
                 c.Erase();
                 return absl::OkStatus();
               }).ok());
  ASSERT_TRUE(s->Update(Kv("never"), [&](Cursor& c) {
                 c.Put("x", s.now() - 5);  // absent and stays absent: no event
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(ValueOf(*s.store, Kv("a")), "<absent>");
  EXPECT_EQ(ValueOf(*s.store, Kv("b")), "<absent>");
  const int kDeleted = static_cast<int>(EventKind::kDeleted);
  EXPECT_EQ(events, (std::vector<std::string>{absl::StrCat(kDeleted, ":a=1"),
                                              absl::StrCat(kDeleted, ":b=2")}));
}

TEST(UpdateMany, AllOrNothing) {
  Store::Options o;
  o.shards = 8;
  TestStore s(o);
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("key" + std::to_string(i));
  std::vector<KeyRef> keys;
  for (const auto& n : names) keys.push_back(Kv(n));
  ASSERT_TRUE(s->Set(keys[0], "orig").ok());
  // fn error: nothing applied.
  absl::Status st = s->UpdateMany(keys, [](absl::Span<Cursor* const> cs) {
    for (Cursor* c : cs) c->Put("x", kNoDeadline);
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ValueOf(*s.store, keys[0]), "orig");
  EXPECT_EQ(s->GetStats().spaces[0].keys, 1u);
  // Cap failure: nothing applied.
  s->SetMaxMemory(s->GetStats().used_bytes + 5 * internal::ChargeFor(4, 1));
  st = s->UpdateMany(keys, [](absl::Span<Cursor* const> cs) {
    for (Cursor* c : cs) c->Put("y", kNoDeadline);
    return absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ValueOf(*s.store, keys[0]), "orig");
  EXPECT_EQ(s->GetStats().spaces[0].keys, 1u);
  // Fits: everything applied; cursors come in the order of the keys.
  s->SetMaxMemory(1 << 20);
  st = s->UpdateMany(keys, [&](absl::Span<Cursor* const> cs) {
    EXPECT_EQ(cs.size(), keys.size());
    EXPECT_TRUE(cs[0]->found());
    for (size_t i = 0; i < cs.size(); ++i) cs[i]->Put(names[i], kNoDeadline);
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(ValueOf(*s.store, keys[i]), names[i]);
}

TEST(UpdateMany, DuplicateKeysAreInvalid) {
  TestStore s;
  const KeyRef keys[] = {Kv("a"), Kv("b"), Kv("a")};
  bool called = false;
  absl::Status st = s->UpdateMany(keys, [&](absl::Span<Cursor* const>) {
    called = true;
    return absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(called);
  // Same key string in two spaces is two keys.
  const KeyRef ok[] = {Kv("a"), {Space::kCache, "a"}};
  EXPECT_TRUE(s->UpdateMany(ok, [](absl::Span<Cursor* const>) { return absl::OkStatus(); }).ok());
}

TEST(Events, DeliveredWithValuesOutsideTheLock) {
  std::vector<std::string> seen;
  Store* store = nullptr;
  Store::Options o;
  o.shards = 1;  // every key on the one shard whose lock the removal held
  o.listener = [&](const Event& e) {
    seen.push_back(absl::StrCat(static_cast<int>(e.kind), ":", static_cast<int>(e.space), ":",
                                S(e.key), "=", S(e.value)));
    // Calling back into the store (same shard) must not deadlock.
    EXPECT_TRUE(store->Set(Kv("audit-" + S(e.key)), e.value).ok());
  };
  TestStore s(o);
  store = s.store.get();
  ASSERT_TRUE(s->Set(Kv("del"), "d1").ok());
  ASSERT_TRUE(s->Set(Kv("lazy"), "l1", WithTtl(10)).ok());
  ASSERT_TRUE(s->Set({Space::kCache, "swept"}, "s1", WithTtl(10)).ok());
  ASSERT_TRUE(s->Set(Kv("over"), "o1").ok());
  ASSERT_TRUE(s->Set(Kv("over"), "o2").ok());  // an overwrite raises nothing
  const KeyRef del[] = {Kv("del")};
  EXPECT_EQ(s->Delete(del), 1u);
  s.clock.AdvanceMs(10);
  EXPECT_EQ(ValueOf(*s.store, Kv("lazy")), "<absent>");
  EXPECT_EQ(s->RunReclaimStep(), 1u);
  const int kExp = static_cast<int>(EventKind::kExpired);
  const int kDel = static_cast<int>(EventKind::kDeleted);
  const int kCache = static_cast<int>(Space::kCache);
  EXPECT_EQ(seen, (std::vector<std::string>{absl::StrCat(kDel, ":0:del=d1"),
                                            absl::StrCat(kExp, ":0:lazy=l1"),
                                            absl::StrCat(kExp, ":", kCache, ":swept=s1")}));
  EXPECT_EQ(ValueOf(*s.store, Kv("audit-swept")), "s1");
}

// A session index: a session "u1/sN" (affinity u1) and the user's index "u1" listing its
// sessions, kept right by a removal hook when sessions expire.
class SessionIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    Store::Options o;
    o.shards = 16;
    store_ = std::make_unique<TestStore>(o);
    (*store_)->SetRemovalHook(
        Space::kSession, [this](std::string_view key, std::string_view value, ShardEditor& shard) {
          ++hook_calls_;
          const std::string user(value);  // the session's value names its user
          absl::Status st = shard.Update({Space::kIndex, user}, [&](Cursor& c) {
            std::vector<std::string> ids = Split(c.value());
            std::erase(ids, std::string(key));
            if (ids.empty()) {
              c.Erase();
            } else {
              std::string joined;
              for (const auto& id : ids) joined += (joined.empty() ? "" : ",") + id;
              c.Put(joined, kNoDeadline);
            }
            return absl::OkStatus();
          });
          EXPECT_TRUE(st.ok()) << st;
          // Another shard's key is refused.
          for (int i = 0; i < 64; ++i) {
            const std::string other = "elsewhere" + std::to_string(i);
            absl::Status o =
                shard.Update({Space::kKv, other}, [](Cursor&) { return absl::OkStatus(); });
            if (!o.ok()) {
              EXPECT_EQ(o.code(), absl::StatusCode::kFailedPrecondition);
              saw_other_shard_refusal_ = true;
              break;
            }
          }
        });
  }

  void CreateSession(const std::string& user, const std::string& id, int64_t ttl) {
    const KeyRef keys[] = {{Space::kSession, id, user}, {Space::kIndex, user}};
    ASSERT_TRUE((*store_)
                    ->UpdateMany(keys,
                                 [&](absl::Span<Cursor* const> cs) {
                                   cs[0]->Put(user, store_->now() + ttl);
                                   std::string idx(cs[1]->value());
                                   cs[1]->Put(idx.empty() ? id : idx + "," + id, kNoDeadline);
                                   return absl::OkStatus();
                                 })
                    .ok());
  }
  std::string Index(const std::string& user) {
    return ValueOf(*store_->store, {Space::kIndex, user});
  }

  std::unique_ptr<TestStore> store_;
  int hook_calls_ = 0;
  bool saw_other_shard_refusal_ = false;
};

TEST_F(SessionIndex, HookEditsTheIndexOnReclaim) {
  CreateSession("u1", "s1", 100);
  CreateSession("u1", "s2", 200);
  CreateSession("u2", "s3", 100);
  EXPECT_EQ(Index("u1"), "s1,s2");
  store_->clock.AdvanceMs(100);
  (*store_)->RunReclaimStep();
  EXPECT_EQ(hook_calls_, 2);
  EXPECT_TRUE(saw_other_shard_refusal_);
  EXPECT_EQ(Index("u1"), "s2");
  EXPECT_EQ(Index("u2"), "<absent>");
  store_->clock.AdvanceMs(100);
  (*store_)->RunReclaimStep();
  EXPECT_EQ(Index("u1"), "<absent>");
  auto st = (*store_)->GetStats();
  EXPECT_EQ(st.spaces[static_cast<int>(Space::kIndex)].keys, 0u);
  EXPECT_EQ(st.used_bytes, 0u);
}

TEST_F(SessionIndex, HookRunsOnLazyExpiryBeforeTheStepSeesTheIndex) {
  CreateSession("u1", "s1", 100);
  CreateSession("u1", "s2", 1000);
  store_->clock.AdvanceMs(100);
  // No reclaim step: the UpdateMany finds s1 expired, and the hook fixes the index before the
  // step's cursors are bound.
  const KeyRef keys[] = {{Space::kSession, "s1", "u1"}, {Space::kIndex, "u1"}};
  ASSERT_TRUE((*store_)
                  ->UpdateMany(keys,
                               [&](absl::Span<Cursor* const> cs) {
                                 EXPECT_FALSE(cs[0]->found());
                                 EXPECT_EQ(cs[1]->value(), "s2");
                                 return absl::OkStatus();
                               })
                  .ok());
  EXPECT_EQ(hook_calls_, 1);
  // Explicit deletes do not call the hook (the caller keeps its own index right).
  const KeyRef del[] = {{Space::kSession, "s2", "u1"}};
  EXPECT_EQ((*store_)->Delete(del), 1u);
  EXPECT_EQ(hook_calls_, 1);
}

TEST(HitsMisses, CountGetsAndUpdateReads) {
  TestStore s;
  ASSERT_TRUE(s->Set(Kv("a"), "1").ok());
  EXPECT_TRUE(s->Get(Kv("a"))->found);
  EXPECT_FALSE(s->Get(Kv("b"))->found);
  ASSERT_TRUE(s->Update(Kv("c"), [](Cursor&) { return absl::OkStatus(); }).ok());
  const KeyRef keys[] = {Kv("a"), Kv("d")};
  ASSERT_TRUE(s->UpdateMany(keys, [](absl::Span<Cursor* const>) { return absl::OkStatus(); }).ok());
  auto st = s->GetStats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 3u);
}

}  // namespace
}  // namespace hourglass::storage::testing
