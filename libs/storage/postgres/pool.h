#ifndef RACEWAY_LIBS_STORAGE_POSTGRES_POOL_H_
#define RACEWAY_LIBS_STORAGE_POSTGRES_POOL_H_

// A bounded pool of database connections, shared by the SQL backends
// (PostgreSQL/Supabase and MySQL; it lives here because the PostgreSQL
// backend came first). Header-only template over the connection type.
//
// Contract:
// - At most `max_connections` connections exist at any time (idle + leased +
//   being opened). Create() opens `min_connections` eagerly; more are opened
//   on demand; idle connections above the minimum are closed after
//   `idle_timeout`.
// - Acquire() hands out an idle connection (most recently used first) after
//   a cheap liveness check (the Validator); a connection that fails it is
//   closed and replaced. When all `max_connections` are leased, Acquire()
//   waits up to `acquire_timeout` for one to come back, then returns
//   UNAVAILABLE ("pool exhausted"). A connection that cannot be opened is
//   UNAVAILABLE with the driver's message. Never throws.
// - A Lease returns its connection on destruction. Call MarkBroken() when
//   the connection failed (lost socket, unknown protocol state): it is then
//   closed instead of returned, freeing its slot for a fresh one.
//
// Thread safety: every method may be called concurrently from any number of
// threads. A Lease (and the connection it exposes) belongs to one thread at
// a time and must not outlive its pool. Connections are opened and closed
// outside the pool's lock, so a slow server never blocks other threads'
// Acquire() of idle connections. The lock is common::Mutex (pthread based,
// visible to ThreadSanitizer, unlike Debian's uninstrumented absl::Mutex).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/storage/common/mutex.h"

namespace raceway::storage::dbutil {

struct PoolOptions {
  std::string name = "pool";  // Used in error messages ("postgres pool").
  uint32_t max_connections = 10;
  uint32_t min_connections = 2;
  absl::Duration acquire_timeout = absl::Seconds(30);
  absl::Duration idle_timeout = absl::Minutes(5);
};

struct PoolStats {
  uint32_t total = 0;  // Idle + leased + being opened.
  uint32_t idle = 0;
  uint32_t waiting = 0;    // Threads blocked in Acquire().
  uint64_t opened = 0;     // Connections opened since creation.
  uint64_t discarded = 0;  // Closed because broken or failing validation.
  uint64_t timeouts = 0;   // Acquire() calls that gave up.
};

template <typename Conn>
class ConnectionPool {
 public:
  // Opens one connection; UNAVAILABLE (or another code) when it cannot.
  using Factory = std::function<absl::StatusOr<std::unique_ptr<Conn>>()>;
  // Cheap check of an idle connection about to be handed out (no blocking
  // round trip unless the connection has been idle for a long time).
  // Returns false when the connection is unusable.
  using Validator = std::function<bool(Conn&, absl::Duration idle_for)>;

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)), broken_(o.broken_) {
      o.pool_ = nullptr;
    }
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        Release();
        pool_ = o.pool_;
        conn_ = std::move(o.conn_);
        broken_ = o.broken_;
        o.pool_ = nullptr;
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { Release(); }

    Conn& operator*() const { return *conn_; }
    Conn* operator->() const { return conn_.get(); }
    Conn* get() const { return conn_.get(); }
    // The connection is closed instead of returned to the pool.
    void MarkBroken() { broken_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<Conn> conn) : pool_(pool), conn_(std::move(conn)) {}
    void Release() {
      if (pool_ != nullptr && conn_ != nullptr) pool_->Return(std::move(conn_), broken_);
      pool_ = nullptr;
    }
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<Conn> conn_;
    bool broken_ = false;
  };

  // Opens min_connections connections. The first failure is returned (the
  // database must be reachable at start-up); max_connections 0 is treated
  // as 1 and min is clamped to max.
  static absl::StatusOr<std::unique_ptr<ConnectionPool>> Create(PoolOptions options,
                                                                Factory factory,
                                                                Validator validator) {
    if (options.max_connections == 0) options.max_connections = 1;
    if (options.min_connections > options.max_connections) {
      options.min_connections = options.max_connections;
    }
    std::unique_ptr<ConnectionPool> pool(
        new ConnectionPool(std::move(options), std::move(factory), std::move(validator)));
    std::vector<Lease> leases;
    for (uint32_t i = 0; i < pool->options_.min_connections; ++i) {
      absl::StatusOr<Lease> lease = pool->Acquire();
      if (!lease.ok()) return lease.status();
      leases.push_back(std::move(*lease));
    }
    return pool;
  }

  ~ConnectionPool() {
    std::vector<Idle> idle;
    {
      common::MutexLock lock(&mu_);
      idle.swap(idle_);
    }
    // Connections close outside the lock (their destructors may block).
  }

  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  absl::StatusOr<Lease> Acquire() {
    const absl::Time deadline = absl::Now() + options_.acquire_timeout;
    while (true) {
      std::unique_ptr<Conn> candidate;
      absl::Time idle_since;
      std::vector<Idle> expired;
      bool open_new = false;
      {
        common::MutexLock lock(&mu_);
        ++waiting_;
        const absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
        const bool ready =
            mu_.AwaitWithTimeout([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return CanProceed(); },
                                 absl::ToChronoMilliseconds(left) + std::chrono::milliseconds(1));
        --waiting_;
        if (!ready) {
          ++timeouts_;
          return absl::UnavailableError(absl::StrCat(
              options_.name, " exhausted: all ", options_.max_connections,
              " connections stayed busy for ", absl::FormatDuration(options_.acquire_timeout)));
        }
        if (!idle_.empty()) {
          candidate = std::move(idle_.back().conn);
          idle_since = idle_.back().since;
          idle_.pop_back();
          expired = TakeExpiredLocked();
          if (!expired.empty()) mu_.SignalAll();  // Slots freed.
        } else {
          ++total_;  // Reserve the slot while opening outside the lock.
          open_new = true;
        }
      }
      expired.clear();  // Close expired idle connections outside the lock.
      if (open_new) {
        absl::StatusOr<std::unique_ptr<Conn>> conn = factory_();
        common::MutexLock lock(&mu_);
        if (!conn.ok() || *conn == nullptr) {
          --total_;
          mu_.SignalAll();
          return conn.ok() ? absl::InternalError(absl::StrCat(options_.name, ": null connection"))
                           : conn.status();
        }
        ++opened_;
        return Lease(this, std::move(*conn));
      }
      if (validator_(*candidate, absl::Now() - idle_since)) {
        return Lease(this, std::move(candidate));
      }
      candidate.reset();  // Broken: close it and try again (a fresh one).
      common::MutexLock lock(&mu_);
      --total_;
      ++discarded_;
      mu_.SignalAll();
    }
  }

  PoolStats Stats() const {
    common::MutexLock lock(&mu_);
    PoolStats s;
    s.total = total_;
    s.idle = static_cast<uint32_t>(idle_.size());
    s.waiting = waiting_;
    s.opened = opened_;
    s.discarded = discarded_;
    s.timeouts = timeouts_;
    return s;
  }

  const PoolOptions& options() const { return options_; }

 private:
  struct Idle {
    std::unique_ptr<Conn> conn;
    absl::Time since;
  };

  ConnectionPool(PoolOptions options, Factory factory, Validator validator)
      : options_(std::move(options)),
        factory_(std::move(factory)),
        validator_(std::move(validator)) {}

  bool CanProceed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() || total_ < options_.max_connections;
  }

  // Idle connections beyond the minimum that have idled too long; the
  // oldest sit at the front (connections are reused LIFO).
  std::vector<Idle> TakeExpiredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Idle> out;
    const absl::Time cutoff = absl::Now() - options_.idle_timeout;
    size_t n = 0;
    while (n < idle_.size() && idle_[n].since < cutoff && total_ - n > options_.min_connections) {
      ++n;
    }
    if (n == 0) return out;
    for (size_t i = 0; i < n; ++i) out.push_back(std::move(idle_[i]));
    idle_.erase(idle_.begin(), idle_.begin() + static_cast<ptrdiff_t>(n));
    total_ -= static_cast<uint32_t>(n);
    return out;
  }

  void Return(std::unique_ptr<Conn> conn, bool broken) {
    if (broken) {
      conn.reset();  // Close outside the lock.
      common::MutexLock lock(&mu_);
      --total_;
      ++discarded_;
      mu_.SignalAll();
      return;
    }
    common::MutexLock lock(&mu_);
    idle_.push_back(Idle{std::move(conn), absl::Now()});
    mu_.SignalAll();
  }

  const PoolOptions options_;
  const Factory factory_;
  const Validator validator_;

  mutable common::Mutex mu_;
  std::vector<Idle> idle_ ABSL_GUARDED_BY(mu_);  // Oldest first.
  uint32_t total_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t opened_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t discarded_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t timeouts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace raceway::storage::dbutil

#endif  // RACEWAY_LIBS_STORAGE_POSTGRES_POOL_H_
