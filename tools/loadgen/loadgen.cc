#include "tools/loadgen/loadgen.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "libs/model/percentile.h"
#include "libs/model/timestamp.h"
#include "libs/model/uuid.h"

namespace raceway::loadgen {
namespace {

using raceway::v1::Event;
using Clock = std::chrono::steady_clock;

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hex16(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<size_t>(i)] = kHex[v & 15];
  return out;
}

// Appends events of one trace; see TraceShape for the layout.
class TraceBuilder {
 public:
  TraceBuilder(std::vector<Event>* out, std::string trace_id)
      : out_(out), trace_id_(std::move(trace_id)) {}

  struct Where {
    const char* service;
    const char* instance;
    std::string thread;
    std::string span;      // distributed_span_id
    std::string upstream;  // upstream_span_id
    int process_id;
  };

  // Adds an event and returns its index in the output (references into the
  // vector do not survive the next Add).
  size_t Add(const Where& w, const std::string& parent, int64_t ts_ns) {
    Event& e = out_->emplace_back();
    e.set_id(model::NewUuidV4());
    e.set_trace_id(trace_id_);
    if (!parent.empty()) e.set_parent_id(parent);
    model::FromUnixNanos(ts_ns, e.mutable_timestamp());
    auto* m = e.mutable_metadata();
    m->set_thread_id(w.thread);
    m->set_process_id(w.process_id);
    m->set_service_name(w.service);
    m->set_environment("loadtest");
    (*m->mutable_tags())["generator"] = "raceway-loadgen";
    m->set_instance_id(w.instance);
    m->set_distributed_span_id(w.span);
    if (!w.upstream.empty()) m->set_upstream_span_id(w.upstream);
    const std::string component = absl::StrCat(w.service, "#", w.thread);
    auto* cv = e.add_causality_vector();
    cv->set_component(component);
    cv->set_clock(++clocks_[component]);
    return out_->size() - 1;
  }
  Event& at(size_t i) { return (*out_)[i]; }

 private:
  std::vector<Event>* out_;
  std::string trace_id_;
  std::map<std::string, uint64_t> clocks_;
};

google::protobuf::Value Number(double d) {
  google::protobuf::Value v;
  v.set_number_value(d);
  return v;
}
google::protobuf::Value Text(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}

}  // namespace

TraceGenerator::TraceGenerator(TraceShape shape, uint64_t seed)
    : shape_(shape), rng_(seed), clock_ns_(0) {}

std::vector<Event> TraceGenerator::NextTrace() {
  std::vector<Event> out;
  out.reserve(static_cast<size_t>(12 + 6 * std::max(0, shape_.threads)));
  TraceBuilder b(&out, model::NewUuidV4());
  std::uniform_int_distribution<int64_t> gap(1000, 40000);  // ns between a thread's events
  std::uniform_int_distribution<uint64_t> work_us(20, 2000);
  std::uniform_int_distribution<int> balance(100, 100000);
  std::bernoulli_distribution race(shape_.race_probability);
  std::bernoulli_distribution async(shape_.async_probability);
  std::bernoulli_distribution error(shape_.error_probability);

  clock_ns_ = std::max(clock_ns_ + 1000000, SystemNowNs());
  const int64_t t0 = clock_ns_;
  const std::string span_a = Hex16(rng_), span_b = Hex16(rng_);
  const TraceBuilder::Where main{"gateway", "gateway-0", "main", span_a, "", 4242};

  int64_t t = t0;
  const size_t root = b.Add(main, "", t);
  {
    auto* call = b.at(root).mutable_function_call();
    call->set_function_name("handle_request");
    call->set_module("gateway::http");
    (*call->mutable_args()->mutable_struct_value()->mutable_fields())["path"] = Text("/transfer");
    call->set_file("src/http.rs");
    call->set_line(42);
  }
  const std::string root_id = b.at(root).id();
  std::string main_last = root_id;

  std::string task_id;
  if (async(rng_)) {
    task_id = model::NewUuidV4();
    const size_t spawn = b.Add(main, main_last, t += gap(rng_));
    b.at(spawn).mutable_async_spawn()->set_task_id(task_id);
    b.at(spawn).mutable_async_spawn()->set_spawned_by("main");
    main_last = b.at(spawn).id();
  }

  uint64_t counter = 0;
  int64_t workers_end = t;
  for (int k = 1; k <= shape_.threads; ++k) {
    const TraceBuilder::Where w{"gateway", "gateway-0", absl::StrCat("worker-", k),
                                span_a,    "",          4242};
    int64_t tw = t0 + k * 7000;
    std::string last = root_id;
    auto next = [&](size_t i) {
      last = b.at(i).id();
      tw += gap(rng_);
    };
    const size_t call = b.Add(w, last, tw);
    {
      auto* fc = b.at(call).mutable_function_call();
      fc->set_function_name("process_item");
      fc->set_module("gateway::worker");
      (*fc->mutable_args()->mutable_struct_value()->mutable_fields())["item"] = Number(k);
      fc->set_file("src/worker.rs");
      fc->set_line(17);
      b.at(call).mutable_metadata()->set_duration_ns(work_us(rng_) * 1000);
    }
    next(call);
    const size_t acquire = b.Add(w, last, tw);
    b.at(acquire).mutable_lock_acquire()->set_lock_id("accounts");
    b.at(acquire).mutable_lock_acquire()->set_lock_type("Mutex");
    b.at(acquire).mutable_lock_acquire()->set_location("src/bank.rs:10");
    next(acquire);
    const int old_balance = balance(rng_);
    const size_t read = b.Add(w, last, tw);
    {
      auto* sc = b.at(read).mutable_state_change();
      sc->set_variable("account.balance");
      *sc->mutable_new_value() = Number(old_balance);
      sc->set_location("src/bank.rs:11");
      sc->set_access_type(raceway::v1::ACCESS_TYPE_READ);
      b.at(read).add_lock_set("accounts");
    }
    next(read);
    const size_t write = b.Add(w, last, tw);
    {
      auto* sc = b.at(write).mutable_state_change();
      sc->set_variable("account.balance");
      *sc->mutable_old_value() = Number(old_balance);
      *sc->mutable_new_value() = Number(old_balance - k);
      sc->set_location("src/bank.rs:12");
      sc->set_access_type(raceway::v1::ACCESS_TYPE_WRITE);
      b.at(write).add_lock_set("accounts");
    }
    next(write);
    const size_t release = b.Add(w, last, tw);
    b.at(release).mutable_lock_release()->set_lock_id("accounts");
    b.at(release).mutable_lock_release()->set_lock_type("Mutex");
    b.at(release).mutable_lock_release()->set_location("src/bank.rs:13");
    next(release);
    if (race(rng_)) {
      // Unprotected read-modify-write: races with the other workers'.
      const size_t racy = b.Add(w, last, tw);
      auto* sc = b.at(racy).mutable_state_change();
      sc->set_variable("stats.counter");
      *sc->mutable_old_value() = Number(static_cast<double>(counter));
      *sc->mutable_new_value() = Number(static_cast<double>(++counter));
      sc->set_location("src/stats.rs:7");
      sc->set_access_type(raceway::v1::ACCESS_TYPE_WRITE);
      next(racy);
    }
    workers_end = std::max(workers_end, tw);
  }

  // Cross-service call: gateway -> ledger.
  t = std::max(t, workers_end) + gap(rng_);
  const size_t request = b.Add(main, main_last, t);
  {
    auto* r = b.at(request).mutable_http_request();
    r->set_method("POST");
    r->set_url("http://ledger:8080/entries");
    (*r->mutable_headers())["traceparent"] =
        absl::StrCat("00-", std::string(32, '0'), "-", span_a, "-01");
    (*r->mutable_body()->mutable_struct_value()->mutable_fields())["amount"] = Number(42);
  }
  const std::string request_id = b.at(request).id();
  const int64_t t_request = t;
  main_last = request_id;

  const TraceBuilder::Where ledger{"ledger", "ledger-0", "w1", span_b, span_a, 77};
  int64_t tl = t + 150000;
  const uint64_t query_ms = 1 + rng_() % 5;
  const size_t append = b.Add(ledger, request_id, tl);
  {
    auto* fc = b.at(append).mutable_function_call();
    fc->set_function_name("append_entry");
    fc->set_module("ledger::api");
    fc->set_file("src/entries.rs");
    fc->set_line(88);
    b.at(append).mutable_metadata()->set_duration_ns((query_ms + 1) * 1000000);
  }
  const size_t query = b.Add(ledger, b.at(append).id(), tl += gap(rng_));
  b.at(query).mutable_database_query()->set_query(
      "INSERT INTO entries (account, amount) VALUES ($1, $2)");
  b.at(query).mutable_database_query()->set_database("ledger");
  b.at(query).mutable_database_query()->set_duration_ms(query_ms);
  b.at(query).mutable_metadata()->set_duration_ns(query_ms * 1000000);
  const size_t result =
      b.Add(ledger, b.at(query).id(), tl += static_cast<int64_t>(query_ms) * 1000000);
  b.at(result).mutable_database_result()->set_rows_affected(1);

  t = tl + 200000;
  const uint64_t http_ms = static_cast<uint64_t>(t - t_request) / 1000000 + 1;
  const size_t response = b.Add(main, request_id, t);
  b.at(response).mutable_http_response()->set_status(200);
  b.at(response).mutable_http_response()->set_duration_ms(http_ms);
  b.at(response).mutable_metadata()->set_duration_ns(http_ms * 1000000);
  main_last = b.at(response).id();

  if (!task_id.empty()) {
    const size_t await = b.Add(main, main_last, t += gap(rng_));
    b.at(await).mutable_async_await()->set_future_id(task_id);
    b.at(await).mutable_async_await()->set_awaited_at("src/http.rs:60");
    main_last = b.at(await).id();
  }
  if (error(rng_)) {
    const size_t err = b.Add(main, main_last, t += gap(rng_));
    auto* e = b.at(err).mutable_error();
    e->set_error_type("Timeout");
    e->set_message("ledger answered slowly");
    e->add_stack_trace("gateway::http::handle_request at src/http.rs:55");
  }
  b.at(root).mutable_metadata()->set_duration_ns(static_cast<uint64_t>(t - t0) + 1000);
  clock_ns_ = std::max(clock_ns_, t);
  return out;
}

std::string LoadReport::ToText() const {
  std::string out;
  absl::StrAppend(&out, "recorded ", recorded, " events in ", traces, " traces; ", batches,
                  " batches acked\n");
  char line[256];
  std::snprintf(line, sizeof(line),
                "committed %llu events (accepted %llu, duplicate %llu) in %.2f s = %.0f events/s\n",
                static_cast<unsigned long long>(acked), static_cast<unsigned long long>(accepted),
                static_cast<unsigned long long>(duplicate), seconds, committed_per_second);
  out += line;
  absl::StrAppend(&out, "rejected ", rejected, ", failed ", failed, ", refused at source ",
                  refused_local, ", retries ", retries, " (server refusals ", server_refusals,
                  ")\n");
  std::snprintf(line, sizeof(line),
                "ack latency (send -> ack): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                ack_p50_ms, ack_p90_ms, ack_p99_ms, ack_max_ms);
  out += line;
  if (!flush_status.ok()) absl::StrAppend(&out, "flush: ", flush_status.ToString(), "\n");
  if (!last_error.empty()) absl::StrAppend(&out, "last error: ", last_error, "\n");
  if (verified) {
    absl::StrAppend(&out, "verify: ", verified_events, " acked events checked, ", missing,
                    " missing\n");
    for (const auto& id : missing_examples) absl::StrAppend(&out, "  missing: ", id, "\n");
  }
  return out;
}

std::string LoadReport::ToJson() const {
  char buf[1024];
  std::snprintf(
      buf, sizeof(buf),
      "{\"recorded\":%llu,\"traces\":%llu,\"acked\":%llu,\"accepted\":%llu,\"duplicate\":%llu,"
      "\"rejected\":%llu,\"failed\":%llu,\"refused_local\":%llu,\"retries\":%llu,"
      "\"server_refusals\":%llu,\"batches\":%llu,\"seconds\":%.3f,"
      "\"committed_per_second\":%.1f,\"ack_p50_ms\":%.3f,\"ack_p90_ms\":%.3f,"
      "\"ack_p99_ms\":%.3f,\"ack_max_ms\":%.3f,\"verified\":%s,\"missing\":%llu}",
      static_cast<unsigned long long>(recorded), static_cast<unsigned long long>(traces),
      static_cast<unsigned long long>(acked), static_cast<unsigned long long>(accepted),
      static_cast<unsigned long long>(duplicate), static_cast<unsigned long long>(rejected),
      static_cast<unsigned long long>(failed), static_cast<unsigned long long>(refused_local),
      static_cast<unsigned long long>(retries), static_cast<unsigned long long>(server_refusals),
      static_cast<unsigned long long>(batches), seconds, committed_per_second, ack_p50_ms,
      ack_p90_ms, ack_p99_ms, ack_max_ms, verified ? "true" : "false",
      static_cast<unsigned long long>(missing));
  return buf;
}

absl::StatusOr<LoadReport> RunLoad(const LoadOptions& options, storage::EventReader* reader) {
  if (options.duration.count() <= 0 && options.events == 0) {
    return absl::InvalidArgumentError("set a duration or an event count");
  }
  if (options.verify && reader == nullptr) {
    return absl::InvalidArgumentError("verification needs a storage reader");
  }
  if (options.producers < 1) return absl::InvalidArgumentError("producers must be >= 1");

  struct TraceAcks {
    std::vector<model::UuidBytes> acked;
    bool inexact = false;  // Some event failed: it may or may not be stored.
  };
  struct Shared {
    std::mutex mu;
    std::vector<double> latencies_ms;
    std::unordered_map<std::string, TraceAcks> traces;
  };
  auto shared = std::make_shared<Shared>();
  const bool verify = options.verify;

  client::ClientOptions client_options = options.client;
  auto user_callback = client_options.on_batch_done;
  client_options.on_batch_done = [shared, verify, user_callback](const client::BatchOutcome& o) {
    const double ms = std::chrono::duration<double, std::milli>(o.completed - o.last_sent).count();
    {
      std::lock_guard<std::mutex> lk(shared->mu);
      if (o.status.ok()) shared->latencies_ms.push_back(ms);
      if (verify) {
        std::vector<bool> rejected(static_cast<size_t>(o.events->size()), false);
        for (const auto& r : o.result.rejected_events()) {
          if (r.index() < rejected.size()) rejected[r.index()] = true;
        }
        for (int i = 0; i < o.events->size(); ++i) {
          const Event& e = o.events->Get(i);
          TraceAcks& t = shared->traces[e.trace_id()];
          if (!o.status.ok()) {
            t.inexact = true;
          } else if (!rejected[static_cast<size_t>(i)]) {
            if (auto id = model::ParseUuid(e.id())) t.acked.push_back(*id);
          }
        }
      }
    }
    if (user_callback) user_callback(o);
  };
  auto created = client::RacewayClient::Create(client_options);
  if (!created.ok()) return created.status();
  std::unique_ptr<client::RacewayClient> client = std::move(*created);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> budget{0};  // Events handed out (event-count mode).
  std::atomic<uint64_t> traces{0};
  std::atomic<int> producers_done{0};
  const auto start = Clock::now();
  std::vector<std::thread> producers;
  for (int p = 0; p < options.producers; ++p) {
    producers.emplace_back([&, p] {
      TraceGenerator generator(options.shape, options.seed + static_cast<uint64_t>(p) * 7919);
      const double per_producer_rate = options.rate / options.producers;
      const auto interval = per_producer_rate > 0
                                ? std::chrono::duration<double>(1.0 / per_producer_rate)
                                : std::chrono::duration<double>(0);
      auto next_at = Clock::now();
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<Event> trace = generator.NextTrace();
        traces.fetch_add(1, std::memory_order_relaxed);
        for (auto& event : trace) {
          if (stop.load(std::memory_order_relaxed)) break;
          if (options.events > 0 && budget.fetch_add(1) >= options.events) {
            stop = true;
            break;
          }
          if (per_producer_rate > 0) {
            next_at += std::chrono::duration_cast<Clock::duration>(interval);
            const auto now = Clock::now();
            if (next_at > now + std::chrono::milliseconds(1))
              std::this_thread::sleep_until(next_at);
            if (now - next_at > std::chrono::seconds(1))
              next_at = now;  // Do not burst after a stall.
          }
          absl::Status s = client->RecordWait(std::move(event), std::chrono::seconds(30));
          if (absl::IsFailedPrecondition(s)) {
            stop = true;
            break;
          }
        }
      }
      ++producers_done;
    });
  }

  const auto deadline =
      options.duration.count() > 0 ? start + options.duration : Clock::time_point::max();
  auto last_report = start;
  uint64_t last_acked = 0;
  while (producers_done.load() < options.producers) {
    const auto now = Clock::now();
    if (now >= deadline) stop = true;
    if (options.progress && now - last_report >= std::chrono::seconds(1)) {
      const client::ClientStats s = client->Stats();
      const uint64_t acked = s.acked_accepted + s.acked_duplicate;
      const double dt = std::chrono::duration<double>(now - last_report).count();
      char line[256];
      std::snprintf(line, sizeof(line),
                    "%6.1fs recorded %llu acked %llu (%.0f events/s) buffered %llu retries %llu "
                    "refusals %llu",
                    std::chrono::duration<double>(now - start).count(),
                    static_cast<unsigned long long>(s.recorded),
                    static_cast<unsigned long long>(acked),
                    static_cast<double>(acked - last_acked) / dt,
                    static_cast<unsigned long long>(s.buffered_events),
                    static_cast<unsigned long long>(s.retries),
                    static_cast<unsigned long long>(s.server_refusals));
      options.progress(line);
      last_report = now;
      last_acked = acked;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& t : producers) t.join();

  LoadReport report;
  report.flush_status = client->Flush(options.flush_timeout);
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  (void)client->Close(std::chrono::seconds(5));
  const client::ClientStats s = client->Stats();
  report.recorded = s.recorded;
  report.accepted = s.acked_accepted;
  report.duplicate = s.acked_duplicate;
  report.acked = s.acked_accepted + s.acked_duplicate;
  report.rejected = s.acked_rejected;
  report.failed = s.failed;
  report.refused_local = s.refused_local;
  report.retries = s.retries;
  report.server_refusals = s.server_refusals;
  report.batches = s.batches_acked;
  report.traces = traces.load();
  report.last_error = s.last_error;
  report.committed_per_second =
      report.seconds > 0 ? static_cast<double>(report.acked) / report.seconds : 0;
  {
    std::lock_guard<std::mutex> lk(shared->mu);
    std::sort(shared->latencies_ms.begin(), shared->latencies_ms.end());
    report.ack_p50_ms = model::Percentile(shared->latencies_ms, 50);
    report.ack_p90_ms = model::Percentile(shared->latencies_ms, 90);
    report.ack_p99_ms = model::Percentile(shared->latencies_ms, 99);
    report.ack_max_ms = shared->latencies_ms.empty() ? 0 : shared->latencies_ms.back();
  }
  client.reset();

  if (verify) {
    report.verified = true;
    std::lock_guard<std::mutex> lk(shared->mu);
    for (const auto& [trace_id, acks] : shared->traces) {
      if (acks.acked.empty()) continue;
      auto summary = reader->GetTraceSummary(trace_id);
      if (!summary.ok() && !absl::IsNotFound(summary.status())) return summary.status();
      if (summary.ok() && !acks.inexact && summary->event_count == acks.acked.size()) {
        report.verified_events += acks.acked.size();
        continue;
      }
      // Not provably complete by count: look every acked event up.
      for (const auto& bytes : acks.acked) {
        const std::string id = model::FormatUuid(bytes);
        auto got = reader->GetEvent(id);
        ++report.verified_events;
        if (got.ok()) continue;
        if (!absl::IsNotFound(got.status())) return got.status();
        ++report.missing;
        if (report.missing_examples.size() < 10) report.missing_examples.push_back(id);
      }
    }
  }
  return report;
}

}  // namespace raceway::loadgen
