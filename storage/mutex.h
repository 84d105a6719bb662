#pragma once

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace hourglass::storage {

// A std::mutex with clang thread-safety annotations.
//
// Why not absl::Mutex: Debian's abseil is not built for TSan, and absl::Mutex then produces
// false race reports under -fsanitize=thread. std::mutex is intercepted by TSan correctly, and
// these annotations keep `-Wthread-safety` (clang) checking ABSL_GUARDED_BY members.
class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// RAII lock for Mutex.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace hourglass::storage
