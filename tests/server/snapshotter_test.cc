// Snapshotter (server/snapshot.h) over a FakeClock store: what a clean and an unclean snapshot
// restore, TTLs shifted by the time the server was down, the clean marker consumed by the first
// load, unusable files refused or moved aside, the path lock, stale temporary files, failed
// writes that keep the previous file (and are counted), and SaveSnapshot's queueing. (Periodic
// saves run on real time: tests/integration/snapshot_test.cc.)

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "server/metrics.h"
#include "server/snapshot.h"
#include "storage/clock.h"
#include "storage/store.h"
#include "tests/server/metrics_test_util.h"

namespace hourglass::server {
namespace {

namespace fs = std::filesystem;
using storage::KeyRef;
using storage::Space;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A store whose Export can be held at its first entry until Release() (to catch a save in
// progress deterministically). Everything else forwards.
class GatedStore final : public storage::Store {
 public:
  explicit GatedStore(storage::Store& inner) : inner_(inner) {}
  void Gate() { gated_ = true; }
  void WaitUntilExporting() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return exporting_; });
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }

  absl::Status Export(
      absl::FunctionRef<absl::Status(const storage::ExportedEntry&)> sink) override {
    if (gated_) {
      std::unique_lock<std::mutex> l(mu_);
      exporting_ = true;
      cv_.notify_all();
      cv_.wait(l, [&] { return released_; });
    }
    return inner_.Export(sink);
  }
  absl::StatusOr<bool> Import(const KeyRef& key, std::string_view value,
                              int64_t deadline) override {
    return inner_.Import(key, value, deadline);
  }
  absl::StatusOr<storage::GetResult> Get(const KeyRef& key,
                                         const storage::GetOptions& options) override {
    return inner_.Get(key, options);
  }
  absl::StatusOr<storage::SetResult> Set(const KeyRef& key, std::string_view value,
                                         const storage::SetOptions& options) override {
    return inner_.Set(key, value, options);
  }
  uint64_t Delete(absl::Span<const KeyRef> keys) override { return inner_.Delete(keys); }
  absl::StatusOr<bool> Expire(const KeyRef& key, storage::Expiry expiry,
                              storage::ExpireCondition condition) override {
    return inner_.Expire(key, expiry, condition);
  }
  bool Persist(const KeyRef& key) override { return inner_.Persist(key); }
  storage::TtlInfo GetTtl(const KeyRef& key) override { return inner_.GetTtl(key); }
  absl::StatusOr<storage::IncrementResult> Increment(const KeyRef& key, int64_t delta,
                                                     std::optional<int64_t> ttl) override {
    return inner_.Increment(key, delta, ttl);
  }
  absl::Status Update(const KeyRef& key,
                      absl::FunctionRef<absl::Status(storage::Cursor&)> fn) override {
    return inner_.Update(key, fn);
  }
  absl::Status UpdateMany(
      absl::Span<const KeyRef> keys,
      absl::FunctionRef<absl::Status(absl::Span<storage::Cursor* const>)> fn) override {
    return inner_.UpdateMany(keys, fn);
  }
  void SetRemovalHook(Space space, storage::RemovalHook hook) override {
    inner_.SetRemovalHook(space, std::move(hook));
  }
  void SetMaxMemory(uint64_t bytes) override { inner_.SetMaxMemory(bytes); }
  uint64_t max_memory() const override { return inner_.max_memory(); }
  void SetEvictionPolicy(storage::EvictionPolicy p) override { inner_.SetEvictionPolicy(p); }
  storage::EvictionPolicy eviction_policy() const override { return inner_.eviction_policy(); }
  uint64_t RunReclaimStep() override { return inner_.RunReclaimStep(); }
  storage::StoreStats GetStats() const override { return inner_.GetStats(); }
  size_t shard_count() const override { return inner_.shard_count(); }
  const storage::Clock& clock() const override { return inner_.clock(); }

 private:
  storage::Store& inner_;
  bool gated_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool exporting_ = false;
  bool released_ = false;
};

class SnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hg_snapshotter_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "snapshot.bin").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<storage::Store> NewStore(size_t shards = 4) {
    storage::Store::Options options;
    options.clock = &clock_;
    options.shards = shards;
    options.reclaim_interval_ms = 0;
    return storage::Store::Create(std::move(options)).value();
  }
  std::unique_ptr<Snapshotter> Open(storage::Store& store,
                                    SnapshotOnCorrupt mode = SnapshotOnCorrupt::kRefuse) {
    auto s = Snapshotter::Open({path_, mode, 0}, store, metrics_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  // Fills a store with one entry of each kind that matters to the unclean-stop rule.
  void Fill(storage::Store& store) {
    const int64_t now = clock_.MonotonicMs();
    ASSERT_TRUE(store.Set(KeyRef{Space::kKv, "kv"}, "v", {}).ok());
    storage::SetOptions ttl;
    ttl.expiry = storage::Expiry::At(now + 60'000);
    ASSERT_TRUE(store.Set(KeyRef{Space::kKv, "kv-ttl"}, "t", ttl).ok());
    ASSERT_TRUE(
        store.Set(KeyRef{Space::kSession, std::string(43, 's') + "TAG1", "TAG1"}, "sess", ttl)
            .ok());
    ASSERT_TRUE(store.Set(KeyRef{Space::kToken, "TAG1oxyz", "TAG1"}, "tok", ttl).ok());
    ASSERT_TRUE(store.Set(KeyRef{Space::kRateLimit, "Fkey"}, "rl", ttl).ok());
    ASSERT_TRUE(store.Set(KeyRef{Space::kIndex, "ct:tag"}, "", ttl).ok());
    storage::SetOptions soon;
    soon.expiry = storage::Expiry::At(now + 1000);
    ASSERT_TRUE(store.Set(KeyRef{Space::kKv, "kv-soon"}, "s", soon).ok());
  }
  static uint64_t Keys(storage::Store& store, Space space) {
    return store.GetStats().spaces[static_cast<size_t>(space)].keys;
  }
  std::map<std::string, double> Scrape() {
    return testing::ParseSamples(RenderMetrics({registry_}));
  }

  fs::path dir_;
  std::string path_;
  storage::FakeClock clock_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  SnapshotMetrics metrics_{*registry_};
};

TEST_F(SnapshotterTest, ACleanSnapshotRestoresEverySpaceOnceWithTtlsShifted) {
  {
    auto store = NewStore(8);
    Fill(*store);
    auto snapshotter = Open(*store);
    auto written = snapshotter->Save(/*clean=*/true);
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(written->keys, 7u);
    EXPECT_EQ(written->path, path_);
    EXPECT_EQ(written->bytes, fs::file_size(path_));
    EXPECT_TRUE(fs::exists(path_ + ".clean"));
  }
  const int64_t written_at = clock_.MonotonicMs();
  clock_.AdvanceMs(5000);  // the server is down for 5 s

  auto store = NewStore(16);
  auto snapshotter = Open(*store);
  auto loaded = snapshotter->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->found);
  EXPECT_TRUE(loaded->clean);
  EXPECT_EQ(loaded->records, 7u);
  EXPECT_EQ(loaded->restored, 6u);
  EXPECT_EQ(loaded->expired, 1u);  // kv-soon: 1 s TTL, 5 s down
  EXPECT_FALSE(fs::exists(path_ + ".clean")) << "the marker is consumed by the load";
  for (Space space : {Space::kSession, Space::kToken, Space::kRateLimit, Space::kIndex}) {
    EXPECT_EQ(Keys(*store, space), 1u) << static_cast<int>(space);
  }
  EXPECT_EQ(store->GetTtl(KeyRef{Space::kKv, "kv-ttl"}).deadline, written_at + 60'000);
  EXPECT_EQ(store->GetTtl(KeyRef{Space::kKv, "kv"}).deadline, storage::kNoDeadline);
  EXPECT_TRUE(store->Get(KeyRef{Space::kSession, std::string(43, 's') + "TAG1", "TAG1"})->found);

  // Loaded once: the same file is no longer clean (anything may have changed since).
  auto again_store = NewStore();
  snapshotter.reset();
  auto again = Open(*again_store)->Load();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->clean);
  EXPECT_EQ(again->restored, 2u);  // kv, kv-ttl
  EXPECT_EQ(again->expired, 1u);   // kv-soon
  EXPECT_EQ(again->not_restored, 4u);
}

TEST_F(SnapshotterTest, ASnapshotNotWrittenAtShutdownRestoresKvOnly) {
  {
    auto store = NewStore();
    Fill(*store);
    ASSERT_TRUE(Open(*store)->Save(/*clean=*/false).ok());
  }
  EXPECT_FALSE(fs::exists(path_ + ".clean"));
  auto store = NewStore();
  auto loaded = Open(*store)->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->clean);
  EXPECT_EQ(loaded->restored, 3u);  // kv, kv-ttl, kv-soon (not expired: no time passed)
  EXPECT_EQ(loaded->not_restored, 4u);
  EXPECT_EQ(Keys(*store, Space::kKv), 3u);
  for (Space space : {Space::kSession, Space::kToken, Space::kRateLimit, Space::kIndex}) {
    EXPECT_EQ(Keys(*store, space), 0u) << static_cast<int>(space);
  }
}

TEST_F(SnapshotterTest, AStaleMarkerCannotMakeANewerSnapshotClean) {
  auto store = NewStore();
  Fill(*store);
  auto snapshotter = Open(*store);
  ASSERT_TRUE(snapshotter->Save(/*clean=*/true).ok());
  const std::string marker = ReadAll(path_ + ".clean");
  ASSERT_TRUE(snapshotter->Save(/*clean=*/false).ok());
  EXPECT_FALSE(fs::exists(path_ + ".clean"));
  std::ofstream(path_ + ".clean", std::ios::binary) << marker;  // put the old one back
  snapshotter.reset();
  auto fresh = NewStore();
  auto loaded = Open(*fresh)->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->clean);
  EXPECT_EQ(Keys(*fresh, Space::kSession), 0u);
}

TEST_F(SnapshotterTest, NoFileStartsEmpty) {
  auto store = NewStore();
  auto loaded = Open(*store)->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->found);
  EXPECT_EQ(store->GetStats().used_bytes, 0u);
}

TEST_F(SnapshotterTest, AnUnusableFileRefusesTheStartNamingIt) {
  std::ofstream(path_) << "certainly not a snapshot";
  auto store = NewStore();
  auto loaded = Open(*store)->Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(loaded.status().message().find(path_), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find("not an hourglass snapshot"), std::string::npos);
  EXPECT_NE(loaded.status().message().find("--snapshot_on_corrupt=empty"), std::string::npos);
  EXPECT_EQ(ReadAll(path_), "certainly not a snapshot") << "the file is left alone";
}

TEST_F(SnapshotterTest, AnUnusableFileIsMovedAsideWhenToldToStartEmpty) {
  {
    auto store = NewStore();
    Fill(*store);
    ASSERT_TRUE(Open(*store)->Save(/*clean=*/true).ok());
  }
  fs::resize_file(path_, fs::file_size(path_) - 10);
  const std::string truncated = ReadAll(path_);
  auto store = NewStore();
  auto loaded = Open(*store, SnapshotOnCorrupt::kEmpty)->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->moved_aside);
  EXPECT_NE(loaded->problem.find("truncated"), std::string::npos) << loaded->problem;
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(path_ + ".clean"));
  EXPECT_EQ(ReadAll(path_ + ".corrupt"), truncated);
  EXPECT_EQ(store->GetStats().used_bytes, 0u);
}

TEST_F(SnapshotterTest, AnIoErrorRefusesTheStartEvenWhenToldToStartEmpty) {
  fs::create_directories(path_);  // a directory where the file should be
  auto store = NewStore();
  auto loaded = Open(*store, SnapshotOnCorrupt::kEmpty)->Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(loaded.status().message().find(path_), std::string::npos);
  EXPECT_TRUE(fs::is_directory(path_));
}

TEST_F(SnapshotterTest, OneProcessPerPathAndStaleTempFilesGo) {
  std::ofstream(path_ + ".tmp.12345") << "partial";
  std::ofstream(path_ + ".tmp.12345.clean") << "partial marker";
  std::ofstream((dir_ / "other.bin.tmp.1").string()) << "not ours";
  auto store = NewStore();
  auto first = Open(*store);
  EXPECT_FALSE(fs::exists(path_ + ".tmp.12345"));
  EXPECT_FALSE(fs::exists(path_ + ".tmp.12345.clean"));
  EXPECT_TRUE(fs::exists(dir_ / "other.bin.tmp.1"));
  auto second = Snapshotter::Open({path_, SnapshotOnCorrupt::kRefuse, 0}, *store, metrics_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos);
  first.reset();  // releases the lock
  EXPECT_TRUE(Snapshotter::Open({path_, SnapshotOnCorrupt::kRefuse, 0}, *store, metrics_).ok());
}

TEST_F(SnapshotterTest, AMissingDirectoryIsNamed) {
  auto store = NewStore();
  auto s = Snapshotter::Open({(dir_ / "nope" / "s.bin").string(), SnapshotOnCorrupt::kRefuse, 0},
                             *store, metrics_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("nope"), std::string::npos) << s.status();
}

TEST_F(SnapshotterTest, AFailedWriteKeepsThePreviousFileAndIsCounted) {
  auto store = NewStore();
  Fill(*store);
  auto snapshotter = Open(*store);
  ASSERT_TRUE(snapshotter->Save(/*clean=*/false).ok());
  const std::string before = ReadAll(path_);
  auto samples = Scrape();
  EXPECT_EQ(samples["hourglass_snapshot_writes_total"], 1);
  EXPECT_EQ(samples["hourglass_snapshot_failures_total"], 0);
  EXPECT_NEAR(samples["hourglass_snapshot_last_success_timestamp_seconds"],
              clock_.WallMs() / 1000.0, 0.01);
  EXPECT_EQ(samples["hourglass_snapshot_last_keys"], 7);
  EXPECT_EQ(samples["hourglass_snapshot_last_size_bytes"], static_cast<double>(before.size()));

  // The temporary file's name is taken by a directory: the write cannot even start.
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  fs::create_directories(tmp);
  ASSERT_TRUE(store->Set(KeyRef{Space::kKv, "more"}, "m", {}).ok());
  clock_.AdvanceMs(1000);
  auto failed = snapshotter->Save(/*clean=*/false);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(failed.status().message().find(tmp), std::string::npos) << failed.status();
  EXPECT_EQ(ReadAll(path_), before);
  samples = Scrape();
  EXPECT_EQ(samples["hourglass_snapshot_failures_total"], 1);
  EXPECT_EQ(samples["hourglass_snapshot_writes_total"], 1);
  EXPECT_NEAR(samples["hourglass_snapshot_last_success_timestamp_seconds"],
              (clock_.WallMs() - 1000) / 1000.0, 0.01);
  fs::remove(tmp);
  ASSERT_TRUE(snapshotter->Save(/*clean=*/false).ok());
  EXPECT_EQ(Scrape()["hourglass_snapshot_writes_total"], 2);
}

TEST_F(SnapshotterTest, RequestedSavesRunOnTheWriterThreadOneAtATime) {
  auto inner = NewStore();
  Fill(*inner);
  GatedStore store(*inner);
  auto snapshotter = Open(store);
  auto done = [](std::promise<absl::StatusOr<Snapshotter::WriteResult>>* p) {
    return [p](const absl::StatusOr<Snapshotter::WriteResult>& r) { p->set_value(r); };
  };
  std::promise<absl::StatusOr<Snapshotter::WriteResult>> first;
  EXPECT_EQ(snapshotter->RequestSave(done(&first)).code(), absl::StatusCode::kUnavailable)
      << "not started";
  snapshotter->Start();
  store.Gate();
  ASSERT_TRUE(snapshotter->RequestSave(done(&first)).ok());
  store.WaitUntilExporting();
  std::promise<absl::StatusOr<Snapshotter::WriteResult>> second;
  EXPECT_EQ(snapshotter->RequestSave(done(&second)).code(), absl::StatusCode::kAborted);
  store.Release();
  auto result = first.get_future().get();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->keys, 7u);
  // The writer is free again.
  std::promise<absl::StatusOr<Snapshotter::WriteResult>> third;
  ASSERT_TRUE(snapshotter->RequestSave(done(&third)).ok());
  EXPECT_TRUE(third.get_future().get().ok());
  snapshotter->Stop();
  EXPECT_EQ(snapshotter->RequestSave(done(&second)).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hourglass::server
