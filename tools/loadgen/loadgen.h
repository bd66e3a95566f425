#ifndef RACEWAY_TOOLS_LOADGEN_LOADGEN_H_
#define RACEWAY_TOOLS_LOADGEN_LOADGEN_H_

// raceway-loadgen as a library (the binary is main.cc; tests call RunLoad
// directly): generates realistic traces, sends them through one
// RacewayClient over N concurrent streams, measures committed events/s and
// ack latency, and optionally verifies that every acked event is stored.

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/client/client.h"
#include "libs/storage/storage.h"
#include "raceway/v1/event.pb.h"

namespace raceway::loadgen {

// Shape of the generated traces. One trace, for threads = 3:
//   gateway/main:  FunctionCall handle_request (root, span A)
//                  AsyncSpawn + AsyncAwait of a background task (sometimes)
//   gateway/worker-k (k = 1..threads), each:
//                  FunctionCall process_item (duration)
//                  LockAcquire accounts -> StateChange Read/Write
//                  account.balance (lock_set [accounts]) -> LockRelease
//                  with race_probability: an unprotected Write of
//                  stats.counter (concurrent across workers: a race)
//   gateway/main:  HttpRequest POST ledger/entries        (span A)
//   ledger/w1:     FunctionCall append_entry, DatabaseQuery, DatabaseResult
//                  (upstream span A, span B; parent = the HttpRequest)
//   gateway/main:  HttpResponse 200 with duration, sometimes an Error
// Parents chain each thread's events to the root; causality vectors carry
// one component per thread; timestamps advance per thread.
struct TraceShape {
  int threads = 3;
  double race_probability = 0.3;
  double async_probability = 0.5;
  double error_probability = 0.05;
};

// Deterministic for a given seed. Not thread-safe: one per producer.
class TraceGenerator {
 public:
  TraceGenerator(TraceShape shape, uint64_t seed);
  // The events of one new trace (fresh trace, event and span ids).
  std::vector<raceway::v1::Event> NextTrace();

 private:
  TraceShape shape_;
  std::mt19937_64 rng_;
  int64_t clock_ns_;
};

struct LoadOptions {
  client::ClientOptions client;  // target, streams, batching, auth, TLS, ...
  // Stop after this long, or after `events` events, whichever comes first
  // (0 = no limit; at least one must be set).
  std::chrono::milliseconds duration{0};
  uint64_t events = 0;
  double rate = 0;    // Events/s over all producers; 0 = as fast as possible.
  int producers = 1;  // Generator threads.
  TraceShape shape;
  uint64_t seed = 1;
  bool verify = false;  // Keep acked ids per trace for Verify().
  std::chrono::milliseconds flush_timeout{120000};
  // Progress callback, called about once per second (may be empty).
  std::function<void(const std::string&)> progress;
};

struct LoadReport {
  uint64_t recorded = 0;
  uint64_t acked = 0;  // accepted + duplicate: committed.
  uint64_t accepted = 0;
  uint64_t duplicate = 0;
  uint64_t rejected = 0;
  uint64_t failed = 0;
  uint64_t refused_local = 0;
  uint64_t retries = 0;
  uint64_t server_refusals = 0;
  uint64_t batches = 0;
  uint64_t traces = 0;
  double seconds = 0;               // First Record to the end of the final Flush.
  double committed_per_second = 0;  // acked / seconds.
  double ack_p50_ms = 0, ack_p90_ms = 0, ack_p99_ms = 0, ack_max_ms = 0;
  absl::Status flush_status;
  // Verification (when run).
  bool verified = false;
  uint64_t verified_events = 0;
  uint64_t missing = 0;
  std::vector<std::string> missing_examples;  // Up to 10 ids.
  std::string last_error;

  std::string ToText() const;  // Human-readable, several lines.
  std::string ToJson() const;  // One line.
};

// Runs the load. `reader` (may be null) verifies every acked event when
// options.verify is set: per trace, the stored event count must equal the
// acked count (exact when no event of the trace failed); otherwise each
// acked id is looked up with GetEvent.
absl::StatusOr<LoadReport> RunLoad(const LoadOptions& options, storage::EventReader* reader);

}  // namespace raceway::loadgen

#endif  // RACEWAY_TOOLS_LOADGEN_LOADGEN_H_
