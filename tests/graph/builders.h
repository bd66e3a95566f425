#ifndef RACEWAY_TESTS_GRAPH_BUILDERS_H_
#define RACEWAY_TESTS_GRAPH_BUILDERS_H_

// Builders for hand-written traces in graph tests.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "libs/graph/causal_graph.h"
#include "libs/model/uuid.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph::testing {

using raceway::v1::AccessType;
using raceway::v1::Event;

class TraceBuilder {
 public:
  explicit TraceBuilder(std::string trace_id = model::NewUuidV4()) : trace_(std::move(trace_id)) {}

  const std::string& trace_id() const { return trace_; }

  // A FunctionCall at base + offset_us on `thread`.
  Event& At(const std::string& thread, int64_t offset_us, const Event* parent = nullptr,
            const std::string& service = "svc") {
    Event& e = events_.emplace_back();
    e.set_id(model::NewUuidV4());
    e.set_trace_id(trace_);
    constexpr int64_t kBaseSeconds = 1767225600;
    const int64_t ns = offset_us * 1000;
    e.mutable_timestamp()->set_seconds(kBaseSeconds + ns / 1000000000);
    e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
    e.mutable_metadata()->set_thread_id(thread);
    e.mutable_metadata()->set_service_name(service);
    if (parent != nullptr) e.set_parent_id(parent->id());
    e.mutable_function_call()->set_function_name("f");
    return e;
  }
  Event& Call(const std::string& thread, int64_t offset_us, const std::string& name,
              const Event* parent = nullptr, std::optional<uint64_t> duration_ns = std::nullopt) {
    Event& e = At(thread, offset_us, parent);
    e.mutable_function_call()->set_function_name(name);
    if (duration_ns) e.mutable_metadata()->set_duration_ns(*duration_ns);
    return e;
  }
  Event& Access(const std::string& thread, int64_t offset_us, const std::string& variable,
                AccessType type, const Event* parent = nullptr, const std::string& location = "") {
    Event& e = At(thread, offset_us, parent);
    auto* sc = e.mutable_state_change();
    sc->set_variable(variable);
    sc->set_access_type(type);
    sc->set_location(location);
    sc->mutable_new_value()->set_number_value(1);
    return e;
  }
  Event& Write(const std::string& thread, int64_t offset_us, const std::string& variable,
               const Event* parent = nullptr, const std::string& location = "") {
    return Access(thread, offset_us, variable, raceway::v1::ACCESS_TYPE_WRITE, parent, location);
  }
  Event& Read(const std::string& thread, int64_t offset_us, const std::string& variable,
              const Event* parent = nullptr, const std::string& location = "") {
    return Access(thread, offset_us, variable, raceway::v1::ACCESS_TYPE_READ, parent, location);
  }
  Event& Acquire(const std::string& thread, int64_t offset_us, const std::string& lock,
                 const std::string& type = "Mutex", const Event* parent = nullptr) {
    Event& e = At(thread, offset_us, parent);
    e.mutable_lock_acquire()->set_lock_id(lock);
    e.mutable_lock_acquire()->set_lock_type(type);
    return e;
  }
  Event& Release(const std::string& thread, int64_t offset_us, const std::string& lock,
                 const std::string& type = "Mutex", const Event* parent = nullptr) {
    Event& e = At(thread, offset_us, parent);
    e.mutable_lock_release()->set_lock_id(lock);
    e.mutable_lock_release()->set_lock_type(type);
    return e;
  }
  Event& Spawn(const std::string& thread, int64_t offset_us, const std::string& task,
               const Event* parent = nullptr) {
    Event& e = At(thread, offset_us, parent);
    e.mutable_async_spawn()->set_task_id(task);
    e.mutable_async_spawn()->set_spawned_by(thread);
    return e;
  }
  Event& Await(const std::string& thread, int64_t offset_us, const std::string& future,
               const Event* parent = nullptr) {
    Event& e = At(thread, offset_us, parent);
    e.mutable_async_await()->set_future_id(future);
    return e;
  }

  std::vector<Event> Events() const { return {events_.begin(), events_.end()}; }

 private:
  std::string trace_;
  std::deque<Event> events_;
};

inline void SetClientClock(Event& e, std::vector<std::pair<std::string, uint64_t>> entries) {
  e.clear_causality_vector();
  for (auto& [c, v] : entries) {
    auto* entry = e.add_causality_vector();
    entry->set_component(c);
    entry->set_clock(v);
  }
}

inline uint32_t IndexOf(const CausalGraph& g, const Event& e) {
  auto i = g.trace().Find(e.id());
  return i ? *i : kNone;
}

}  // namespace raceway::graph::testing

#endif  // RACEWAY_TESTS_GRAPH_BUILDERS_H_
