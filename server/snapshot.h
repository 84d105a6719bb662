#pragma once

// Snapshotter: the store saved to --snapshot_path and restored from it (snapshot_format.h).
//
// Writing (Save): the store is exported shard by shard (Store::Export: chunks, no long lock
// hold) into <path>.tmp.<pid>, which is fsynced, renamed over <path>, and the directory
// fsynced: a reader (or a crash at any instant) sees the previous file or the new one, never a
// part. A failure removes the temporary file, keeps the previous snapshot, is logged and
// counted (SnapshotMetrics). Deadlines are stored as wall-clock instants.
//
// Clean snapshots and the unclean-stop rule. The snapshot written after the drain at a graceful
// shutdown is "clean": nothing can change after it. It is marked so twice: a flag in its
// header, and a marker file <path>.clean naming the snapshot's id and checksum, written (and
// fsynced) after the snapshot is in place. Loading restores every space only from a clean
// snapshot whose marker matches, and deletes the marker (fsynced) before the server serves, so
// the same file can never count as clean again once anything may have changed. From any other
// snapshot (periodic, SaveSnapshot, a clean one already loaded once) only KV entries come back
// (domain::RestorableAfterUncleanStop): a crash never brings back a deleted, revoked or rotated
// session, a consumed token, a lower rate-limit count or an invalidated cache entry.
//
// Loading (Load, before serving): the whole file is verified (magic, version, structure,
// SHA-256) before anything is imported. Entries get their affinity from their key
// (domain::SnapshotAffinity), deadlines move to the new monotonic clock through the wall clock
// (so TTLs count the time the server was down; expired entries are dropped), and values that
// hold monotonic instants are rebased (domain::RebaseValue). An unusable file refuses the start
// (an error naming the file and what is wrong) or, with SnapshotOnCorrupt::kEmpty, is renamed
// <path>.corrupt and the server starts empty. I/O errors (permissions, a directory at <path>)
// always refuse the start: the file may be fine, and starting empty would overwrite it.
//
// One process per path: Open takes an exclusive flock on <path>.lock (released at exit, even
// on kill -9) and removes the temporary files a killed writer left.
//
// Thread-safety: Save, RequestSave and Stop are thread-safe (writes are serialised); Load is
// called once, before the server serves.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/metrics_snapshot.h"
#include "storage/store.h"

namespace hourglass::server {

class Snapshotter {
 public:
  struct Options {
    std::string path;
    SnapshotOnCorrupt on_corrupt = SnapshotOnCorrupt::kRefuse;
    int64_t interval_ms = 0;  // > 0: a periodic save this often
  };

  struct WriteResult {
    std::string path;
    uint64_t bytes = 0;
    uint64_t keys = 0;
  };

  struct LoadResult {
    bool found = false;        // there was a file at the path
    bool clean = false;        // written at a graceful shutdown: every space restored
    bool moved_aside = false;  // unusable, renamed <path>.corrupt (SnapshotOnCorrupt::kEmpty)
    std::string problem;       // what was wrong with it, when moved aside
    uint64_t records = 0;      // entries in the file
    uint64_t restored = 0;
    uint64_t expired = 0;       // deadline passed while the server was down
    uint64_t not_restored = 0;  // the unclean-stop rule, and cache leases
    uint64_t no_room = 0;       // did not fit under --maxmemory
    uint64_t invalid = 0;       // refused by the store (a key or value it cannot hold)
  };

  using SaveCallback = std::function<void(const absl::StatusOr<WriteResult>&)>;

  // Locks the path and removes stale temporary files. FAILED_PRECONDITION when another process
  // holds the lock; INTERNAL naming the file when the directory cannot be used. `store` and
  // `metrics` must outlive the Snapshotter.
  static absl::StatusOr<std::unique_ptr<Snapshotter>> Open(Options options, storage::Store& store,
                                                           SnapshotMetrics& metrics);
  // Stop()s and releases the lock.
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // Restores the snapshot at the path, if any, into the store. Errors (the start must fail):
  // FAILED_PRECONDITION for an unusable file under kRefuse, INTERNAL for I/O errors; both name
  // the file.
  absl::StatusOr<LoadResult> Load();

  // Writes a snapshot now (blocking; waits for a write in progress). INTERNAL naming the file
  // on failure (the previous snapshot is kept).
  absl::StatusOr<WriteResult> Save(bool clean);

  // Starts the writer thread: it serves RequestSave and, with interval_ms > 0, saves
  // periodically (the period restarts after every save).
  void Start();
  // Queues a (not clean) save on the writer thread; `done` runs there with its result.
  // ABORTED when a save is already running or queued, UNAVAILABLE when the thread is not
  // running; `done` is not called then.
  absl::Status RequestSave(SaveCallback done);
  // Stops the writer thread after the save in progress, if any. Idempotent.
  void Stop();

  const std::string& path() const { return options_.path; }
  // Companion files.
  std::string marker_path() const { return options_.path + ".clean"; }
  std::string corrupt_path() const { return options_.path + ".corrupt"; }
  std::string lock_path() const { return options_.path + ".lock"; }

 private:
  Snapshotter(Options options, storage::Store& store, SnapshotMetrics& metrics);

  absl::StatusOr<WriteResult> WriteFile(bool clean);
  absl::Status Restore(int fd, bool clean, int64_t old_offset_ms, LoadResult* result);
  void RemoveStaleTemps();
  void WriterLoop();

  const Options options_;
  storage::Store& store_;
  SnapshotMetrics& metrics_;
  std::string dir_;
  std::string base_;  // file name of the path
  int lock_fd_ = -1;

  std::mutex save_mu_;  // one write at a time

  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;               // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  bool busy_ = false;                  // guarded by mu_: the thread is writing
  std::vector<SaveCallback> pending_;  // guarded by mu_
  std::thread writer_;
};

}  // namespace hourglass::server
