#include "server/snapshot.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/domain/snapshot_rules.h"
#include "server/snapshot_format.h"

namespace hourglass::server {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMarkerMagic = "HGCLEAN1";

std::string ErrnoText() { return std::strerror(errno); }

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now; the close's own error (a deferred write error on some file systems) counts.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return fd < 0 || ::close(fd) == 0;
  }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

absl::Status FsyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return absl::InternalError(absl::StrCat("fsync of directory ", dir, ": ", ErrnoText()));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(ErrnoText());
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string MarkerContent(const snapshot::SnapshotId& id, const snapshot::Digest& digest) {
  std::string out(kMarkerMagic);
  out.append(reinterpret_cast<const char*>(id.data()), id.size());
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

// The marker's content, or "" when absent or unreadable (then the snapshot is not clean).
std::string ReadMarker(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "";
  char buf[128];
  ssize_t n;
  do {
    n = ::read(fd.get(), buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return out;
}

}  // namespace

Snapshotter::Snapshotter(Options options, storage::Store& store, SnapshotMetrics& metrics)
    : options_(std::move(options)), store_(store), metrics_(metrics) {
  const fs::path p(options_.path);
  dir_ = p.has_parent_path() ? p.parent_path().string() : ".";
  base_ = p.filename().string();
}

absl::StatusOr<std::unique_ptr<Snapshotter>> Snapshotter::Open(Options options,
                                                               storage::Store& store,
                                                               SnapshotMetrics& metrics) {
  if (options.path.empty() || fs::path(options.path).filename().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--snapshot_path: '", options.path, "' does not name a file"));
  }
  std::unique_ptr<Snapshotter> self(new Snapshotter(std::move(options), store, metrics));
  const std::string lock = self->lock_path();
  self->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (self->lock_fd_ < 0) {
    return absl::InternalError(absl::StrCat("--snapshot_path: cannot create ", lock, ": ",
                                            ErrnoText(),
                                            " (does the directory exist and is "
                                            "it writable?)"));
  }
  if (::flock(self->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--snapshot_path: ", self->path(), " is in use by another process (", lock, " is locked)"));
  }
  // Only now: a temporary file of a live writer (another process) would be protected by its
  // lock; these were left by a writer that died.
  self->RemoveStaleTemps();
  return self;
}

Snapshotter::~Snapshotter() {
  Stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void Snapshotter::RemoveStaleTemps() {
  const std::string prefix = base_ + ".tmp.";
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, prefix)) continue;
    std::error_code rm;
    if (fs::remove(entry.path(), rm)) {
      spdlog::info("snapshot: removed {} (left by an interrupted write)", entry.path().string());
    } else if (rm) {
      spdlog::warn("snapshot: cannot remove {}: {}", entry.path().string(), rm.message());
    }
  }
}

absl::StatusOr<Snapshotter::WriteResult> Snapshotter::Save(bool clean) {
  std::lock_guard<std::mutex> lock(save_mu_);
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<WriteResult> result = WriteFile(clean);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (result.ok()) {
    metrics_.Succeeded(store_.clock().WallMs(), seconds, result->bytes, result->keys);
    spdlog::info("snapshot{} written to {}: {} entries, {} bytes, {:.3f} s",
                 clean ? " (clean, at shutdown)" : "", result->path, result->keys, result->bytes,
                 seconds);
  } else {
    metrics_.Failed();
    spdlog::error("snapshot not written, the previous one is kept: {}",
                  std::string(result.status().message()));
  }
  return result;
}

absl::StatusOr<Snapshotter::WriteResult> Snapshotter::WriteFile(bool clean) {
  const storage::Clock& clock = store_.clock();
  snapshot::Header header;
  header.clean = clean;
  if (RAND_bytes(header.id.data(), static_cast<int>(header.id.size())) != 1) {
    return absl::InternalError("snapshot: the random generator failed");
  }
  header.wall_ms = clock.WallMs();
  header.mono_ms = clock.MonotonicMs();
  const int64_t offset = header.wall_ms - header.mono_ms;

  const std::string tmp = absl::StrCat(options_.path, ".tmp.", ::getpid());
  auto fail = [&](absl::string_view what) {
    const std::string message = absl::StrCat("snapshot ", options_.path, ": ", what);
    ::unlink(tmp.c_str());
    return absl::InternalError(message);
  };
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return fail(absl::StrCat("cannot create ", tmp, ": ", ErrnoText()));
  snapshot::SnapshotWriter writer(fd.get(), header);
  absl::Status status = store_.Export([&](const storage::ExportedEntry& e) {
    snapshot::Record record{e.space, e.key, e.value, storage::kNoDeadline};
    if (e.deadline != storage::kNoDeadline) {
      record.deadline_wall_ms = SaturatingAdd(e.deadline, offset);
    }
    return writer.Add(record);
  });
  if (status.ok()) status = writer.Finish();
  if (!status.ok()) return fail(absl::StrCat("writing ", tmp, ": ", status.message()));
  if (::fsync(fd.get()) != 0) return fail(absl::StrCat("fsync of ", tmp, ": ", ErrnoText()));
  if (!fd.Close()) return fail(absl::StrCat("closing ", tmp, ": ", ErrnoText()));
  if (::rename(tmp.c_str(), options_.path.c_str()) != 0) {
    return fail(absl::StrCat("renaming ", tmp, ": ", ErrnoText()));
  }
  // The new file is in place; from here on a failure leaves it there (a reader would load it),
  // so it is reported but there is no temporary file to remove.
  if (absl::Status s = FsyncDir(dir_); !s.ok()) {
    return absl::InternalError(absl::StrCat("snapshot ", options_.path, ": ", s.message()));
  }
  const std::string marker = marker_path();
  if (clean) {
    // After the snapshot is durable: a crash in between leaves a snapshot without its marker,
    // which loads as not clean (the safe side).
    const std::string marker_tmp = tmp + ".clean";
    Fd mfd(::open(marker_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    absl::Status ms = mfd.get() < 0
                          ? absl::InternalError(ErrnoText())
                          : WriteAll(mfd.get(), MarkerContent(header.id, writer.digest()));
    if (ms.ok() && ::fsync(mfd.get()) != 0) ms = absl::InternalError(ErrnoText());
    if (ms.ok() && !mfd.Close()) ms = absl::InternalError(ErrnoText());
    if (ms.ok() && ::rename(marker_tmp.c_str(), marker.c_str()) != 0) {
      ms = absl::InternalError(ErrnoText());
    }
    if (ms.ok()) ms = FsyncDir(dir_);
    if (!ms.ok()) {
      ::unlink(marker_tmp.c_str());
      return absl::InternalError(absl::StrCat("snapshot ", options_.path, ": writing the marker ",
                                              marker, ": ", ms.message(),
                                              " (the snapshot will load as not clean)"));
    }
  } else {
    // An older marker names another snapshot and could not make this one clean; tidy it away.
    ::unlink(marker.c_str());
  }
  return WriteResult{options_.path, writer.bytes(), writer.records()};
}

absl::StatusOr<Snapshotter::LoadResult> Snapshotter::Load() {
  LoadResult result;
  const std::string& path = options_.path;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      spdlog::info("snapshot: no file at {}, starting empty", path);
      ::unlink(marker_path().c_str());
      return result;
    }
    return absl::InternalError(absl::StrCat("snapshot ", path, ": cannot open: ", ErrnoText()));
  }
  result.found = true;
  absl::StatusOr<snapshot::FileSummary> summary = snapshot::ReadSnapshot(fd.get());
  if (!summary.ok()) {
    const std::string problem(summary.status().message());
    if (!absl::IsDataLoss(summary.status())) {
      return absl::InternalError(absl::StrCat("snapshot ", path, ": ", problem));
    }
    if (options_.on_corrupt == SnapshotOnCorrupt::kRefuse) {
      return absl::FailedPreconditionError(absl::StrCat(
          "snapshot ", path, " cannot be used: ", problem,
          ". Move it away, or start with --snapshot_on_corrupt=empty to set it aside as ",
          corrupt_path(), " and start empty"));
    }
    fd.Reset();
    if (::rename(path.c_str(), corrupt_path().c_str()) != 0) {
      return absl::InternalError(absl::StrCat("snapshot ", path, " cannot be used (", problem,
                                              ") nor moved aside: ", ErrnoText()));
    }
    ::unlink(marker_path().c_str());
    if (absl::Status s = FsyncDir(dir_); !s.ok()) return s;
    spdlog::warn("snapshot {} cannot be used ({}); moved to {}, starting empty", path, problem,
                 corrupt_path());
    result.moved_aside = true;
    result.problem = problem;
    return result;
  }
  result.records = summary->records;
  const bool marked =
      ReadMarker(marker_path()) == MarkerContent(summary->header.id, summary->digest);
  result.clean = summary->header.clean && marked;
  if (result.clean) {
    // Consumed before anything is served: once the server may change anything, this file must
    // never count as clean again (a crash would otherwise bring back what changed since).
    if (::unlink(marker_path().c_str()) != 0 && errno != ENOENT) {
      return absl::InternalError(
          absl::StrCat("snapshot ", path, ": cannot remove ", marker_path(), ": ", ErrnoText()));
    }
    if (absl::Status s = FsyncDir(dir_); !s.ok()) return s;
  }
  const absl::Status restored =
      Restore(fd.get(), result.clean, summary->header.wall_ms - summary->header.mono_ms, &result);
  if (!restored.ok()) {
    // Verified a moment ago: the file changed under us. What was imported cannot be trusted.
    return absl::InternalError(
        absl::StrCat("snapshot ", path, " changed while being loaded: ", restored.message()));
  }
  spdlog::info(
      "snapshot {} loaded ({}): {} entries restored, {} expired while down, {} not restored{}, "
      "{} did not fit under --maxmemory, {} refused",
      path,
      result.clean ? "written at a graceful shutdown"
                   : (summary->header.clean ? "a shutdown snapshot without its marker (loaded once "
                                              "already, or the stop was cut short): KV only"
                                            : "not written at shutdown: KV only"),
      result.restored, result.expired, result.not_restored,
      result.clean ? "" : " (sessions, tokens, rate limits, cache)", result.no_room,
      result.invalid);
  return result;
}

absl::Status Snapshotter::Restore(int fd, bool clean, int64_t old_offset_ms, LoadResult* result) {
  const storage::Clock& clock = store_.clock();
  // One reading for the whole load: every deadline moves by the same amount.
  const int64_t new_offset_ms = clock.WallMs() - clock.MonotonicMs();
  const int64_t shift_ms = old_offset_ms - new_offset_ms;
  auto import = [&](const snapshot::Record& r) -> absl::Status {
    if (!clean && !domain::RestorableAfterUncleanStop(r.space, r.key)) {
      ++result->not_restored;
      return absl::OkStatus();
    }
    int64_t deadline = storage::kNoDeadline;
    if (r.deadline_wall_ms != storage::kNoDeadline) {
      deadline = SaturatingAdd(r.deadline_wall_ms, -new_offset_ms);
      if (deadline == storage::kNoDeadline) --deadline;  // a far deadline, not "none"
    }
    domain::RestoredValue rebased =
        domain::RebaseValue(r.space, r.key, r.value, deadline, shift_ms);
    if (rebased.kind == domain::RestoredValue::Kind::kDropped) {
      ++result->not_restored;
      return absl::OkStatus();
    }
    const bool rewritten = rebased.kind == domain::RestoredValue::Kind::kRewritten;
    const std::string affinity = domain::SnapshotAffinity(r.space, r.key);
    absl::StatusOr<bool> stored =
        store_.Import(storage::KeyRef{r.space, r.key, affinity},
                      rewritten ? std::string_view(rebased.value) : r.value,
                      rewritten ? rebased.deadline : deadline);
    if (stored.ok()) {
      ++(*stored ? result->restored : result->expired);
    } else if (absl::IsResourceExhausted(stored.status())) {
      ++result->no_room;
    } else {
      if (result->invalid++ == 0) {
        spdlog::warn("snapshot {}: an entry was refused: {}", options_.path,
                     std::string(stored.status().message()));
      }
    }
    return absl::OkStatus();
  };
  absl::FunctionRef<absl::Status(const snapshot::Record&)> fn(import);
  absl::StatusOr<snapshot::FileSummary> read = snapshot::ReadSnapshot(fd, &fn);
  return read.status();
}

void Snapshotter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_ || stop_) return;
  running_ = true;
  writer_ = std::thread([this] { WriterLoop(); });
}

absl::Status Snapshotter::RequestSave(SaveCallback done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!running_ || stop_) return absl::UnavailableError("SaveSnapshot: the server is stopping");
  if (busy_ || !pending_.empty()) {
    return absl::AbortedError("SaveSnapshot: a snapshot is already being written");
  }
  pending_.push_back(std::move(done));
  cv_.notify_all();
  return absl::OkStatus();
}

void Snapshotter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void Snapshotter::WriterLoop() {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::milliseconds(options_.interval_ms);
  auto next = Clock::now() + interval;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto ready = [this] { return stop_ || !pending_.empty(); };
    if (options_.interval_ms > 0) {
      cv_.wait_until(lock, next, ready);
    } else {
      cv_.wait(lock, ready);
    }
    if (stop_) break;
    const bool due = options_.interval_ms > 0 && Clock::now() >= next;
    if (pending_.empty() && !due) continue;
    std::vector<SaveCallback> callbacks;
    callbacks.swap(pending_);
    busy_ = true;
    lock.unlock();
    const absl::StatusOr<WriteResult> result = Save(/*clean=*/false);
    // Free before answering: a caller told its save is done may ask for the next one at once.
    lock.lock();
    busy_ = false;
    next = Clock::now() + interval;
    lock.unlock();
    for (const SaveCallback& done : callbacks) done(result);
    lock.lock();
  }
  std::vector<SaveCallback> callbacks;
  callbacks.swap(pending_);
  lock.unlock();
  for (const SaveCallback& done : callbacks) {
    done(absl::UnavailableError("SaveSnapshot: the server is stopping"));
  }
}

}  // namespace hourglass::server
