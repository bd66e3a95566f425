#ifndef RACEWAY_BENCH_SUPPORT_WORKLOAD_H_
#define RACEWAY_BENCH_SUPPORT_WORKLOAD_H_

// The realistic event workload shared by the storage benchmarks, so every
// backend is measured on the same events. Not thread-safe (one per thread).

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/model/uuid.h"
#include "raceway/v1/event.pb.h"

namespace raceway::bench {

using raceway::v1::Event;

inline constexpr int64_t kWorkloadBaseNs = 1767225600LL * 1000000000LL;

// A realistic batch: ~10 traces, parent chains across services, spans,
// mixed kinds with JSON values, locks, state changes, durations.
class Workload {
 public:
  std::vector<Event> NextBatch(int n) {
    std::vector<Event> out;
    out.reserve(n);
    const int traces = std::max(1, n / 100);
    std::vector<std::string> trace_ids;
    for (int t = 0; t < traces; ++t) trace_ids.push_back(raceway::model::NewUuidV4());
    static const char* kServices[] = {"api-gateway", "orders", "payments", "inventory"};
    static const char* kVars[] = {"order.status", "account.balance", "cache.hits", "inventory.qty",
                                  "session.user"};
    for (int i = 0; i < n; ++i) {
      const int t = i % traces;
      const std::string service = kServices[rng_() % 4];
      Event e;
      e.set_id(raceway::model::NewUuidV4());
      e.set_trace_id(trace_ids[t]);
      // Parent: the previous event of the same trace (most events have one).
      if (i >= traces && rng_() % 8) e.set_parent_id(out[i - traces].id());
      const int64_t ns = kWorkloadBaseNs + clock_ns_ + i * 1000;
      e.mutable_timestamp()->set_seconds(ns / 1000000000);
      e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
      auto* m = e.mutable_metadata();
      m->set_thread_id(absl::StrCat("worker-", rng_() % 8));
      m->set_process_id(4000 + static_cast<int>(rng_() % 4));
      m->set_service_name(service);
      m->set_environment("production");
      (*m->mutable_tags())["region"] = "eu-west-1";
      m->set_instance_id(absl::StrCat(service, "-7d9f-", rng_() % 3));
      if (rng_() % 2) m->set_duration_ns(1000 + rng_() % 5000000);
      if (rng_() % 4 == 0) {
        m->set_distributed_span_id(absl::StrCat("span-", t, "-", service));
        if (rng_() % 2) m->set_upstream_span_id(absl::StrCat("span-", t, "-api-gateway"));
      }
      auto* cv = e.add_causality_vector();
      cv->set_component(m->thread_id());
      cv->set_clock(static_cast<uint64_t>(i));
      switch (rng_() % 10) {
        case 0:
        case 1:
        case 2:
        case 3: {
          auto* sc = e.mutable_state_change();
          sc->set_variable(kVars[rng_() % 5]);
          auto* nv = sc->mutable_new_value()->mutable_struct_value();
          (*nv->mutable_fields())["amount"].set_number_value(static_cast<double>(rng_() % 100000) /
                                                             100);
          (*nv->mutable_fields())["currency"].set_string_value("EUR");
          sc->mutable_old_value()->set_number_value(static_cast<double>(rng_() % 1000));
          sc->set_location(absl::StrCat("src/orders/service.rs:", rng_() % 500));
          sc->set_access_type(rng_() % 3 ? raceway::v1::ACCESS_TYPE_WRITE
                                         : raceway::v1::ACCESS_TYPE_READ);
          if (rng_() % 2) e.add_lock_set("orders_mutex");
          break;
        }
        case 4:
        case 5: {
          auto* f = e.mutable_function_call();
          f->set_function_name(absl::StrCat("handle_", rng_() % 20));
          f->set_module("orders::service");
          auto* args = f->mutable_args()->mutable_list_value();
          args->add_values()->set_string_value("order-12345");
          args->add_values()->set_number_value(3);
          f->set_file("src/orders/service.rs");
          f->set_line(static_cast<uint32_t>(rng_() % 500));
          break;
        }
        case 6:
          if (rng_() % 2) {
            e.mutable_lock_acquire()->set_lock_id("orders_mutex");
            e.mutable_lock_acquire()->set_lock_type("Mutex");
            e.mutable_lock_acquire()->set_location("src/orders/service.rs:88");
          } else {
            e.mutable_lock_release()->set_lock_id("orders_mutex");
            e.mutable_lock_release()->set_lock_type("Mutex");
            e.mutable_lock_release()->set_location("src/orders/service.rs:97");
          }
          break;
        case 7: {
          auto* h = e.mutable_http_request();
          h->set_method(rng_() % 2 ? "GET" : "POST");
          h->set_url("https://payments.internal/v1/charge");
          (*h->mutable_headers())["content-type"] = "application/json";
          (*h->mutable_headers())["traceparent"] = "00-4bf92f3577b34da6-00f067aa0ba902b7-01";
          (*h->mutable_body()->mutable_struct_value()->mutable_fields())["order"].set_string_value(
              "order-12345");
          break;
        }
        case 8: {
          auto* h = e.mutable_http_response();
          h->set_status(rng_() % 10 ? 200 : 503);
          (*h->mutable_headers())["content-type"] = "application/json";
          h->set_duration_ms(rng_() % 200);
          break;
        }
        default:
          e.mutable_database_query()->set_query("SELECT qty FROM inventory WHERE sku = $1");
          e.mutable_database_query()->set_database("inventory");
          e.mutable_database_query()->set_duration_ms(rng_() % 20);
      }
      out.push_back(std::move(e));
    }
    clock_ns_ += static_cast<int64_t>(n) * 1000;
    return out;
  }

 private:
  std::mt19937_64 rng_{42};
  int64_t clock_ns_ = 0;
};

}  // namespace raceway::bench

#endif  // RACEWAY_BENCH_SUPPORT_WORKLOAD_H_
