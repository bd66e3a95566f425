// Storage write benchmark (ARCHITECTURE §10; issue 3).
//
//   storage_bench [--benchmark_filter=...]
//
// Measures batch writes (events/s) of realistic events for the memory and
// sqlite backends, and the raw SQLite prepared-insert rate of rows of the
// same size in the same run, then prints the ratios:
//   memory / sqlite   (the persistence plan's criterion: < 10x)
//   sqlite / raw      (our target: >= 50 %; raw with SQLite's default inline
//                      checkpoints, and also without any checkpoint)
// Extra backends: RACEWAY_BENCH_STORAGE_URLS="postgres://...,mysql://..."
// adds one WriteBatch benchmark per URL (the database is Clear()ed first;
// use a dedicated database). RACEWAY_BENCH_BATCH sets the batch size
// (default 1000).

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/support/workload.h"
#include "benchmark/benchmark.h"
#include "google/protobuf/util/json_util.h"
#include "libs/model/uuid.h"
#include "libs/storage/common/event_json.h"
#include "libs/storage/factory.h"

namespace {

using raceway::v1::Event;

int BatchSize() {
  const char* env = std::getenv("RACEWAY_BENCH_BATCH");
  const int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 1000;
}

using raceway::bench::Workload;

std::vector<const Event*> Ptrs(const std::vector<Event>& v) {
  std::vector<const Event*> out;
  for (const Event& e : v) out.push_back(&e);
  return out;
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/raceway-bench-", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = absl::StrCat(dir, "/", name);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

// The average size of what the events table stores per event (payload +
// JSON columns + indexed scalars), measured on the workload.
size_t AverageRowBytes() {
  Workload w;
  const auto batch = w.NextBatch(2000);
  size_t total = 0;
  for (const Event& e : batch) {
    total += e.ByteSizeLong() + raceway::storage::common::KindJson(e).size() +
             raceway::storage::common::MessageJson(e.metadata()).size() +
             raceway::storage::common::CausalityJson(e).size() +
             raceway::storage::common::StringArrayJson(e.lock_set()).size() + 16 * 3 + 8 * 2 +
             e.metadata().thread_id().size() + e.metadata().service_name().size() + 12;
  }
  return total / batch.size();
}

std::mutex g_mu;
std::map<std::string, double> g_rates;  // benchmark label -> items/s

void Record(const std::string& label, double items, double seconds) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_rates[label] = items / seconds;
}

void WriteBatches(benchmark::State& state, const std::string& label,
                  raceway::storage::Storage& storage) {
  const int n = BatchSize();
  Workload w;
  double busy = 0;
  int64_t items = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Event> batch = w.NextBatch(n);
    auto ptrs = Ptrs(batch);
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = storage.WriteBatch(ptrs);
    busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok() || r->accepted != static_cast<uint32_t>(n)) {
      state.SkipWithError(r.ok() ? "not all accepted" : r.status().ToString().c_str());
      return;
    }
    items += n;
    state.PauseTiming();
    batch.clear();  // Destruction is not storage cost.
    state.ResumeTiming();
  }
  state.SetItemsProcessed(items);
  state.counters["batch"] = n;
  Record(label, static_cast<double>(items), busy);
}

void BM_WriteBatch_Memory(benchmark::State& state) {
  raceway::storage::StorageOptions o;
  o.backend = "memory";
  auto s = raceway::storage::OpenStorage(o);
  if (!s.ok()) {
    state.SkipWithError(s.status().ToString().c_str());
    return;
  }
  WriteBatches(state, "memory", **s);
}

void BM_WriteBatch_Sqlite(benchmark::State& state) {
  raceway::storage::StorageOptions o;
  o.backend = "sqlite";
  o.sqlite_path = TempPath("bench.db");
  auto s = raceway::storage::OpenStorage(o);
  if (!s.ok()) {
    state.SkipWithError(s.status().ToString().c_str());
    return;
  }
  WriteBatches(state, "sqlite", **s);
}

void BM_WriteBatch_Url(benchmark::State& state, std::string url) {
  auto o = raceway::storage::StorageOptionsFromUrl(url);
  if (!o.ok()) {
    state.SkipWithError(o.status().ToString().c_str());
    return;
  }
  auto s = raceway::storage::OpenStorage(*o);
  if (!s.ok()) {
    state.SkipWithError(s.status().ToString().c_str());
    return;
  }
  if (auto st = (*s)->Clear(); !st.ok()) {
    state.SkipWithError(st.ToString().c_str());
    return;
  }
  WriteBatches(state, o->backend, **s);
}

// The ceiling: one prepared INSERT per row of the same average size into a
// table with only a primary key, one transaction per batch, same pragmas.
// With state.range(0) == 0 checkpoints are never run (WAL grows): the pure
// insert ceiling, for comparison with the storage's background checkpoints.
void BM_RawSqliteInsert(benchmark::State& state) {
  const int n = BatchSize();
  const bool checkpoints = state.range(0) != 0;
  const size_t row_bytes = AverageRowBytes();
  SQLite::Database db(TempPath(checkpoints ? "raw.db" : "raw-nockpt.db"),
                      SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=NORMAL");
  db.exec("PRAGMA cache_size=-65536");
  if (!checkpoints) db.exec("PRAGMA wal_autocheckpoint=0");
  db.exec(
      "CREATE TABLE raw (id BLOB PRIMARY KEY, trace_id BLOB NOT NULL, ts INTEGER NOT NULL,"
      " data BLOB NOT NULL)");
  SQLite::Statement insert(db, "INSERT INTO raw VALUES (?1, ?2, ?3, ?4)");
  const std::string data(row_bytes - 16 * 2 - 8, 'x');
  std::mt19937_64 rng(1);
  double busy = 0;
  int64_t items = 0, ts = 0;
  std::vector<raceway::model::UuidBytes> ids(n);
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& id : ids) {
      const uint64_t a = rng(), b = rng();
      std::memcpy(id.data(), &a, 8);
      std::memcpy(id.data() + 8, &b, 8);
    }
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    db.exec("BEGIN IMMEDIATE");
    for (int i = 0; i < n; ++i) {
      insert.bindNoCopy(1, ids[i].data(), 16);
      insert.bindNoCopy(2, ids[i % 10].data(), 16);
      insert.bind(3, ++ts);
      insert.bindNoCopy(4, data.data(), static_cast<int>(data.size()));
      insert.exec();
      insert.reset();
    }
    db.exec("COMMIT");
    busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    items += n;
  }
  state.SetItemsProcessed(items);
  state.counters["row_bytes"] = static_cast<double>(row_bytes);
  Record(checkpoints ? "raw" : "raw_nockpt", static_cast<double>(items), busy);
}

// Calibration against TOOLCHAIN.md's "SQLite prepared INSERT" figure: small
// rows (50 bytes) with an INTEGER key, same transactions of one batch.
void BM_RawSqliteInsertSmallRows(benchmark::State& state) {
  const int n = BatchSize();
  SQLite::Database db(TempPath("raw-small.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=NORMAL");
  db.exec("CREATE TABLE raw (id INTEGER PRIMARY KEY, data BLOB NOT NULL)");
  SQLite::Statement insert(db, "INSERT INTO raw VALUES (?1, ?2)");
  const std::string data(50, 'x');
  int64_t id = 0, items = 0;
  for (auto _ : state) {
    db.exec("BEGIN IMMEDIATE");
    for (int i = 0; i < n; ++i) {
      insert.bind(1, ++id);
      insert.bindNoCopy(2, data.data(), static_cast<int>(data.size()));
      insert.exec();
      insert.reset();
    }
    db.exec("COMMIT");
    items += n;
  }
  state.SetItemsProcessed(items);
}

// What one event costs before it reaches the database.
void BM_PrepareSerialize(benchmark::State& state) {
  Workload w;
  const auto batch = w.NextBatch(1000);
  size_t i = 0;
  for (auto _ : state) {
    std::string out;
    batch[i++ % batch.size()].SerializeToString(&out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PrepareJsonColumns(benchmark::State& state) {
  Workload w;
  const auto batch = w.NextBatch(1000);
  size_t i = 0;
  for (auto _ : state) {
    const Event& e = batch[i++ % batch.size()];
    std::string a = raceway::storage::common::KindJson(e);
    std::string b = raceway::storage::common::MessageJson(e.metadata());
    std::string c = raceway::storage::common::CausalityJson(e);
    std::string d = raceway::storage::common::StringArrayJson(e.lock_set());
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    benchmark::DoNotOptimize(c);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PrepareProtobufJsonUtil(benchmark::State& state) {
  Workload w;
  const auto batch = w.NextBatch(1000);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  size_t i = 0;
  for (auto _ : state) {
    std::string out;
    (void)google::protobuf::util::MessageToJsonString(batch[i++ % batch.size()], &out, options);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("BM_WriteBatch/memory", BM_WriteBatch_Memory)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(2.0);
  benchmark::RegisterBenchmark("BM_WriteBatch/sqlite", BM_WriteBatch_Sqlite)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(2.0);
  benchmark::RegisterBenchmark("BM_RawSqliteInsert", BM_RawSqliteInsert)
      ->ArgName("checkpoints")
      ->Arg(1)
      ->Arg(0)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(2.0);
  benchmark::RegisterBenchmark("BM_RawSqliteInsert/small_rows_integer_key",
                               BM_RawSqliteInsertSmallRows)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0);
  if (const char* urls = std::getenv("RACEWAY_BENCH_STORAGE_URLS")) {
    for (absl::string_view url : absl::StrSplit(urls, ',', absl::SkipEmpty())) {
      const std::string u(url);
      const std::string scheme = u.substr(0, u.find(':'));
      benchmark::RegisterBenchmark(absl::StrCat("BM_WriteBatch/", scheme).c_str(),
                                   [u](benchmark::State& s) { BM_WriteBatch_Url(s, u); })
          ->Unit(benchmark::kMillisecond)
          ->MinTime(2.0);
    }
  }
  benchmark::RegisterBenchmark("BM_Prepare/serialize", BM_PrepareSerialize);
  benchmark::RegisterBenchmark("BM_Prepare/json_columns", BM_PrepareJsonColumns);
  benchmark::RegisterBenchmark("BM_Prepare/protobuf_json_util", BM_PrepareProtobufJsonUtil);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::printf("\nWrite throughput (events/s, time inside WriteBatch; batch %d):\n", BatchSize());
  for (const auto& [label, rate] : g_rates) std::printf("  %-10s %12.0f\n", label.c_str(), rate);
  auto rate = [](const std::string& k) {
    auto it = g_rates.find(k);
    return it == g_rates.end() ? 0.0 : it->second;
  };
  const double mem = rate("memory"), lite = rate("sqlite"), raw = rate("raw");
  if (mem > 0 && lite > 0) {
    std::printf("  memory / sqlite = %.2fx   (plan criterion: < 10x) %s\n", mem / lite,
                mem / lite < 10 ? "OK" : "MISSED");
  }
  if (lite > 0 && raw > 0) {
    std::printf("  sqlite / raw    = %.0f %%  (target: >= 50 %%) %s\n", 100 * lite / raw,
                lite / raw >= 0.5 ? "OK" : "MISSED");
  }
  if (const double nock = rate("raw_nockpt"); lite > 0 && nock > 0) {
    std::printf("  sqlite / raw without checkpoints = %.0f %%\n", 100 * lite / nock);
  }
  for (const auto& [label, r] : g_rates) {
    if (label != "memory" && label != "sqlite" && label != "raw" && label != "raw_nockpt" &&
        r > 0 && mem > 0) {
      std::printf("  memory / %-6s = %.2fx\n", label.c_str(), mem / r);
    }
  }
  std::filesystem::remove_all(absl::StrCat(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp",
                                           "/raceway-bench-", ::getpid()));
  return 0;
}
