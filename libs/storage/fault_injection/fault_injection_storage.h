#ifndef RACEWAY_LIBS_STORAGE_FAULT_INJECTION_FAULT_INJECTION_STORAGE_H_
#define RACEWAY_LIBS_STORAGE_FAULT_INJECTION_FAULT_INJECTION_STORAGE_H_

// A Storage wrapper that injects write failures and stalls, so ingest tests
// can prove that no acknowledged event is lost and that retries are safe.
//
//   FailNthWrite(n, st)             the n-th WriteBatch from now returns st,
//                                   nothing is written.
//   FailNthWriteAfterCommit(n, st)  the n-th WriteBatch is written, then st is
//                                   returned (a lost ack: the caller retries
//                                   and must see duplicates, not doubles).
//   StallNthWrite(n)                the n-th WriteBatch blocks until Resume()
//                                   (or SetUp()), then proceeds normally.
//   SetDown(st) / SetUp()           while down every WriteBatch, Clear and
//                                   DeleteTracesBefore returns st (default
//                                   UNAVAILABLE) without writing; reads too
//                                   when `reads_too`.
//   SetStalled() / SetUp()          while stalled every write blocks before
//                                   reaching the wrapped storage.
// "n-th" counts WriteBatch calls made after the fault is armed (1 = the
// next call); several faults may be armed at once. Down takes precedence
// over stalls; a released stall re-checks the down state.
//
// Thread safety: every method may be called concurrently; control methods
// may be called while writers are blocked in WriteBatch.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/storage/common/mutex.h"
#include "libs/storage/storage.h"

namespace raceway::storage {

class FaultInjectionStorage final : public Storage {
 public:
  explicit FaultInjectionStorage(std::shared_ptr<Storage> inner);

  void FailNthWrite(uint64_t n, absl::Status status);
  void FailNthWriteAfterCommit(uint64_t n, absl::Status status);
  void StallNthWrite(uint64_t n);
  void SetDown(absl::Status status = absl::UnavailableError("injected fault: storage is down"),
               bool reads_too = false);
  void SetStalled();
  // Clears the down and stalled modes and releases every stalled writer.
  // Armed one-shot faults stay armed.
  void SetUp();
  // Releases the writers currently stalled (one-shot stalls and, if the
  // stalled mode is still on, they block again on their next call only).
  void Resume();

  uint64_t write_calls() const;       // WriteBatch calls so far.
  uint64_t failed_writes() const;     // Calls that returned an injected error.
  uint64_t committed_writes() const;  // Calls that reached the wrapped storage and succeeded.
  int stalled_writers() const;        // Writers blocked right now.
  // Waits until at least `n` writers are blocked; false on timeout.
  bool WaitForStalledWriters(int n, absl::Duration timeout) const;

  Storage& inner() { return *inner_; }

  std::string BackendName() const override { return inner_->BackendName(); }
  absl::StatusOr<WriteResult> WriteBatch(
      std::span<const raceway::v1::Event* const> events) override;
  absl::StatusOr<uint64_t> DeleteTracesBefore(int64_t cutoff_ns) override;
  absl::Status Clear() override;

  absl::StatusOr<raceway::v1::Event> GetEvent(const std::string& id) override;
  absl::StatusOr<TraceSummary> GetTraceSummary(const std::string& trace_id) override;
  absl::StatusOr<std::vector<raceway::v1::Event>> GetTraceEvents(
      const std::string& trace_id) override;
  absl::StatusOr<Page<raceway::v1::Event>> GetTraceEventsPage(const std::string& trace_id,
                                                              const PageRequest& page) override;
  absl::StatusOr<Page<TraceSummary>> ListTraces(const TraceFilter& filter, const PageRequest& page,
                                                uint64_t* total) override;
  absl::StatusOr<Page<VariableAccess>> GetVariableAccesses(const std::string& variable,
                                                           const TimeRange& range,
                                                           const PageRequest& page) override;
  absl::StatusOr<std::vector<Baseline>> GetBaselines(
      const std::vector<std::string>& operations) override;
  absl::StatusOr<std::vector<ServiceStats>> ListServices() override;
  absl::StatusOr<std::vector<ServiceCallRow>> ListServiceCalls(const TimeRange& range) override;
  absl::StatusOr<std::vector<VariableStats>> TopVariables(const TimeRange& range,
                                                          uint32_t limit) override;
  absl::StatusOr<std::vector<DurationStats>> DurationsByKind(const TimeRange& range) override;
  absl::StatusOr<std::vector<DurationStats>> DurationsByService(const TimeRange& range) override;
  absl::StatusOr<uint64_t> CountEvents() override;
  absl::StatusOr<uint64_t> CountTraces() override;

 private:
  enum class Action { kFail, kFailAfterCommit, kStall };
  struct Fault {
    uint64_t call;  // Absolute WriteBatch call number.
    Action action;
    absl::Status status;
  };

  void Arm(uint64_t n, Action action, absl::Status status);
  absl::Status DownStatus(bool read) const;

  const std::shared_ptr<Storage> inner_;
  mutable common::Mutex mu_;
  std::vector<Fault> faults_ ABSL_GUARDED_BY(mu_);
  uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t committed_ ABSL_GUARDED_BY(mu_) = 0;
  int stalled_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t release_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  bool down_reads_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status down_status_ ABSL_GUARDED_BY(mu_);
  bool stalled_mode_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_FAULT_INJECTION_FAULT_INJECTION_STORAGE_H_
