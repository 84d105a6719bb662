#pragma once

#include <memory>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace hourglass::storage::testing {

// A store on a FakeClock with no reclaimer thread (tests call RunReclaimStep).
struct TestStore {
  explicit TestStore(Store::Options options = {}) {
    options.clock = &clock;
    options.reclaim_interval_ms = 0;
    auto s = Store::Create(std::move(options));
    EXPECT_TRUE(s.ok()) << s.status();
    store = std::move(s).value();
  }
  Store* operator->() { return store.get(); }
  int64_t now() const { return clock.MonotonicMs(); }

  FakeClock clock;
  std::unique_ptr<Store> store;
};

inline KeyRef Kv(std::string_view k) { return KeyRef{Space::kKv, k}; }

inline SetOptions WithTtl(int64_t ms) {
  SetOptions o;
  o.expiry = Expiry::Ttl(ms);
  return o;
}

// The value of a key, or "<absent>".
inline std::string ValueOf(Store& s, const KeyRef& k) {
  auto r = s.Get(k);
  if (!r.ok()) return "<error>";
  return r->found ? r->value : "<absent>";
}

}  // namespace hourglass::storage::testing
