#include "services/query/query_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/graph/global_races.h"
#include "libs/model/operation_key.h"
#include "libs/model/timestamp.h"
#include "libs/model/uuid.h"
#include "libs/model/validation.h"
#include "libs/service/grpc_util.h"
#include "libs/storage/common/page_token.h"

namespace raceway::query {
namespace {

namespace v1 = raceway::v1;

constexpr uint32_t kDefaultTracePage = 1000;
constexpr uint32_t kMaxTracePage = 10000;
constexpr size_t kMaxAnalyzeRaces = 10000;

void SetTimestamp(int64_t ns, google::protobuf::Timestamp* ts) { model::FromUnixNanos(ns, ts); }

// A bound beyond the supported instants (timestamp.h) saturates: no event
// lies outside them, so such a range means "everything" on that side.
storage::TimeRange ToRange(const v1::TimeRange& r) {
  storage::TimeRange out;
  if (r.has_start()) out.start_ns = model::ToUnixNanosClamped(r.start());
  // The end is exclusive: one beyond the last instant is no bound at all
  // (saturating it would drop an event at the last instant).
  if (r.has_end() && (model::ToUnixNanos(r.end()) || r.end().seconds() < 0)) {
    out.end_ns = model::ToUnixNanosClamped(r.end());
  }
  return out;
}

absl::Status CheckRange(const std::string& field, const v1::TimeRange& r) {
  for (auto [name, ts] : {std::pair{"start", &r.start()}, std::pair{"end", &r.end()}}) {
    if (ts->nanos() < 0 || ts->nanos() > 999999999) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".", name, ": nanos ", ts->nanos(),
                                                     " is out of range (0-999999999)"));
    }
  }
  // Compared as (seconds, nanos): exact for every representable pair.
  if (r.has_start() && r.has_end() &&
      std::pair(r.end().seconds(), r.end().nanos()) <
          std::pair(r.start().seconds(), r.start().nanos())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": end is before start"));
  }
  return absl::OkStatus();
}

// Ids are accepted in either hex case, as ingest accepts them, and
// normalised to the canonical lower case stored everywhere.
absl::StatusOr<std::string> CheckId(const std::string& field, const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is required (a UUID)"));
  if (model::IsCanonicalUuid(id)) return id;
  auto bytes = model::ParseUuid(id);
  if (!bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", model::EchoSafe(id, 64), "\" is not a UUID"));
  }
  return model::FormatUuid(*bytes);
}

void ToProto(const storage::TraceSummary& s, v1::TraceSummary* out) {
  out->set_trace_id(s.trace_id);
  out->set_event_count(s.event_count);
  SetTimestamp(s.first_ns, out->mutable_first_timestamp());
  SetTimestamp(s.last_ns, out->mutable_last_timestamp());
  for (const auto& svc : s.services) out->add_services(svc);
}

// In-memory pagination tokens ("o:<offset>" base64): for lists computed from
// one cached analysis. If the trace grows between pages, the analysis is
// recomputed and the offset applied to the new, deterministic order.
std::string OffsetToken(size_t offset) {
  return absl::WebSafeBase64Escape(absl::StrCat("o:", offset));
}

absl::StatusOr<size_t> ParseOffsetToken(const std::string& token) {
  if (token.empty()) return 0;
  std::string raw;
  size_t offset;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.rfind("o:", 0) != 0 ||
      !absl::SimpleAtoi(raw.substr(2), &offset)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  return offset;
}

v1::RaceSeverity ToProto(graph::RaceSeverity s) {
  return s == graph::RaceSeverity::kCritical ? v1::RACE_SEVERITY_CRITICAL
                                             : v1::RACE_SEVERITY_WARNING;
}

v1::AnomalySeverity ToProto(graph::AnomalySeverity s) {
  switch (s) {
    case graph::AnomalySeverity::kCritical:
      return v1::ANOMALY_SEVERITY_CRITICAL;
    case graph::AnomalySeverity::kWarning:
      return v1::ANOMALY_SEVERITY_WARNING;
    case graph::AnomalySeverity::kMinor:
      return v1::ANOMALY_SEVERITY_MINOR;
  }
  return v1::ANOMALY_SEVERITY_UNSPECIFIED;
}

v1::EdgeLinkType LinkTypeFromName(std::string_view name) {
  if (name == "HttpCall") return v1::EDGE_LINK_TYPE_HTTP_CALL;
  if (name == "GrpcCall") return v1::EDGE_LINK_TYPE_GRPC_CALL;
  if (name == "MessageQueue") return v1::EDGE_LINK_TYPE_MESSAGE_QUEUE;
  if (name == "DatabaseQuery") return v1::EDGE_LINK_TYPE_DATABASE_QUERY;
  if (name == "Custom") return v1::EDGE_LINK_TYPE_CUSTOM;
  return v1::EDGE_LINK_TYPE_UNSPECIFIED;  // "Parent": a parent edge.
}

v1::HappensBeforeRelation ToProto(graph::Relation r) {
  switch (r) {
    case graph::Relation::kSame:
      return v1::HAPPENS_BEFORE_RELATION_SAME;
    case graph::Relation::kBefore:
      return v1::HAPPENS_BEFORE_RELATION_BEFORE;
    case graph::Relation::kAfter:
      return v1::HAPPENS_BEFORE_RELATION_AFTER;
    case graph::Relation::kConcurrent:
      return v1::HAPPENS_BEFORE_RELATION_CONCURRENT;
    case graph::Relation::kNotComparable:
      return v1::HAPPENS_BEFORE_RELATION_NOT_COMPARABLE;
  }
  return v1::HAPPENS_BEFORE_RELATION_UNSPECIFIED;
}

void FillAccess(const graph::TraceAnalysis& a, uint32_t i, v1::RaceAccess* out) {
  const v1::Event& e = a.graph.trace().event(i);
  out->set_event_id(e.id());
  out->set_trace_id(e.trace_id());
  out->set_thread_id(e.metadata().thread_id());
  out->set_service_name(e.metadata().service_name());
  out->set_access_type(e.state_change().access_type());
  out->set_location(e.state_change().location());
  *out->mutable_timestamp() = e.timestamp();
  if (e.state_change().has_old_value()) *out->mutable_old_value() = e.state_change().old_value();
  if (e.state_change().has_new_value()) *out->mutable_new_value() = e.state_change().new_value();
  for (auto name : a.locks.LockNames(i)) out->add_lock_set(std::string(name));
}

void FillPair(const graph::TraceAnalysis& a, const graph::RacePair& p, v1::RacePair* out) {
  const auto& trace = a.graph.trace();
  const std::string variable(trace.variable_name(p.variable));
  out->set_variable(variable);
  out->set_severity(ToProto(p.severity));
  FillAccess(a, p.first, out->mutable_first());
  FillAccess(a, p.second, out->mutable_second());
  out->set_description(absl::StrCat(
      p.severity == graph::RaceSeverity::kCritical ? "write/write" : "read/write", " race on ",
      variable, " between thread ", std::string(trace.event(p.first).metadata().thread_id()), " (",
      trace.event(p.first).state_change().location(), ") and thread ",
      std::string(trace.event(p.second).metadata().thread_id()), " (",
      trace.event(p.second).state_change().location(),
      "): not ordered by happens-before and "
      "not protected by a common lock"));
}

void FillGroup(const graph::RaceGroup& g, v1::RaceGroup* out) {
  out->set_variable(std::string(g.variable_name));
  out->set_location_a(std::string(g.location_a));
  out->set_location_b(std::string(g.location_b));
  out->set_severity(ToProto(g.severity));
  out->set_count(g.count);
  for (auto t : g.thread_ids) out->add_thread_ids(std::string(t));
}

void FillCriticalPath(const std::string& trace_id, const graph::CriticalPath& cp,
                      v1::CriticalPath* out) {
  out->set_trace_id(trace_id);
  for (const auto& s : cp.steps) {
    auto* step = out->add_steps();
    step->set_event_id(std::string(s.event_id));
    step->set_kind(s.kind);
    step->set_location(s.location);
    SetTimestamp(s.timestamp_ns, step->mutable_timestamp());
    step->set_duration_ns(s.duration_ns);
    step->set_thread_id(std::string(s.thread_id));
    step->set_service_name(std::string(s.service_name));
  }
  out->set_total_duration_ns(cp.total_duration_ns);
  out->set_trace_total_duration_ns(cp.trace_total_duration_ns);
  out->set_percentage(cp.percentage);
}

v1::DiagnosticKind ToProto(graph::DiagnosticKind k) {
  switch (k) {
    case graph::DiagnosticKind::kIgnoredClientClock:
      return v1::DIAGNOSTIC_KIND_IGNORED_CLIENT_CLOCK;
    case graph::DiagnosticKind::kReorderedEvents:
      return v1::DIAGNOSTIC_KIND_REORDERED_EVENTS;
    case graph::DiagnosticKind::kDroppedCyclicEdges:
      return v1::DIAGNOSTIC_KIND_DROPPED_CYCLIC_EDGES;
    case graph::DiagnosticKind::kMissingParents:
      return v1::DIAGNOSTIC_KIND_MISSING_PARENTS;
    case graph::DiagnosticKind::kMissingDurations:
      return v1::DIAGNOSTIC_KIND_MISSING_DURATIONS;
  }
  return v1::DIAGNOSTIC_KIND_UNSPECIFIED;
}

// The analysis' diagnostics except the kind `left_out` (what does not
// concern the response), example event indices as event ids.
void FillDiagnostics(const graph::TraceAnalysis& a, std::optional<graph::DiagnosticKind> left_out,
                     google::protobuf::RepeatedPtrField<v1::AnalysisDiagnostic>* out) {
  for (const graph::Diagnostic& d : a.diagnostics) {
    if (d.kind == left_out) continue;
    auto* o = out->Add();
    o->set_kind(ToProto(d.kind));
    o->set_subject(d.subject);
    o->set_count(d.count);
    o->set_message(d.message);
    for (uint32_t i : d.events) o->add_event_ids(std::string(a.graph.trace().id(i)));
  }
}

void FillAuditAccess(const v1::Event& e, bool linked, bool race, v1::AuditAccess* o) {
  o->set_event_id(e.id());
  o->set_trace_id(e.trace_id());
  o->set_thread_id(e.metadata().thread_id());
  o->set_service_name(e.metadata().service_name());
  o->set_access_type(e.state_change().access_type());
  if (e.state_change().has_old_value()) *o->mutable_old_value() = e.state_change().old_value();
  if (e.state_change().has_new_value()) *o->mutable_new_value() = e.state_change().new_value();
  o->set_location(e.state_change().location());
  *o->mutable_timestamp() = e.timestamp();
  o->set_has_causal_link_to_previous(linked);
  o->set_is_race(race);
}

void FillAuditTrail(const graph::TraceAnalysis& a, const graph::AuditTrail& trail,
                    v1::AuditTrail* out) {
  const auto& trace = a.graph.trace();
  out->set_trace_id(std::string(trace.trace_id()));
  out->set_variable(trail.variable_name);
  for (const auto& acc : trail.accesses) {
    FillAuditAccess(trace.event(acc.event), acc.has_causal_link_to_previous, acc.is_race,
                    out->add_accesses());
  }
}

void FillAnomaly(const graph::Anomaly& an, v1::Anomaly* out) {
  out->set_event_id(std::string(an.event_id));
  out->set_operation(an.operation);
  out->set_severity(ToProto(an.severity));
  out->set_duration_ns(an.duration_ns);
  out->set_expected_mean_ns(an.expected_mean_ns);
  out->set_expected_stddev_ns(an.expected_stddev_ns);
  out->set_sigma(an.sigma);
  out->set_slower(an.slower);
  out->set_baseline_samples(an.baseline_samples);
  out->set_description(an.description);
  SetTimestamp(an.timestamp_ns, out->mutable_timestamp());
}

void FillDependencies(const std::string& trace_id, const graph::TraceDependencies& d,
                      v1::TraceDependencies* out) {
  out->set_trace_id(trace_id);
  for (const auto& s : d.services) {
    auto* n = out->add_services();
    n->set_name(s.name);
    n->set_event_count(s.event_count);
  }
  for (const auto& e : d.edges) {
    auto* o = out->add_edges();
    o->set_from(e.from);
    o->set_to(e.to);
    o->set_call_count(e.call_count);
    o->set_link_type(LinkTypeFromName(graph::LinkTypeName(e.link_type)));
  }
}

void FillClock(const graph::CausalGraph& g, uint32_t i, v1::VectorClock* out) {
  out->set_event_id(std::string(g.trace().id(i)));
  for (const auto& [thread, clock] : g.VectorClock(i)) {
    auto* entry = out->add_entries();
    entry->set_component(std::string(thread));
    entry->set_clock(clock);
  }
}

graph::AccessRecord ToRecord(const storage::VariableAccess& a) {
  graph::AccessRecord r;
  r.variable = a.variable;
  r.timestamp_ns = a.timestamp_ns;
  r.event_id = a.event_id;
  r.trace_id = a.trace_id;
  r.thread_id = a.thread_id;
  r.service_name = a.service_name;
  r.access_type = a.access_type;
  r.location = a.location;
  for (const auto& l : a.lock_set) r.lock_set.push_back(graph::GlobalLockHold{l, false});
  r.distributed_span_id = a.distributed_span_id;
  r.upstream_span_id = a.upstream_span_id;
  return r;
}

graph::AccessRecord ToRecord(const v1::Event& e) {
  graph::AccessRecord r;
  r.variable = e.state_change().variable();
  r.timestamp_ns = model::TimestampNanos(e);
  r.event_id = e.id();
  r.trace_id = e.trace_id();
  r.thread_id = e.metadata().thread_id();
  r.service_name = e.metadata().service_name();
  r.access_type = e.state_change().access_type();
  r.distributed_span_id = e.metadata().distributed_span_id();
  r.upstream_span_id = e.metadata().upstream_span_id();
  if (e.causality_vector_size() > 0) {
    r.has_causality_vector = true;
    for (const auto& c : e.causality_vector())
      r.causality_vector.emplace_back(c.component(), c.clock());
  }
  return r;
}

void FillRecordAccess(const graph::AccessRecord& r, v1::RaceAccess* out) {
  out->set_event_id(r.event_id);
  out->set_trace_id(r.trace_id);
  out->set_thread_id(r.thread_id);
  out->set_service_name(r.service_name);
  out->set_access_type(r.access_type);
  out->set_location(r.location);
  SetTimestamp(r.timestamp_ns, out->mutable_timestamp());
  for (const auto& l : r.lock_set) out->add_lock_set(l.lock_id);
}

void FillGlobalRace(const graph::GlobalRace& r, v1::GlobalRace* out) {
  out->set_variable(r.first.variable);
  out->set_severity(ToProto(r.severity));
  FillRecordAccess(r.first, out->mutable_first());
  FillRecordAccess(r.second, out->mutable_second());
  out->set_gap_ns(r.gap_ns);
}

// Global-race cursor: the access whose races a page ended in, and how many
// of them (in RaceOrder) were reported.
struct AccessKey {
  std::string variable;
  int64_t ts = 0;
  std::string event_id;
  size_t reported = 0;
};

std::string KeyToken(const AccessKey& k) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("g:", k.ts, ":", k.event_id, ":", k.reported, ":", k.variable));
}

absl::StatusOr<std::optional<AccessKey>> ParseKeyToken(const std::string& token) {
  if (token.empty()) return std::optional<AccessKey>();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.rfind("g:", 0) != 0) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  std::vector<std::string> parts = absl::StrSplit(raw.substr(2), absl::MaxSplits(':', 3));
  AccessKey k;
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &k.ts) ||
      !absl::SimpleAtoi(parts[2], &k.reported)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  k.event_id = parts[1];
  k.variable = parts[3];
  return std::optional<AccessKey>(k);
}

// The races of one access are reported by their earlier access: an order that
// does not depend on the sweeper's history, so a resumed page (primed from a
// shorter history) skips exactly the races already reported.
void RaceOrder(std::vector<graph::GlobalRace>* races) {
  std::sort(races->begin(), races->end(), [](const auto& x, const auto& y) {
    return std::tie(x.first.timestamp_ns, x.first.event_id) <
           std::tie(y.first.timestamp_ns, y.first.event_id);
  });
}

bool KeyAfter(const storage::VariableAccess& a, const AccessKey& k) {
  return std::tie(a.timestamp_ns, a.event_id) > std::tie(k.ts, k.event_id);
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t idx = std::min(sorted.size() - 1,
                              static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[idx];
}

}  // namespace

QueryServiceImpl::QueryServiceImpl(std::shared_ptr<storage::EventReader> reader,
                                   const service::Config& config,
                                   graph::ClientClockMode client_clocks, QueryMetrics& metrics)
    : reader_(std::move(reader)),
      config_(config.query),
      api_keys_(config.auth.query_keys),
      metrics_(metrics),
      cache_(
          *reader_, config.query.cache_traces, /*max_events=*/4'000'000,
          [&] {
            graph::AnalysisOptions o;
            o.races.max_pairs = kMaxAnalyzeRaces;
            o.anomalies.sigma_threshold = config.query.anomaly_sigma;
            o.client_clocks = client_clocks;
            return o;
          }(),
          &metrics) {}

grpc::Status QueryServiceImpl::Fail(const absl::Status& status) {
  if (absl::IsUnavailable(status) || absl::IsInternal(status) || absl::IsDeadlineExceeded(status)) {
    metrics_.StorageError();
  }
  return service::ToGrpcStatus(status);
}

absl::Status QueryServiceImpl::FillAnomalies(
    const AnalyzedTrace& t, double sigma,
    google::protobuf::RepeatedPtrField<v1::Anomaly>* out) const {
  if (sigma > 0 && sigma != config_.anomaly_sigma) {
    // A threshold other than the cached analysis': rescore (cheap, no I/O).
    graph::AnomalyOptions o;
    o.sigma_threshold = sigma;
    auto anomalies = graph::DetectAnomalies(t.analysis->graph.trace(), t.baselines, o);
    if (!anomalies.ok()) return anomalies.status();
    for (const auto& an : *anomalies) FillAnomaly(an, out->Add());
    return absl::OkStatus();
  }
  for (const auto& an : t.analysis->anomalies) FillAnomaly(an, out->Add());
  return absl::OkStatus();
}

uint32_t QueryServiceImpl::PageSize(uint32_t requested) const {
  if (requested == 0) return config_.default_page_size;
  return std::min(requested, config_.max_page_size);
}

absl::StatusOr<std::shared_ptr<const AnalyzedTrace>> QueryServiceImpl::Analyzed(
    const std::string& field, const std::string& trace_id) {
  auto id = CheckId(field, trace_id);
  if (!id.ok()) return id.status();
  return cache_.Get(*id);
}

#define RACEWAY_RPC(name)                             \
  grpc::Status status;                                \
  RpcScope scope_(metrics_, name, &status);           \
  status = service::CheckApiKey(*context, api_keys_); \
  if (!status.ok()) return status;

#define RACEWAY_ANALYZED(var, field, id)                       \
  auto var##_or = Analyzed(field, id);                         \
  if (!var##_or.ok()) return status = Fail(var##_or.status()); \
  const AnalyzedTrace& var = **var##_or;

grpc::Status QueryServiceImpl::ListTraces(Ctx* context, const v1::ListTracesRequest* request,
                                          v1::ListTracesResponse* response) {
  RACEWAY_RPC("ListTraces");
  if (absl::Status s = CheckRange("time_range", request->time_range()); !s.ok()) {
    return status = Fail(s);
  }
  storage::TraceFilter filter;
  filter.min_events = request->min_events();
  filter.service = request->service();
  filter.last_activity = ToRange(request->time_range());
  // The count is a scan of every matching trace (the page itself is an
  // index range): only the first page pays for it.
  uint64_t total = 0;
  const bool first_page = request->page_token().empty();
  auto page = reader_->ListTraces(filter, {PageSize(request->page_size()), request->page_token()},
                                  first_page ? &total : nullptr);
  if (!page.ok()) return status = Fail(page.status());
  for (const auto& s : page->items) ToProto(s, response->add_traces());
  response->set_next_page_token(page->next_page_token);
  response->set_total_count(total);
  return status;
}

grpc::Status QueryServiceImpl::GetTrace(Ctx* context, const v1::GetTraceRequest* request,
                                        v1::GetTraceResponse* response) {
  RACEWAY_RPC("GetTrace");
  auto trace_id = CheckId("trace_id", request->trace_id());
  if (!trace_id.ok()) return status = Fail(trace_id.status());
  auto summary = reader_->GetTraceSummary(*trace_id);
  if (!summary.ok()) return status = Fail(summary.status());
  uint32_t size =
      request->page_size() == 0 ? kDefaultTracePage : std::min(request->page_size(), kMaxTracePage);
  auto page = reader_->GetTraceEventsPage(*trace_id, {size, request->page_token()});
  if (!page.ok()) return status = Fail(page.status());
  ToProto(*summary, response->mutable_summary());
  for (auto& e : page->items) *response->add_events() = std::move(e);
  response->set_next_page_token(page->next_page_token);
  return status;
}

grpc::Status QueryServiceImpl::AnalyzeTrace(Ctx* context, const v1::AnalyzeTraceRequest* request,
                                            v1::AnalyzeTraceResponse* response) {
  RACEWAY_RPC("AnalyzeTrace");
  if (request->anomaly_sigma() < 0 || !std::isfinite(request->anomaly_sigma())) {
    return status = Fail(absl::InvalidArgumentError("anomaly_sigma: must be >= 0 (0 = default)"));
  }
  RACEWAY_ANALYZED(t, "trace_id", request->trace_id());
  const graph::TraceAnalysis& a = *t.analysis;
  ToProto(t.summary, response->mutable_summary());
  for (const auto& p : a.races.pairs) FillPair(a, p, response->add_races());
  for (const auto& g : a.races.groups) FillGroup(g, response->add_race_groups());
  response->set_race_count(a.races.total_pairs);
  FillCriticalPath(t.summary.trace_id, a.critical_path, response->mutable_critical_path());
  for (const auto& trail : a.audit_trails) FillAuditTrail(a, trail, response->add_audit_trails());
  if (absl::Status s = FillAnomalies(t, request->anomaly_sigma(), response->mutable_anomalies());
      !s.ok()) {
    return status = Fail(s);
  }
  FillDependencies(t.summary.trace_id, a.dependencies, response->mutable_dependencies());
  // Top level only: the path's own copy would repeat them.
  FillDiagnostics(a, std::nullopt, response->mutable_diagnostics());
  if (request->include_vector_clocks()) {
    for (uint32_t i = 0; i < a.graph.size(); ++i)
      FillClock(a.graph, i, response->add_vector_clocks());
  }
  return status;
}

grpc::Status QueryServiceImpl::GetRaces(Ctx* context, const v1::GetRacesRequest* request,
                                        v1::GetRacesResponse* response) {
  RACEWAY_RPC("GetRaces");
  auto offset = ParseOffsetToken(request->page_token());
  if (!offset.ok()) return status = Fail(offset.status());
  RACEWAY_ANALYZED(t, "trace_id", request->trace_id());
  const graph::TraceAnalysis& a = *t.analysis;
  const auto& trace = a.graph.trace();
  std::vector<const graph::RacePair*> pairs;
  for (const auto& p : a.races.pairs) {
    if (request->variable().empty() || trace.variable_name(p.variable) == request->variable()) {
      pairs.push_back(&p);
    }
  }
  const size_t size = PageSize(request->page_size());
  const size_t end = std::min(pairs.size(), *offset + size);
  for (size_t i = *offset; i < end; ++i) FillPair(a, *pairs[i], response->add_races());
  if (end < pairs.size()) response->set_next_page_token(OffsetToken(end));
  if (*offset == 0) {
    for (const auto& g : a.races.groups) {
      if (request->variable().empty() || g.variable_name == request->variable()) {
        FillGroup(g, response->add_groups());
      }
    }
    FillDiagnostics(a, graph::DiagnosticKind::kMissingDurations, response->mutable_diagnostics());
  }
  response->set_total_count(request->variable().empty() ? a.races.total_pairs : pairs.size());
  return status;
}

grpc::Status QueryServiceImpl::GetCriticalPath(Ctx* context,
                                               const v1::GetCriticalPathRequest* request,
                                               v1::CriticalPath* response) {
  RACEWAY_RPC("GetCriticalPath");
  RACEWAY_ANALYZED(t, "trace_id", request->trace_id());
  FillCriticalPath(t.summary.trace_id, t.analysis->critical_path, response);
  // Client vectors do not change the path.
  FillDiagnostics(*t.analysis, graph::DiagnosticKind::kIgnoredClientClock,
                  response->mutable_diagnostics());
  return status;
}

grpc::Status QueryServiceImpl::GetAuditTrail(Ctx* context, const v1::GetAuditTrailRequest* request,
                                             v1::GetAuditTrailResponse* response) {
  RACEWAY_RPC("GetAuditTrail");
  if (request->variable().empty()) {
    return status = Fail(absl::InvalidArgumentError("variable: is required"));
  }
  if (request->trace_id().empty()) return status = GlobalAuditTrail(*request, response);
  RACEWAY_ANALYZED(t, "trace_id", request->trace_id());
  const graph::TraceAnalysis& a = *t.analysis;
  auto* trail = response->mutable_trail();
  trail->set_trace_id(t.summary.trace_id);
  trail->set_variable(request->variable());
  for (const auto& candidate : a.audit_trails) {
    if (candidate.variable_name == request->variable()) {
      FillAuditTrail(a, candidate, trail);
      break;
    }
  }
  return status;
}

// The global trail: the variable's accesses across traces in (timestamp,
// event id) order from the access index, one page at a time.
// has_causal_link_to_previous: same trace -> the trace's happens-before;
// different traces -> a distributed edge or client vector-clock order.
// is_race: a race with an earlier access of the same trace (from that
// trace's analysis) or a global race with an earlier access of another
// trace within the global-race window.
grpc::Status QueryServiceImpl::GlobalAuditTrail(const v1::GetAuditTrailRequest& request,
                                                v1::GetAuditTrailResponse* response) {
  if (absl::Status s = CheckRange("time_range", request.time_range()); !s.ok()) return Fail(s);
  const storage::TimeRange range = ToRange(request.time_range());
  auto page = reader_->GetVariableAccesses(request.variable(), range,
                                           {PageSize(request.page_size()), request.page_token()});
  if (!page.ok()) return Fail(page.status());
  auto* trail = response->mutable_trail();
  trail->set_variable(request.variable());
  if (page->items.empty()) return grpc::Status::OK;
  const int64_t window = int64_t{config_.global_race_window_ms} * 1000000;
  // Prime the sweeper with the window before this page so races with the
  // previous page's accesses are seen.
  graph::GlobalRaceSweeper sweeper(graph::GlobalRaceOptions{window});
  std::vector<graph::GlobalRace> races;
  const int64_t first_ts = page->items.front().timestamp_ns;
  storage::TimeRange before{model::AddNanosSaturating(first_ts, -window), first_ts};
  if (range.start_ns && *before.start_ns < *range.start_ns) before.start_ns = range.start_ns;
  std::string token;
  do {
    auto prev = reader_->GetVariableAccesses(request.variable(), before, {10000, token});
    if (!prev.ok()) return Fail(prev.status());
    for (const auto& a : prev->items) {
      if (absl::Status s = sweeper.Prime(ToRecord(a)); !s.ok()) return Fail(s);
    }
    token = prev->next_page_token;
  } while (!token.empty());
  std::set<std::string> globally_racing;
  for (const auto& a : page->items) {
    races.clear();
    if (absl::Status s = sweeper.Add(ToRecord(a), &races); !s.ok()) return Fail(s);
    if (!races.empty()) globally_racing.insert(a.event_id);
  }
  // Per-trace facts from each trace's analysis (cached).
  std::map<std::string, std::shared_ptr<const AnalyzedTrace>> traces;
  for (const auto& a : page->items) {
    if (traces.count(a.trace_id)) continue;
    auto t = cache_.Get(a.trace_id);
    if (!t.ok()) return Fail(t.status());
    traces[a.trace_id] = *t;
  }
  const v1::Event* prev_event = nullptr;
  const AnalyzedTrace* prev_trace = nullptr;
  for (const auto& a : page->items) {
    const AnalyzedTrace& t = *traces[a.trace_id];
    const auto& g = t.analysis->graph;
    auto idx = g.trace().Find(a.event_id);
    if (!idx) continue;  // Deleted meanwhile.
    const v1::Event& e = g.trace().event(*idx);
    bool in_trace_race = false;
    if (!t.analysis->races.races_with_earlier.empty()) {
      in_trace_race = t.analysis->races.races_with_earlier[*idx] != 0;
    }
    bool linked = false;
    if (prev_event != nullptr) {
      if (prev_trace == &t) {
        auto pidx = g.trace().Find(prev_event->id());
        linked = pidx && g.HappensBefore(*pidx, *idx);
      } else {
        linked = graph::RelateAcrossTraces(ToRecord(*prev_event), ToRecord(e)) ==
                 graph::Relation::kBefore;
      }
    }
    FillAuditAccess(e, linked, in_trace_race || globally_racing.count(e.id()) > 0,
                    trail->add_accesses());
    prev_event = &e;
    prev_trace = &t;
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::GetAnomalies(Ctx* context, const v1::GetAnomaliesRequest* request,
                                            v1::GetAnomaliesResponse* response) {
  RACEWAY_RPC("GetAnomalies");
  if (request->anomaly_sigma() < 0 || !std::isfinite(request->anomaly_sigma())) {
    return status = Fail(absl::InvalidArgumentError("anomaly_sigma: must be >= 0 (0 = default)"));
  }
  RACEWAY_ANALYZED(t, "trace_id", request->trace_id());
  if (absl::Status s = FillAnomalies(t, request->anomaly_sigma(), response->mutable_anomalies());
      !s.ok()) {
    return status = Fail(s);
  }
  return status;
}

grpc::Status QueryServiceImpl::GetDependencies(Ctx* context,
                                               const v1::GetDependenciesRequest* request,
                                               v1::TraceDependencies* response) {
  RACEWAY_RPC("GetDependencies");
  RACEWAY_ANALYZED(t, "trace_id", request->trace_id());
  FillDependencies(t.summary.trace_id, t.analysis->dependencies, response);
  return status;
}

grpc::Status QueryServiceImpl::HappensBefore(Ctx* context, const v1::HappensBeforeRequest* request,
                                             v1::HappensBeforeResponse* response) {
  RACEWAY_RPC("HappensBefore");
  auto id_a = CheckId("event_a", request->event_a());
  if (!id_a.ok()) return status = Fail(id_a.status());
  auto id_b = CheckId("event_b", request->event_b());
  if (!id_b.ok()) return status = Fail(id_b.status());
  auto a = reader_->GetEvent(*id_a);
  if (!a.ok()) {
    return status = Fail(
               absl::Status(a.status().code(), absl::StrCat("event_a: ", a.status().message())));
  }
  auto b = reader_->GetEvent(*id_b);
  if (!b.ok()) {
    return status = Fail(
               absl::Status(b.status().code(), absl::StrCat("event_b: ", b.status().message())));
  }
  if (a->trace_id() == b->trace_id()) {
    RACEWAY_ANALYZED(t, "event_a", a->trace_id());
    const auto& g = t.analysis->graph;
    auto ia = g.trace().Find(a->id());
    auto ib = g.trace().Find(b->id());
    if (!ia || !ib) return status = Fail(absl::NotFoundError("event not in its trace's analysis"));
    response->set_relation(ToProto(g.Relate(*ia, *ib)));
    FillClock(g, *ia, response->mutable_clock_a());
    FillClock(g, *ib, response->mutable_clock_b());
    return status;
  }
  response->set_relation(ToProto(graph::RelateAcrossTraces(ToRecord(*a), ToRecord(*b))));
  return status;
}

// Global races, paginated by the later access of each pair: a page holds at
// most page_size races and its token names the access it ended in and how
// many of that access's races (RaceOrder) it reported. A resumed sweep primes
// the window before that access and replays it. With no variable filter,
// variables are visited in name order.
grpc::Status QueryServiceImpl::FindGlobalRaces(Ctx* context,
                                               const v1::FindGlobalRacesRequest* request,
                                               v1::FindGlobalRacesResponse* response) {
  RACEWAY_RPC("FindGlobalRaces");
  if (absl::Status s = CheckRange("time_range", request->time_range()); !s.ok()) {
    return status = Fail(s);
  }
  auto cursor = ParseKeyToken(request->page_token());
  if (!cursor.ok()) return status = Fail(cursor.status());
  const storage::TimeRange range = ToRange(request->time_range());
  // Capped at one day: a wider window is a full scan in disguise.
  const uint64_t window_ms = std::min<uint64_t>(
      request->window_ms() == 0 ? config_.global_race_window_ms : request->window_ms(), 86400000);
  const int64_t window = static_cast<int64_t>(window_ms) * 1000000;
  const size_t page_size = PageSize(request->page_size());
  // Appends the races of `a` after the first `skip`; false (and the token
  // set) when the page is full.
  std::vector<graph::GlobalRace> found;
  auto report = [&](const storage::VariableAccess& a, size_t skip) {
    RaceOrder(&found);
    for (size_t i = skip; i < found.size(); ++i) {
      if (static_cast<size_t>(response->races_size()) == page_size) {
        response->set_next_page_token(KeyToken({a.variable, a.timestamp_ns, a.event_id, i}));
        return false;
      }
      FillGlobalRace(found[i], response->add_races());
    }
    found.clear();
    return true;
  };
  // One ordered scan of the access index, (variable, timestamp, id), for
  // one variable or all of them: a page costs its own rows plus the window
  // primed before a resumed cursor, never a pass over every variable.
  std::optional<graph::GlobalRaceSweeper> sweeper;
  std::string variable;  // Of the sweeper's records.
  std::string token;     // Storage keyset token (shared format, page_token.h).
  if (*cursor) {
    const AccessKey& k = **cursor;
    if (!request->variable().empty() && k.variable != request->variable()) {
      return status = Fail(absl::InvalidArgumentError("page_token: for another variable"));
    }
    variable = k.variable;
    sweeper.emplace(graph::GlobalRaceOptions{window});
    // Prime with the accesses of the cursor's variable inside the window
    // before it (they may race with what comes next), then replay the
    // cursor's own access.
    storage::TimeRange before{model::AddNanosSaturating(k.ts, -window),
                              model::AddNanosSaturating(k.ts, 1)};
    if (range.start_ns && *before.start_ns < *range.start_ns) before.start_ns = range.start_ns;
    std::optional<storage::VariableAccess> at_cursor;
    std::string prime_token;
    do {
      auto prev = reader_->GetVariableAccesses(k.variable, before, {10000, prime_token});
      if (!prev.ok()) return status = Fail(prev.status());
      for (const auto& a : prev->items) {
        if (KeyAfter(a, k)) break;
        if (a.timestamp_ns == k.ts && a.event_id == k.event_id) {
          at_cursor = a;
          continue;
        }
        if (absl::Status s = sweeper->Prime(ToRecord(a)); !s.ok()) return status = Fail(s);
      }
      prime_token = prev->next_page_token;
    } while (!prime_token.empty());
    if (at_cursor) {
      if (absl::Status s = sweeper->Add(ToRecord(*at_cursor), &found); !s.ok()) {
        return status = Fail(s);
      }
      if (!report(*at_cursor, k.reported)) return status;
    }
    token = storage::common::EncodeAccessCursor({k.variable, k.ts, k.event_id});
  }
  do {
    auto page = reader_->GetVariableAccesses(request->variable(), range, {10000, token});
    if (!page.ok()) return status = Fail(page.status());
    for (const auto& a : page->items) {
      if (!sweeper || a.variable != variable) {  // Races never cross variables.
        sweeper.emplace(graph::GlobalRaceOptions{window});
        variable = a.variable;
      }
      if (absl::Status s = sweeper->Add(ToRecord(a), &found); !s.ok()) return status = Fail(s);
      if (!report(a, 0)) return status;
    }
    token = page->next_page_token;
  } while (!token.empty());
  return status;
}

grpc::Status QueryServiceImpl::ListServices(Ctx* context, const v1::ListServicesRequest*,
                                            v1::ListServicesResponse* response) {
  RACEWAY_RPC("ListServices");
  auto services = reader_->ListServices();
  if (!services.ok()) return status = Fail(services.status());
  for (const auto& s : *services) {
    auto* o = response->add_services();
    o->set_name(s.service);
    o->set_event_count(s.event_count);
    o->set_trace_count(s.trace_count);
    SetTimestamp(s.first_ns, o->mutable_first_seen());
    SetTimestamp(s.last_ns, o->mutable_last_seen());
  }
  return status;
}

grpc::Status QueryServiceImpl::GetServiceDependencies(
    Ctx* context, const v1::GetServiceDependenciesRequest* request,
    v1::GetServiceDependenciesResponse* response) {
  RACEWAY_RPC("GetServiceDependencies");
  auto calls = reader_->ListServiceCalls({});
  if (!calls.ok()) return status = Fail(calls.status());
  auto services = reader_->ListServices();
  if (!services.ok()) return status = Fail(services.status());
  // service -> (peer -> (calls, traces)), merged over link types.
  std::map<std::string, std::map<std::string, std::pair<uint64_t, uint64_t>>> to, by;
  for (const auto& c : *calls) {
    auto& t = to[c.from_service][c.to_service];
    t.first += c.call_count;
    t.second = std::max(t.second, c.trace_count);
    auto& b = by[c.to_service][c.from_service];
    b.first += c.call_count;
    b.second = std::max(b.second, c.trace_count);
  }
  for (const auto& s : *services) {
    if (!request->service().empty() && s.service != request->service()) continue;
    auto* info = response->add_services();
    info->set_service(s.service);
    for (const auto& [peer, n] : to[s.service]) {
      auto* c = info->add_calls_to();
      c->set_service(peer);
      c->set_call_count(n.first);
      c->set_trace_count(n.second);
    }
    for (const auto& [peer, n] : by[s.service]) {
      auto* c = info->add_called_by();
      c->set_service(peer);
      c->set_call_count(n.first);
      c->set_trace_count(n.second);
    }
  }
  if (!request->service().empty() && response->services_size() == 0) {
    return status = Fail(absl::NotFoundError(
               absl::StrCat("service: \"", request->service(), "\" has no events")));
  }
  return status;
}

grpc::Status QueryServiceImpl::GetServiceHealth(Ctx* context, const v1::GetServiceHealthRequest*,
                                                v1::GetServiceHealthResponse* response) {
  RACEWAY_RPC("GetServiceHealth");
  auto services = reader_->ListServices();
  if (!services.ok()) return status = Fail(services.status());
  const int64_t now = absl::ToUnixNanos(absl::Now());
  for (const auto& s : *services) {
    auto* o = response->add_services();
    o->set_service(s.service);
    const int64_t idle_s = static_cast<int64_t>(model::NanosBetween(s.last_ns, now) / 1000000000);
    o->set_status(idle_s < 300    ? v1::HEALTH_STATUS_HEALTHY
                  : idle_s < 1800 ? v1::HEALTH_STATUS_WARNING
                                  : v1::HEALTH_STATUS_CRITICAL);
    SetTimestamp(s.last_ns, o->mutable_last_activity());
    o->set_trace_count(s.trace_count);
    o->set_event_count(s.event_count);
    o->set_seconds_since_last_activity(static_cast<uint64_t>(idle_s));
  }
  return status;
}

grpc::Status QueryServiceImpl::GetHotspots(Ctx* context, const v1::GetHotspotsRequest* request,
                                           v1::GetHotspotsResponse* response) {
  RACEWAY_RPC("GetHotspots");
  if (absl::Status s = CheckRange("time_range", request->time_range()); !s.ok()) {
    return status = Fail(s);
  }
  const uint32_t limit = request->limit() == 0 ? 10 : std::min(request->limit(), 1000u);
  const storage::TimeRange range = ToRange(request->time_range());
  auto vars = reader_->TopVariables(range, limit);
  if (!vars.ok()) return status = Fail(vars.status());
  for (const auto& v : *vars) {
    auto* o = response->add_variables();
    o->set_variable(v.variable);
    o->set_access_count(v.access_count);
    o->set_trace_count(v.trace_count);
    for (const auto& s : v.services) o->add_services(s);
  }
  auto calls = reader_->ListServiceCalls(range);
  if (!calls.ok()) return status = Fail(calls.status());
  std::map<std::pair<std::string, std::string>, uint64_t> merged;
  for (const auto& c : *calls) merged[{c.from_service, c.to_service}] += c.call_count;
  std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>> sorted(merged.begin(),
                                                                               merged.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  for (size_t i = 0; i < sorted.size() && i < limit; ++i) {
    auto* o = response->add_service_calls();
    o->set_from(sorted[i].first.first);
    o->set_to(sorted[i].first.second);
    o->set_call_count(sorted[i].second);
  }
  return status;
}

grpc::Status QueryServiceImpl::GetPerformanceMetrics(
    Ctx* context, const v1::GetPerformanceMetricsRequest* request,
    v1::GetPerformanceMetricsResponse* response) {
  RACEWAY_RPC("GetPerformanceMetrics");
  if (absl::Status s = CheckRange("time_range", request->time_range()); !s.ok()) {
    return status = Fail(s);
  }
  const storage::TimeRange range = ToRange(request->time_range());
  storage::TraceFilter filter;
  filter.last_activity = range;
  // Trace latencies (last - first): one pass over the summaries in range.
  std::vector<double> latencies;
  std::vector<storage::TraceSummary> slowest;
  const size_t slow_limit = request->slowest_limit() == 0 ? 10 : request->slowest_limit();
  uint64_t events = 0;
  int64_t min_first = INT64_MAX, max_last = INT64_MIN;
  std::string token;
  do {
    auto page = reader_->ListTraces(filter, {1000, token}, nullptr);
    if (!page.ok()) return status = Fail(page.status());
    for (auto& s : page->items) {
      latencies.push_back(static_cast<double>(model::NanosBetween(s.first_ns, s.last_ns)) / 1e6);
      events += s.event_count;
      min_first = std::min(min_first, s.first_ns);
      max_last = std::max(max_last, s.last_ns);
      slowest.push_back(std::move(s));
      if (slowest.size() > 4 * slow_limit + 64) {
        std::nth_element(slowest.begin(), slowest.begin() + slow_limit, slowest.end(),
                         [](const auto& x, const auto& y) {
                           return model::NanosBetween(x.first_ns, x.last_ns) >
                                  model::NanosBetween(y.first_ns, y.last_ns);
                         });
        slowest.resize(slow_limit);
      }
    }
    token = page->next_page_token;
  } while (!token.empty());
  std::sort(latencies.begin(), latencies.end());
  auto* lat = response->mutable_trace_latency();
  double sum = 0;
  for (double l : latencies) sum += l;
  lat->set_avg_ms(latencies.empty() ? 0 : sum / static_cast<double>(latencies.size()));
  lat->set_p50_ms(Percentile(latencies, 50));
  lat->set_p95_ms(Percentile(latencies, 95));
  lat->set_p99_ms(Percentile(latencies, 99));
  std::sort(slowest.begin(), slowest.end(), [](const auto& x, const auto& y) {
    const uint64_t dx = model::NanosBetween(x.first_ns, x.last_ns),
                   dy = model::NanosBetween(y.first_ns, y.last_ns);
    return dx != dy ? dx > dy : x.trace_id < y.trace_id;
  });
  if (slowest.size() > slow_limit) slowest.resize(slow_limit);
  for (const auto& s : slowest) {
    auto* o = response->add_slowest_traces();
    o->set_trace_id(s.trace_id);
    o->set_duration_ms(static_cast<double>(model::NanosBetween(s.first_ns, s.last_ns)) / 1e6);
    for (const auto& svc : s.services) o->add_services(svc);
  }
  auto fill = [](const std::vector<storage::DurationStats>& stats,
                 google::protobuf::RepeatedPtrField<v1::TypeDuration>* out) {
    for (const auto& d : stats) {
      auto* o = out->Add();
      o->set_name(d.name);
      o->set_avg_duration_ms(d.avg_duration_ns / 1e6);
      o->set_count(d.count);
    }
  };
  auto by_kind = reader_->DurationsByKind(range);
  if (!by_kind.ok()) return status = Fail(by_kind.status());
  fill(*by_kind, response->mutable_by_event_type());
  auto by_service = reader_->DurationsByService(range);
  if (!by_service.ok()) return status = Fail(by_service.status());
  fill(*by_service, response->mutable_by_service());
  response->set_trace_count(latencies.size());
  response->set_event_count(events);
  if (max_last > min_first) {
    response->set_events_per_second(
        static_cast<double>(events) /
        (static_cast<double>(model::NanosBetween(min_first, max_last)) / 1e9));
  }
  return status;
}

grpc::Status QueryServiceImpl::ListDistributedEdges(Ctx* context,
                                                    const v1::ListDistributedEdgesRequest* request,
                                                    v1::ListDistributedEdgesResponse* response) {
  RACEWAY_RPC("ListDistributedEdges");
  if (absl::Status s = CheckRange("time_range", request->time_range()); !s.ok()) {
    return status = Fail(s);
  }
  auto calls = reader_->ListServiceCalls(ToRange(request->time_range()));
  if (!calls.ok()) return status = Fail(calls.status());
  for (const auto& c : *calls) {
    const v1::EdgeLinkType type = LinkTypeFromName(c.link_type);
    if (type == v1::EDGE_LINK_TYPE_UNSPECIFIED) continue;  // Parent edges are not span links.
    auto* o = response->add_edges();
    o->set_from_service(c.from_service);
    o->set_to_service(c.to_service);
    o->set_link_type(type);
    o->set_call_count(c.call_count);
    o->set_trace_count(c.trace_count);
    (*response->mutable_count_by_link_type())[c.link_type] += c.call_count;
  }
  return status;
}

}  // namespace raceway::query
