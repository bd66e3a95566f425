#ifndef RACEWAY_TESTS_SUPPORT_EVENTS_H_
#define RACEWAY_TESTS_SUPPORT_EVENTS_H_

// Small builders for valid events, shared by all tests.

#include <cstdint>
#include <string>

#include "libs/model/uuid.h"
#include "raceway/v1/event.pb.h"

namespace raceway::testing {

// A valid FunctionCall event; timestamp = base + offset_ms.
inline raceway::v1::Event MakeEvent(const std::string& trace_id, const std::string& thread,
                                    int64_t offset_ms, const std::string& service = "svc") {
  raceway::v1::Event e;
  e.set_id(raceway::model::NewUuidV4());
  e.set_trace_id(trace_id);
  constexpr int64_t kBaseSeconds = 1767225600;  // 2026-01-01T00:00:00Z
  const int64_t ns = offset_ms * 1000000;
  e.mutable_timestamp()->set_seconds(kBaseSeconds + ns / 1000000000);
  e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  e.mutable_metadata()->set_thread_id(thread);
  e.mutable_metadata()->set_service_name(service);
  e.mutable_function_call()->set_function_name("f");
  return e;
}

inline raceway::v1::Event MakeStateChange(const std::string& trace_id, const std::string& thread,
                                          int64_t offset_ms, const std::string& variable,
                                          raceway::v1::AccessType access,
                                          const std::string& location = "") {
  raceway::v1::Event e = MakeEvent(trace_id, thread, offset_ms);
  auto* sc = e.mutable_state_change();
  sc->set_variable(variable);
  sc->set_access_type(access);
  sc->set_location(location);
  sc->mutable_new_value()->set_number_value(1);
  return e;
}

}  // namespace raceway::testing

#endif  // RACEWAY_TESTS_SUPPORT_EVENTS_H_
