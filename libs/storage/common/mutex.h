#ifndef RACEWAY_LIBS_STORAGE_COMMON_MUTEX_H_
#define RACEWAY_LIBS_STORAGE_COMMON_MUTEX_H_

// A reader/writer mutex with Abseil's thread-safety annotations, built on a
// writer-preferring pthread rwlock (so a stream of readers cannot starve
// writers, as with absl::Mutex) and std::condition_variable_any.
//
// Why not absl::Mutex: Debian's Abseil is not built with ThreadSanitizer, so
// absl::Mutex's lock operations (futex based, in an uninstrumented shared
// library) are invisible to TSan, which then reports false races on every
// guarded field. pthread locks are intercepted by TSan.
//
// Waiting: Await(cond) blocks until cond() holds (re-checked on every
// SignalAll()); whoever changes the state a waiter depends on calls
// SignalAll() while holding the lock.

#include <pthread.h>

#include <chrono>
#include <condition_variable>

#include "absl/base/thread_annotations.h"

namespace raceway::storage::common {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&rw_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~Mutex() { pthread_rwlock_destroy(&rw_); }
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { pthread_rwlock_wrlock(&rw_); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { pthread_rwlock_unlock(&rw_); }
  // Shared mode; not recursive (a waiting writer blocks new readers).
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { pthread_rwlock_rdlock(&rw_); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { pthread_rwlock_unlock(&rw_); }

  // Requires the lock held exclusively; returns with it held.
  template <typename Cond>
  void Await(Cond cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Exclusive lock{this};
    cv_.wait(lock, cond);
  }
  // As Await; false when `timeout` passed first.
  template <typename Cond, typename Rep, typename Period>
  bool AwaitWithTimeout(Cond cond, std::chrono::duration<Rep, Period> timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Exclusive lock{this};
    return cv_.wait_for(lock, timeout, cond);
  }
  // Wakes every Await()er to re-check its condition.
  void SignalAll() { cv_.notify_all(); }

 private:
  // BasicLockable view for condition_variable_any (the lock is already held).
  struct Exclusive {
    Mutex* m;
    void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { m->Lock(); }
    void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { m->Unlock(); }
  };

  pthread_rwlock_t rw_;
  std::condition_variable_any cv_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(Mutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) { mu_->ReaderLock(); }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace raceway::storage::common

#endif  // RACEWAY_LIBS_STORAGE_COMMON_MUTEX_H_
