#ifndef RACEWAY_LIBS_STORAGE_TOOLS_COPY_H_
#define RACEWAY_LIBS_STORAGE_TOOLS_COPY_H_

// Data tools over the storage interface, backend-neutral (ARCHITECTURE §7
// "Data tools"): copy everything from one storage to another, export and
// import JSON Lines. Used by the `raceway` CLI (tools/raceway).
//
// What is copied: every event. The target re-derives every derived row
// (causal edges, roots, the variable-access index, summaries, spans,
// service calls, durations) AND the baselines by writing the events through
// WriteBatch, exactly as ingest would. Baselines are therefore the
// statistics of the copied events. That equals the source's baselines when
// the source's baselines came from its stored events; after retention has
// deleted traces in the source (retention keeps baselines), the source's
// baselines also summarise deleted history, which cannot be copied through
// the storage interface (there is no baseline writer, by design: baselines
// only ever grow from events). VerifyCopy reports such baseline differences
// separately and does not count them as failures.
//
// Order and streaming: traces newest first (ListTraces keyset pages), each
// trace's events in (timestamp, id) order (GetTraceEventsPage), gathered
// into target batches of `batch_events`. Memory stays bounded by one batch
// plus one page. A trace larger than a batch spans several batches.
//
// Idempotent and resumable: WriteBatch skips stored ids, so re-running a
// copy never duplicates anything. With a checkpoint file, the cursor of the
// last trace whose events are all committed on the target is saved (atomic
// rename) after every batch; a re-run resumes strictly after it (a trace cut
// by the interruption is re-sent whole: its committed part counts as
// duplicates). The checkpoint is removed when the copy completes.
//
// Copy a quiescent source: traces written to the source during the copy may
// be missed (re-run the copy afterwards to pick them up; it is idempotent).
//
// Thread-compatible: one call uses its storages from the calling thread.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/storage/storage.h"
#include "raceway/v1/event.pb.h"

namespace raceway::storage::tools {

struct CopyProgress {
  uint64_t traces_total = 0;    // Source traces when the copy started.
  uint64_t traces_skipped = 0;  // Before the checkpoint (resume).
  uint64_t traces_done = 0;     // Fully read this run.
  uint64_t events_read = 0;
  uint64_t accepted = 0;    // Newly stored on the target.
  uint64_t duplicates = 0;  // Already on the target.
  uint64_t batches = 0;
  bool resumed = false;
  absl::Duration elapsed;
};

struct CopyOptions {
  uint32_t batch_events = 2000;  // Events per target WriteBatch (1..10000).
  uint32_t page_events = 5000;   // Events per source page.
  // Resume file; empty = no checkpoint. `checkpoint_key` (e.g. the two
  // URLs) is stored in it; a checkpoint written for another key is refused.
  std::string checkpoint_path;
  std::string checkpoint_key;
  // Called after every batch and once at the end (final = true).
  std::function<void(const CopyProgress&, bool final)> progress;
  // Test hook: stop with ABORTED after this many target batches (0 = off),
  // as if the process had been killed.
  uint64_t stop_after_batches = 0;
};

absl::StatusOr<CopyProgress> CopyEvents(EventReader& from, EventWriter& to,
                                        const CopyOptions& options);

struct VerifyReport {
  uint64_t source_events = 0;
  uint64_t source_traces = 0;
  uint64_t target_events = 0;
  uint64_t target_traces = 0;
  uint64_t traces_checked = 0;
  uint64_t traces_mismatched = 0;     // Missing on the target or other event count.
  std::vector<std::string> examples;  // A few mismatches, for the message.
  uint64_t baseline_keys = 0;         // Operation keys of the source's events.
  uint64_t baseline_differences = 0;  // Count differs (history not copied).
  bool ok() const { return traces_mismatched == 0; }
};

// Checks that every source trace exists on the target with the same event
// count and time span, and compares the baselines of the operation keys of
// the source's events (reported, not failed; see above).
absl::StatusOr<VerifyReport> VerifyCopy(EventReader& from, EventReader& to);

// Calls `fn` for every stored event (same order as CopyEvents). Stops at the
// first error (from the storage or from fn).
absl::Status ForEachEvent(EventReader& from, uint32_t page_events,
                          const std::function<absl::Status(const raceway::v1::Event&)>& fn);

struct ImportOptions {
  uint32_t batch_events = 2000;
  // Called after every batch and once at the end (final = true).
  std::function<void(const CopyProgress&, bool final)> progress;
};

// Writes the events of a JSON Lines stream (validated with the default
// model::ValidationLimits; the first invalid event fails the import, naming
// its line). Idempotent like CopyEvents.
absl::StatusOr<CopyProgress> ImportJsonl(std::istream& in, EventWriter& to,
                                         const ImportOptions& options);

// Writes every event as JSON Lines; returns the number written.
absl::StatusOr<uint64_t> ExportJsonl(EventReader& from, std::ostream& out,
                                     const std::function<void(uint64_t)>& progress);

// "traces 120/5000 (2.4%)  events 53000  new 52000  dup 1000  41200 ev/s"
std::string FormatProgress(const CopyProgress& p);

}  // namespace raceway::storage::tools

#endif  // RACEWAY_LIBS_STORAGE_TOOLS_COPY_H_
