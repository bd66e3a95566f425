// SQL backend write benchmark (ARCHITECTURE §10; issue 5).
//
//   sql_storage_bench [--benchmark_filter=...]
//
// Batch-write events/s of realistic events (the workload of
// bench/storage/storage_bench.cc) for memory, postgres, supabase (through
// pgbouncer) and mysql, beside the raw bulk rate of each database measured
// in the same run on rows of the same average size:
//   postgres / supabase: COPY ... FROM STDIN into (id uuid PRIMARY KEY,
//     trace_id uuid, ts bigint, data bytea), one transaction per batch, the
//     COPY text prebuilt and sent in large chunks (the fastest client path);
//   mysql: multi-row prepared INSERT (500 rows per statement) into the
//     equivalent InnoDB table, one transaction per batch.
// Then prints each backend's ratio to memory (persistence plan: < 10x) and
// to its raw rate (target: >= 50 %).
//
// Servers: RACEWAY_TEST_POSTGRES_URL, RACEWAY_TEST_SUPABASE_URL,
// RACEWAY_TEST_MYSQL_URL (tests/support/testdb.sh). Postgres and MySQL use
// the databases <db>_bench (created if missing, cleared first); Supabase
// uses its database as is (pgbouncer routes only that one): do not run the
// bench while its tests run. RACEWAY_BENCH_BATCH = events per batch (1000).

#include <cppconn/connection.h>
#include <cppconn/prepared_statement.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/support/workload.h"
#include "benchmark/benchmark.h"
#include "libs/model/uuid.h"
#include "libs/storage/common/event_json.h"
#include "libs/storage/factory.h"
#include "libs/storage/mysql/my_conn.h"
#include "libs/storage/postgres/pg_encode.h"

namespace {

using raceway::v1::Event;

int BatchSize() {
  const char* env = std::getenv("RACEWAY_BENCH_BATCH");
  const int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 1000;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string WithDatabase(const std::string& url, const std::string& db) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme + 3);
  const size_t q = url.find('?', slash);
  return url.substr(0, slash + 1) + db + (q == std::string::npos ? "" : url.substr(q));
}

std::string DatabaseOf(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme + 3);
  const size_t q = url.find('?', slash);
  return url.substr(slash + 1, q == std::string::npos ? std::string::npos : q - slash - 1);
}

using raceway::bench::Workload;

std::vector<const Event*> Ptrs(const std::vector<Event>& v) {
  std::vector<const Event*> out;
  for (const Event& e : v) out.push_back(&e);
  return out;
}

// Average bytes the events table stores per event (payload, JSON columns,
// ids and scalars), measured on the workload: the size of the raw rows.
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
std::map<std::string, double> g_rates;  // label -> events (rows) per second

void Record(const std::string& label, double items, double seconds) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_rates[label] = items / seconds;
}

std::vector<raceway::model::UuidBytes> RandomIds(std::mt19937_64& rng, int n) {
  std::vector<raceway::model::UuidBytes> ids(n);
  for (auto& id : ids) {
    const uint64_t a = rng(), b = rng();
    std::memcpy(id.data(), &a, 8);
    std::memcpy(id.data() + 8, &b, 8);
  }
  return ids;
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
    batch.clear();
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
  if (!s.ok()) return state.SkipWithError(s.status().ToString().c_str());
  WriteBatches(state, "memory", **s);
}

void BM_WriteBatch_Sql(benchmark::State& state, std::string backend, std::string url) {
  raceway::storage::StorageOptions o;
  o.backend = backend;
  o.connection_string = url;
  o.max_connections = 2;
  o.min_connections = 1;
  auto s = raceway::storage::OpenStorage(o);
  if (!s.ok()) return state.SkipWithError(s.status().ToString().c_str());
  if (auto st = (*s)->Clear(); !st.ok()) return state.SkipWithError(st.ToString().c_str());
  WriteBatches(state, backend, **s);
  (void)(*s)->Clear();
}

// Raw PostgreSQL bulk rate: COPY of equally sized rows, prebuilt COPY text.
void BM_RawPostgresCopy(benchmark::State& state, std::string label, std::string url) {
  const int n = BatchSize();
  const size_t row_bytes = AverageRowBytes();
  try {
    pqxx::connection conn(url);
    {
      pqxx::work tx(conn);
      tx.exec("DROP TABLE IF EXISTS raceway_bench_raw");
      tx.exec(
          "CREATE TABLE raceway_bench_raw (id uuid PRIMARY KEY, trace_id uuid NOT NULL,"
          " ts bigint NOT NULL, data bytea NOT NULL)");
      tx.commit();
    }
    const std::string data(row_bytes - 16 * 2 - 8, 'x');
    std::mt19937_64 rng(1);
    double busy = 0;
    int64_t items = 0, ts = 0;
    for (auto _ : state) {
      state.PauseTiming();
      auto ids = RandomIds(rng, n);
      raceway::storage::postgres::CopyText copy;
      std::vector<std::string> chunks;
      for (int i = 0; i < n; ++i) {
        copy.Text(raceway::model::FormatUuid(ids[i]));
        copy.Text(raceway::model::FormatUuid(ids[i % 10]));
        copy.Int(++ts);
        copy.Bytea(data);
        copy.EndRow();
        if (copy.size() > (1 << 20)) chunks.push_back(copy.Take());
      }
      if (!copy.empty()) chunks.push_back(copy.Take());
      state.ResumeTiming();
      const auto t0 = std::chrono::steady_clock::now();
      pqxx::work tx(conn);
      {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        const std::vector<std::string> cols{"id", "trace_id", "ts", "data"};
        pqxx::tablewriter w(tx, "raceway_bench_raw", cols.begin(), cols.end());
#pragma GCC diagnostic pop
        for (const std::string& c : chunks) w.write_raw_line(c);
        w.complete();
      }
      tx.commit();
      busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      items += n;
    }
    {
      pqxx::work tx(conn);
      tx.exec("DROP TABLE raceway_bench_raw");
      tx.commit();
    }
    state.SetItemsProcessed(items);
    state.counters["row_bytes"] = static_cast<double>(row_bytes);
    Record(label, static_cast<double>(items), busy);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Raw MySQL bulk rate: multi-row prepared INSERT (500 rows) of equally sized
// rows, one transaction per batch.
void BM_RawMysqlInsert(benchmark::State& state, std::string url) {
  const int n = BatchSize();
  const size_t row_bytes = AverageRowBytes();
  constexpr int kRows = 500;
  auto parsed = raceway::storage::mysql::ParseMysqlUrl(url);
  if (!parsed.ok()) return state.SkipWithError(parsed.status().ToString().c_str());
  raceway::storage::mysql::MyConnOptions o;
  o.url = *parsed;
  auto conn = raceway::storage::mysql::MyConnection::Open(o);
  if (!conn.ok()) return state.SkipWithError(conn.status().ToString().c_str());
  raceway::storage::mysql::MyConnection& c = **conn;
  try {
    c.Execute("DROP TABLE IF EXISTS raceway_bench_raw");
    c.Execute(
        "CREATE TABLE raceway_bench_raw (id BINARY(16) PRIMARY KEY, trace_id BINARY(16) NOT NULL,"
        " ts BIGINT NOT NULL, data MEDIUMBLOB NOT NULL) ENGINE=InnoDB");
    const std::string data(row_bytes - 16 * 2 - 8, 'x');
    std::mt19937_64 rng(1);
    double busy = 0;
    int64_t items = 0, ts = 0;
    auto sql_for = [](int rows) {
      std::string s = "INSERT INTO raceway_bench_raw (id, trace_id, ts, data) VALUES ";
      for (int r = 0; r < rows; ++r) s += r ? ",(?,?,?,?)" : "(?,?,?,?)";
      return s;
    };
    sql::PreparedStatement& full = c.Cached(sql_for(kRows));
    for (auto _ : state) {
      state.PauseTiming();
      auto ids = RandomIds(rng, n);
      state.ResumeTiming();
      const auto t0 = std::chrono::steady_clock::now();
      c.Begin();
      for (int i = 0; i < n; i += kRows) {
        const int rows = std::min(kRows, n - i);
        std::unique_ptr<sql::PreparedStatement> tail;
        sql::PreparedStatement* stmt = &full;
        if (rows != kRows) {
          tail = c.Prepare(sql_for(rows));
          stmt = tail.get();
        }
        unsigned p = 1;
        for (int r = 0; r < rows; ++r) {
          stmt->setString(p++,
                          sql::SQLString(reinterpret_cast<const char*>(ids[i + r].data()), 16));
          stmt->setString(
              p++, sql::SQLString(reinterpret_cast<const char*>(ids[(i + r) % 10].data()), 16));
          stmt->setInt64(p++, ++ts);
          stmt->setString(p++, data);
        }
        stmt->executeUpdate();
      }
      c.Commit();
      busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      items += n;
    }
    c.Execute("DROP TABLE raceway_bench_raw");
    state.SetItemsProcessed(items);
    state.counters["row_bytes"] = static_cast<double>(row_bytes);
    Record("mysql raw", static_cast<double>(items), busy);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

bool EnsurePostgresDb(const std::string& url) {
  try {
    pqxx::connection c(WithDatabase(url, "postgres"));
    pqxx::nontransaction tx(c);
    if (tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", DatabaseOf(url)).empty()) {
      tx.exec("CREATE DATABASE \"" + DatabaseOf(url) + "\"");
    }
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postgres bench database: %s\n", e.what());
    return false;
  }
}

bool EnsureMysqlDb(const std::string& url) {
  auto parsed = raceway::storage::mysql::ParseMysqlUrl(WithDatabase(url, "mysql"));
  if (!parsed.ok()) return false;
  raceway::storage::mysql::MyConnOptions o;
  o.url = *parsed;
  auto c = raceway::storage::mysql::MyConnection::Open(o);
  if (!c.ok()) return false;
  try {
    (*c)->Execute("CREATE DATABASE IF NOT EXISTS `" + DatabaseOf(url) +
                  "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mysql bench database: %s\n", e.what());
    return false;
  }
}

void Register(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)->Unit(benchmark::kMillisecond)->MinTime(3.0);
}

}  // namespace

int main(int argc, char** argv) {
  Register("BM_WriteBatch/memory", BM_WriteBatch_Memory);
  const std::string pg = Env("RACEWAY_TEST_POSTGRES_URL");
  const std::string sb = Env("RACEWAY_TEST_SUPABASE_URL");
  const std::string my = Env("RACEWAY_TEST_MYSQL_URL");
  if (!pg.empty()) {
    const std::string url = WithDatabase(pg, DatabaseOf(pg) + "_bench");
    if (EnsurePostgresDb(url)) {
      Register("BM_WriteBatch/postgres",
               [url](benchmark::State& s) { BM_WriteBatch_Sql(s, "postgres", url); });
      Register("BM_RawCopy/postgres",
               [url](benchmark::State& s) { BM_RawPostgresCopy(s, "postgres raw", url); });
    }
  }
  if (!sb.empty()) {
    Register("BM_WriteBatch/supabase",
             [sb](benchmark::State& s) { BM_WriteBatch_Sql(s, "supabase", sb); });
    Register("BM_RawCopy/supabase",
             [sb](benchmark::State& s) { BM_RawPostgresCopy(s, "supabase raw", sb); });
  }
  if (!my.empty()) {
    const std::string url = WithDatabase(my, DatabaseOf(my) + "_bench");
    if (EnsureMysqlDb(url)) {
      Register("BM_WriteBatch/mysql",
               [url](benchmark::State& s) { BM_WriteBatch_Sql(s, "mysql", url); });
      Register("BM_RawInsert/mysql", [url](benchmark::State& s) { BM_RawMysqlInsert(s, url); });
    }
  }
  if (pg.empty() && sb.empty() && my.empty()) {
    std::fprintf(stderr,
                 "no RACEWAY_TEST_{POSTGRES,SUPABASE,MYSQL}_URL set: only memory runs "
                 "(source the env.sh of tests/support/testdb.sh)\n");
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::printf(
      "\nWrite throughput (events/s or rows/s, time inside the write; batch %d,"
      " raw rows of %zu bytes):\n",
      BatchSize(), AverageRowBytes());
  for (const auto& [label, rate] : g_rates) std::printf("  %-14s %12.0f\n", label.c_str(), rate);
  auto rate = [](const std::string& k) {
    auto it = g_rates.find(k);
    return it == g_rates.end() ? 0.0 : it->second;
  };
  const double mem = rate("memory");
  std::printf("\n  %-10s %14s %14s\n", "backend", "memory/backend", "backend/raw");
  for (const char* b : {"postgres", "supabase", "mysql"}) {
    const double r = rate(b), raw = rate(absl::StrCat(b, " raw"));
    if (r <= 0) continue;
    std::printf("  %-10s %13.1fx %13.0f%%   (plan: < 10x %s; target >= 50%% %s)\n", b,
                mem > 0 ? mem / r : 0.0, raw > 0 ? 100 * r / raw : 0.0,
                mem > 0 && mem / r < 10 ? "OK" : "MISSED",
                raw > 0 && r / raw >= 0.5 ? "OK" : "MISSED");
  }
  return 0;
}
