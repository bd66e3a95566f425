#include "libs/storage/fault_injection/fault_injection_storage.h"

#include <algorithm>
#include <utility>

namespace raceway::storage {

FaultInjectionStorage::FaultInjectionStorage(std::shared_ptr<Storage> inner)
    : inner_(std::move(inner)) {}

void FaultInjectionStorage::Arm(uint64_t n, Action action, absl::Status status) {
  common::MutexLock lock(&mu_);
  faults_.push_back({calls_ + std::max<uint64_t>(n, 1), action, std::move(status)});
}

void FaultInjectionStorage::FailNthWrite(uint64_t n, absl::Status status) {
  Arm(n, Action::kFail, std::move(status));
}

void FaultInjectionStorage::FailNthWriteAfterCommit(uint64_t n, absl::Status status) {
  Arm(n, Action::kFailAfterCommit, std::move(status));
}

void FaultInjectionStorage::StallNthWrite(uint64_t n) { Arm(n, Action::kStall, absl::OkStatus()); }

void FaultInjectionStorage::SetDown(absl::Status status, bool reads_too) {
  common::MutexLock lock(&mu_);
  down_ = true;
  down_reads_ = reads_too;
  down_status_ =
      status.ok() ? absl::UnavailableError("injected fault: storage is down") : std::move(status);
  mu_.SignalAll();
}

void FaultInjectionStorage::SetStalled() {
  common::MutexLock lock(&mu_);
  stalled_mode_ = true;
}

void FaultInjectionStorage::SetUp() {
  common::MutexLock lock(&mu_);
  down_ = false;
  down_reads_ = false;
  stalled_mode_ = false;
  ++release_generation_;
  mu_.SignalAll();
}

void FaultInjectionStorage::Resume() {
  common::MutexLock lock(&mu_);
  ++release_generation_;
  mu_.SignalAll();
}

uint64_t FaultInjectionStorage::write_calls() const {
  common::MutexLock lock(&mu_);
  return calls_;
}

uint64_t FaultInjectionStorage::failed_writes() const {
  common::MutexLock lock(&mu_);
  return failed_;
}

uint64_t FaultInjectionStorage::committed_writes() const {
  common::MutexLock lock(&mu_);
  return committed_;
}

int FaultInjectionStorage::stalled_writers() const {
  common::MutexLock lock(&mu_);
  return stalled_;
}

bool FaultInjectionStorage::WaitForStalledWriters(int n, absl::Duration timeout) const {
  common::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout([this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stalled_ >= n; },
                              absl::ToChronoMilliseconds(timeout));
}

absl::Status FaultInjectionStorage::DownStatus(bool read) const {
  common::MutexLock lock(&mu_);
  if (down_ && (!read || down_reads_)) return down_status_;
  return absl::OkStatus();
}

absl::StatusOr<WriteResult> FaultInjectionStorage::WriteBatch(
    std::span<const raceway::v1::Event* const> events) {
  absl::Status after_commit;
  {
    common::MutexLock lock(&mu_);
    const uint64_t call = ++calls_;
    bool stall = stalled_mode_;
    absl::Status fail;
    for (auto it = faults_.begin(); it != faults_.end();) {
      if (it->call != call) {
        ++it;
        continue;
      }
      switch (it->action) {
        case Action::kFail:
          if (fail.ok()) fail = it->status;
          break;
        case Action::kFailAfterCommit:
          if (after_commit.ok()) after_commit = it->status;
          break;
        case Action::kStall:
          stall = true;
          break;
      }
      it = faults_.erase(it);
    }
    if (stall && !down_) {
      const uint64_t generation = release_generation_;
      ++stalled_;
      mu_.SignalAll();  // WaitForStalledWriters.
      mu_.Await([this, generation]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return release_generation_ != generation || down_;
      });
      --stalled_;
    }
    if (down_) {
      ++failed_;
      return down_status_;
    }
    if (!fail.ok()) {
      ++failed_;
      return fail;
    }
  }
  absl::StatusOr<WriteResult> result = inner_->WriteBatch(events);
  common::MutexLock lock(&mu_);
  if (!result.ok()) return result;
  ++committed_;
  if (!after_commit.ok()) {
    ++failed_;
    return after_commit;
  }
  return result;
}

absl::StatusOr<uint64_t> FaultInjectionStorage::DeleteTracesBefore(int64_t cutoff_ns) {
  if (absl::Status st = DownStatus(false); !st.ok()) return st;
  return inner_->DeleteTracesBefore(cutoff_ns);
}

absl::Status FaultInjectionStorage::Clear() {
  if (absl::Status st = DownStatus(false); !st.ok()) return st;
  return inner_->Clear();
}

#define RACEWAY_READ_THROUGH(call)                               \
  do {                                                           \
    if (absl::Status st = DownStatus(true); !st.ok()) return st; \
    return inner_->call;                                         \
  } while (0)

absl::StatusOr<raceway::v1::Event> FaultInjectionStorage::GetEvent(const std::string& id) {
  RACEWAY_READ_THROUGH(GetEvent(id));
}
absl::StatusOr<TraceSummary> FaultInjectionStorage::GetTraceSummary(const std::string& trace_id) {
  RACEWAY_READ_THROUGH(GetTraceSummary(trace_id));
}
absl::StatusOr<std::vector<raceway::v1::Event>> FaultInjectionStorage::GetTraceEvents(
    const std::string& trace_id) {
  RACEWAY_READ_THROUGH(GetTraceEvents(trace_id));
}
absl::StatusOr<Page<raceway::v1::Event>> FaultInjectionStorage::GetTraceEventsPage(
    const std::string& trace_id, const PageRequest& page) {
  RACEWAY_READ_THROUGH(GetTraceEventsPage(trace_id, page));
}
absl::StatusOr<Page<TraceSummary>> FaultInjectionStorage::ListTraces(const TraceFilter& filter,
                                                                     const PageRequest& page,
                                                                     uint64_t* total) {
  RACEWAY_READ_THROUGH(ListTraces(filter, page, total));
}
absl::StatusOr<Page<VariableAccess>> FaultInjectionStorage::GetVariableAccesses(
    const std::string& variable, const TimeRange& range, const PageRequest& page) {
  RACEWAY_READ_THROUGH(GetVariableAccesses(variable, range, page));
}
absl::StatusOr<std::vector<Baseline>> FaultInjectionStorage::GetBaselines(
    const std::vector<std::string>& operations) {
  RACEWAY_READ_THROUGH(GetBaselines(operations));
}
absl::StatusOr<std::vector<ServiceStats>> FaultInjectionStorage::ListServices() {
  RACEWAY_READ_THROUGH(ListServices());
}
absl::StatusOr<std::vector<ServiceCallRow>> FaultInjectionStorage::ListServiceCalls(
    const TimeRange& range) {
  RACEWAY_READ_THROUGH(ListServiceCalls(range));
}
absl::StatusOr<std::vector<VariableStats>> FaultInjectionStorage::TopVariables(
    const TimeRange& range, uint32_t limit) {
  RACEWAY_READ_THROUGH(TopVariables(range, limit));
}
absl::StatusOr<std::vector<DurationStats>> FaultInjectionStorage::DurationsByKind(
    const TimeRange& range) {
  RACEWAY_READ_THROUGH(DurationsByKind(range));
}
absl::StatusOr<std::vector<DurationStats>> FaultInjectionStorage::DurationsByService(
    const TimeRange& range) {
  RACEWAY_READ_THROUGH(DurationsByService(range));
}
absl::StatusOr<uint64_t> FaultInjectionStorage::CountEvents() {
  RACEWAY_READ_THROUGH(CountEvents());
}
absl::StatusOr<uint64_t> FaultInjectionStorage::CountTraces() {
  RACEWAY_READ_THROUGH(CountTraces());
}

#undef RACEWAY_READ_THROUGH

}  // namespace raceway::storage
