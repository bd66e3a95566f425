#ifndef RACEWAY_LIBS_CLIENT_CLIENT_H_
#define RACEWAY_LIBS_CLIENT_CLIENT_H_

// The agent client library: what an instrumented program embeds to send its
// events to raceway-ingest (ARCHITECTURE §5).
//
//   auto client = raceway::client::RacewayClient::Create({.target = "ingest:50051",
//                                                         .api_key = "secret"});
//   (*client)->Record(event);          // from any thread; never blocks
//   (*client)->Flush();                // everything recorded so far is acked
//
// What it does:
// - Record() appends to a bounded local buffer (max_buffered_events /
//   max_buffered_bytes, counting events from Record until their ack). When
//   the bound is hit the event is NOT taken: Record returns
//   RESOURCE_EXHAUSTED and Stats().refused_local counts it ("dropped at
//   source", never silently). RecordWait() waits for room instead.
// - Events are batched (max_batch_events / max_batch_bytes, or after
//   `linger` for a partial batch, or at once while a Flush waits) and sent
//   over `streams` bidirectional IngestService.Stream calls with a sequence
//   number per batch and up to max_in_flight_per_stream batches awaiting
//   their ack, or with unary Submit (transport = kUnary).
// - An ack means the server committed the batch. Acks are matched by
//   sequence (they may arrive out of order).
// - Failures are retried with exponential backoff and jitter (retry.h):
//   UNAVAILABLE, RESOURCE_EXHAUSTED, broken streams, missing acks. The
//   server's retry delay (StreamAck.retry_after_ms, or google.rpc.RetryInfo
//   in a Submit / stream status) is a lower bound; after RESOURCE_EXHAUSTED
//   the whole client holds back new batches until that delay has passed.
//   A batch refused as too large (INVALID_ARGUMENT) is split in two.
//   Non-retryable failures (UNAUTHENTICATED, ...) and exhausted
//   max_attempts fail the batch: Stats().failed, the callback and the next
//   Flush report it.
// - Events keep their ids on every resend (an empty id is filled with a new
//   UUID at Record), so a retry of a batch that was in fact committed is
//   counted by the server as duplicates, never stored twice.
// - Invalid events are rejected by the server individually (partial
//   success): counted in acked_rejected and listed in the callback's
//   result; they are not retried.
//
// Thread safety: every public method may be called from any thread
// concurrently. The callback runs on the client's internal threads (and, for
// batches abandoned by Close, on the thread calling Close), never with an
// internal lock held; it must be quick and must not call Flush(), Close() or
// RecordWait() (it may call Record() and Stats()). Flush() returns only
// after the callbacks of the batches it waited for have run. Destroying the
// client runs Close(close_timeout).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "libs/client/retry.h"
#include "raceway/v1/event.pb.h"
#include "raceway/v1/ingest.pb.h"

namespace raceway::client {

using Clock = std::chrono::steady_clock;

// The final outcome of one batch, passed to ClientOptions::on_batch_done.
struct BatchOutcome {
  // Acked (result valid) when OK; otherwise the batch failed permanently and
  // none of its events is known to be stored.
  absl::Status status;
  raceway::v1::BatchResult result;
  // The events of the batch (rejected_events[].index points into this).
  const google::protobuf::RepeatedPtrField<raceway::v1::Event>* events = nullptr;
  uint64_t sequence = 0;  // Of the last attempt (0 for unary).
  int attempts = 0;       // Sends of this batch (1 = no retry).
  Clock::time_point first_sent;
  Clock::time_point last_sent;  // Ack latency = completed - last_sent.
  Clock::time_point completed;
};

struct ClientOptions {
  // ---- connection
  std::string target = "127.0.0.1:50051";  // "host:port" (any gRPC target URI).
  std::string api_key;                     // Sent as "authorization: Bearer <key>"; empty = none.
  bool tls = false;
  std::string root_certs_file;  // PEM; empty with tls = the system roots.
  std::string tls_server_name;  // Overrides the name checked in the certificate.

  // ---- transport
  enum class Transport { kStream, kUnary };
  Transport transport = Transport::kStream;
  uint32_t streams = 1;                   // Concurrent streams (or concurrent Submit calls).
  uint32_t max_in_flight_per_stream = 8;  // Batches sent, not yet acked (streams).
  // A stream whose oldest unacked batch waited this long is cancelled and
  // its batches resent (unary: the Submit deadline).
  std::chrono::milliseconds ack_timeout{30000};

  // ---- batching
  uint32_t max_batch_events = 1000;
  size_t max_batch_bytes = 1 << 20;  // Serialized event bytes per batch.
  // A partial batch is sent once its oldest event waited this long.
  std::chrono::milliseconds linger{5};

  // ---- local buffer (recorded and not yet acked or failed)
  size_t max_buffered_events = 100000;
  size_t max_buffered_bytes = 64 << 20;

  // ---- retries
  BackoffPolicy backoff;
  uint32_t max_attempts = 0;  // Sends per batch; 0 = retry until Close.

  // ---- misc
  bool validate_locally = false;                  // Record() runs model::ValidateEvent first.
  std::chrono::milliseconds close_timeout{5000};  // Used by the destructor.
  std::function<void(const BatchOutcome&)> on_batch_done;
};

struct ClientStats {
  uint64_t recorded = 0;       // Events taken by Record / RecordWait.
  uint64_t refused_local = 0;  // Events refused by Record (buffer full,
                               // invalid, or closed): dropped at source.
  uint64_t batches_sent = 0;   // Send attempts, retries included.
  uint64_t events_sent = 0;    // Events in those attempts.
  uint64_t batches_acked = 0;
  uint64_t acked_accepted = 0;    // Newly stored, per the server.
  uint64_t acked_duplicate = 0;   // Already stored (e.g. a retried commit).
  uint64_t acked_rejected = 0;    // Invalid, rejected by the server.
  uint64_t retries = 0;           // Batch resends scheduled.
  uint64_t server_refusals = 0;   // RESOURCE_EXHAUSTED answers (backpressure).
  uint64_t transient_errors = 0;  // Other retryable failures (UNAVAILABLE, ...).
  uint64_t stream_restarts = 0;   // Streams re-opened after a failure.
  uint64_t failed = 0;            // Events given up on (fatal error, attempts
                                  // exhausted, or Close before their ack).
  uint64_t buffered_events = 0;   // Now: recorded, not yet acked or failed.
  uint64_t buffered_bytes = 0;
  std::string last_error;  // Most recent failure, for humans.
};

class RacewayClient {
 public:
  // Starts the sender threads; connects lazily (a server that is down is
  // not an error here: events wait in the buffer and are retried).
  // INVALID_ARGUMENT for unusable options (e.g. unreadable root_certs_file).
  static absl::StatusOr<std::unique_ptr<RacewayClient>> Create(ClientOptions options);

  ~RacewayClient();
  RacewayClient(const RacewayClient&) = delete;
  RacewayClient& operator=(const RacewayClient&) = delete;

  // Takes the event into the buffer; never blocks on the network. An empty
  // id is replaced by a new UUID. Errors (the event is not taken, and
  // refused_local counts it): RESOURCE_EXHAUSTED when the buffer bound is
  // hit, INVALID_ARGUMENT (validate_locally), FAILED_PRECONDITION after Close.
  absl::Status Record(raceway::v1::Event event);

  // Like Record, but waits up to `timeout` for room in the buffer
  // (DEADLINE_EXCEEDED, counted in refused_local, when none came).
  absl::Status RecordWait(raceway::v1::Event event, std::chrono::milliseconds timeout);

  // Sends partial batches at once and waits until every event recorded
  // before the call has reached a final state (acked, or failed). OK when
  // none of them failed while waiting; otherwise the last failure;
  // DEADLINE_EXCEEDED on timeout.
  absl::Status Flush(std::chrono::milliseconds timeout = std::chrono::hours(24));

  // Refuses further Records, flushes for up to `timeout`, then stops the
  // streams; events still unacked are counted as failed. Idempotent.
  absl::Status Close(std::chrono::milliseconds timeout);

  ClientStats Stats() const;

  class Impl;

 private:
  explicit RacewayClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace raceway::client

#endif  // RACEWAY_LIBS_CLIENT_CLIENT_H_
