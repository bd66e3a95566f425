// Runs the conformance suite against the memory and sqlite backends.

#include <memory>

#include "libs/storage/factory.h"
#include "tests/storage/conformance.h"
#include "tests/storage/test_util.h"

namespace raceway::storage::testing {
namespace {

// A Storage that owns the temporary directory of its SQLite file.
class OwningStorage final : public Storage {
 public:
  OwningStorage(std::unique_ptr<TempDir> dir, std::unique_ptr<Storage> inner)
      : dir_(std::move(dir)), inner_(std::move(inner)) {}
  ~OwningStorage() override { inner_.reset(); }

  std::string BackendName() const override { return inner_->BackendName(); }
  absl::StatusOr<WriteResult> WriteBatch(std::span<const raceway::v1::Event* const> e) override {
    return inner_->WriteBatch(e);
  }
  absl::StatusOr<uint64_t> DeleteTracesBefore(int64_t c) override {
    return inner_->DeleteTracesBefore(c);
  }
  absl::Status Clear() override { return inner_->Clear(); }
  absl::StatusOr<raceway::v1::Event> GetEvent(const std::string& id) override {
    return inner_->GetEvent(id);
  }
  absl::StatusOr<TraceSummary> GetTraceSummary(const std::string& t) override {
    return inner_->GetTraceSummary(t);
  }
  absl::StatusOr<std::vector<raceway::v1::Event>> GetTraceEvents(const std::string& t) override {
    return inner_->GetTraceEvents(t);
  }
  absl::StatusOr<Page<raceway::v1::Event>> GetTraceEventsPage(const std::string& t,
                                                              const PageRequest& p) override {
    return inner_->GetTraceEventsPage(t, p);
  }
  absl::StatusOr<Page<TraceSummary>> ListTraces(const TraceFilter& f, const PageRequest& p,
                                                uint64_t* total) override {
    return inner_->ListTraces(f, p, total);
  }
  absl::StatusOr<Page<VariableAccess>> GetVariableAccesses(const std::string& v, const TimeRange& r,
                                                           const PageRequest& p) override {
    return inner_->GetVariableAccesses(v, r, p);
  }
  absl::StatusOr<std::vector<Baseline>> GetBaselines(const std::vector<std::string>& o) override {
    return inner_->GetBaselines(o);
  }
  absl::StatusOr<std::vector<ServiceStats>> ListServices() override {
    return inner_->ListServices();
  }
  absl::StatusOr<std::vector<ServiceCallRow>> ListServiceCalls(const TimeRange& r) override {
    return inner_->ListServiceCalls(r);
  }
  absl::StatusOr<std::vector<VariableStats>> TopVariables(const TimeRange& r,
                                                          uint32_t limit) override {
    return inner_->TopVariables(r, limit);
  }
  absl::StatusOr<std::vector<DurationStats>> DurationsByKind(const TimeRange& r) override {
    return inner_->DurationsByKind(r);
  }
  absl::StatusOr<std::vector<DurationStats>> DurationsByService(const TimeRange& r) override {
    return inner_->DurationsByService(r);
  }
  absl::StatusOr<uint64_t> CountEvents() override { return inner_->CountEvents(); }
  absl::StatusOr<uint64_t> CountTraces() override { return inner_->CountTraces(); }

 private:
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Storage> inner_;
};

absl::StatusOr<std::unique_ptr<Storage>> OpenMemory() {
  StorageOptions o;
  o.backend = "memory";
  return OpenStorage(o);
}

absl::StatusOr<std::unique_ptr<Storage>> OpenSqliteFile() {
  auto dir = std::make_unique<TempDir>();
  StorageOptions o;
  o.backend = "sqlite";
  o.sqlite_path = dir->File("raceway.db");
  auto s = OpenStorage(o);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Storage>(new OwningStorage(std::move(dir), *std::move(s)));
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageConformanceTest,
                         ::testing::Values(BackendFactory{"memory", &OpenMemory},
                                           BackendFactory{"sqlite", &OpenSqliteFile}),
                         BackendFactoryName);

}  // namespace
}  // namespace raceway::storage::testing
