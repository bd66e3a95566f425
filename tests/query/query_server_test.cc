// End to end over real gRPC on loopback: events go in through the ingest
// service and come out analysed through the query service (and its gRPC-Web
// port), on SQLite and on PostgreSQL.

#include "services/query/query_server.h"

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/service/grpc_web.h"
#include "libs/storage/factory.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "raceway/v1/query.grpc.pb.h"
#include "services/ingest/ingest_server.h"
#include "tests/support/events.h"
#include "tests/support/test_env.h"

namespace raceway::query {
namespace {

namespace v1 = raceway::v1;
using raceway::testing::MakeEvent;
using ::testing::HasSubstr;

v1::Event At(const std::string& trace, const std::string& thread, int64_t offset_ms,
             uint64_t duration_ms, const std::string& service = "bank") {
  v1::Event e = MakeEvent(trace, thread, offset_ms, service);
  e.mutable_metadata()->set_duration_ns(duration_ms * 1000000);
  return e;
}

v1::Event Write(const std::string& trace, const std::string& thread, int64_t offset_ms,
                uint64_t duration_ms, int from, int to, const std::string& location) {
  v1::Event e = At(trace, thread, offset_ms, duration_ms);
  auto* sc = e.mutable_state_change();
  sc->set_variable("balance");
  sc->set_access_type(v1::ACCESS_TYPE_WRITE);
  sc->mutable_old_value()->set_number_value(from);
  sc->mutable_new_value()->set_number_value(to);
  sc->set_location(location);
  return e;
}

// The scenario of the analysis contract: two unsynchronised writes.
std::vector<v1::Event> BankScenario(const std::string& trace) {
  v1::Event root = At(trace, "main", 0, 17);
  root.mutable_function_call()->set_function_name("handle_request");
  v1::Event w1 = Write(trace, "worker-1", 1, 8, 10, 15, "balance.rs:12");
  v1::Event w2 = Write(trace, "worker-2", 2, 9, 15, 20, "balance.rs:45");
  v1::Event respond = At(trace, "main", 5, 3);
  respond.mutable_function_call()->set_function_name("respond");
  for (auto* child : {&w1, &w2, &respond}) child->set_parent_id(root.id());
  return {root, w1, w2, respond};
}

class QueryServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("raceway_query_" + model::NewUuidV4());
      std::filesystem::create_directories(dir_);
      options.backend = "sqlite";
      options.sqlite_path = (dir_ / "raceway.db").string();
    } else {
      RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_POSTGRES_URL");
      auto parsed = storage::StorageOptionsFromUrl(url);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      options = *parsed;
    }
    // Two storage objects, as two processes would have: ingest writes
    // through one, query reads through the other.
    auto writer = storage::OpenStorage(options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = std::move(*writer);
    ASSERT_TRUE(writer_->Clear().ok());
    auto reader = storage::OpenStorage(options);
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);

    config_.ingest.listen = "127.0.0.1:0";
    config_.ingest.http_listen = "";
    config_.query.listen = "127.0.0.1:0";
    config_.query.grpc_web_listen = "127.0.0.1:0";
    config_.query.cors_origins = {"http://dashboard.test"};
    config_.metrics.ingest_listen = "";
    config_.metrics.query_listen = "";  // civetweb takes ~2 s to stop

    config_.ingest.flush_interval_ms = 1;
  }

  void TearDown() override {
    stub_.reset();
    ingest_stub_.reset();
    query_.reset();
    ingest_.reset();
    reader_.reset();
    writer_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void Start() {
    auto ingest = ingest::IngestServer::Start(config_, writer_);
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = std::move(*ingest);
    auto query = QueryServer::Start(config_, reader_);
    ASSERT_TRUE(query.ok()) << query.status();
    query_ = std::move(*query);
    ingest_stub_ = v1::IngestService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", ingest_->grpc_port()), grpc::InsecureChannelCredentials()));
    stub_ = v1::QueryService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", query_->grpc_port()), grpc::InsecureChannelCredentials()));
  }

  void Ingest(const std::vector<v1::Event>& events) {
    v1::SubmitRequest request;
    for (const auto& e : events) *request.add_events() = e;
    v1::SubmitResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(ingest_stub_->Submit(&context, request, &response).ok());
    ASSERT_EQ(response.result().rejected(), 0u) << response.DebugString();
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (v1::QueryService::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                   Resp*),
                    const Req& request, Resp* response, const std::string& key = "") {
    grpc::ClientContext context;
    if (!key.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    return (stub_.get()->*method)(&context, request, response);
  }

  std::filesystem::path dir_;
  std::shared_ptr<storage::Storage> writer_, reader_;
  service::Config config_;
  std::unique_ptr<ingest::IngestServer> ingest_;
  std::unique_ptr<QueryServer> query_;
  std::unique_ptr<v1::IngestService::Stub> ingest_stub_;
  std::unique_ptr<v1::QueryService::Stub> stub_;
};

TEST_P(QueryServerTest, BankScenarioEndToEnd) {
  Start();
  const std::string trace = model::NewUuidV4();
  const auto events = BankScenario(trace);
  Ingest(events);

  v1::AnalyzeTraceRequest request;
  request.set_trace_id(trace);
  request.set_include_vector_clocks(true);
  v1::AnalyzeTraceResponse r;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::AnalyzeTrace, request, &r).ok());
  EXPECT_EQ(r.summary().event_count(), 4u);
  ASSERT_EQ(r.races_size(), 1);
  EXPECT_EQ(r.race_count(), 1u);
  EXPECT_EQ(r.races(0).severity(), v1::RACE_SEVERITY_CRITICAL);
  EXPECT_EQ(r.races(0).variable(), "balance");
  EXPECT_EQ(r.races(0).first().event_id(), events[1].id());
  EXPECT_EQ(r.races(0).second().event_id(), events[2].id());
  ASSERT_EQ(r.race_groups_size(), 1);
  EXPECT_EQ(r.race_groups(0).location_a(), "balance.rs:12");
  EXPECT_EQ(r.race_groups(0).location_b(), "balance.rs:45");
  EXPECT_EQ(r.race_groups(0).count(), 1u);

  const auto& cp = r.critical_path();
  ASSERT_EQ(cp.steps_size(), 2);
  EXPECT_EQ(cp.steps(0).event_id(), events[0].id());
  EXPECT_EQ(cp.steps(0).kind(), "FunctionCall(handle_request)");
  EXPECT_EQ(cp.steps(1).event_id(), events[2].id());
  EXPECT_EQ(cp.total_duration_ns(), 26000000u);
  EXPECT_EQ(cp.trace_total_duration_ns(), 37000000u);
  EXPECT_NEAR(cp.percentage(), 70.27, 0.01);

  ASSERT_EQ(r.audit_trails_size(), 1);
  const auto& trail = r.audit_trails(0);
  EXPECT_EQ(trail.variable(), "balance");
  ASSERT_EQ(trail.accesses_size(), 2);
  EXPECT_FALSE(trail.accesses(0).is_race());
  EXPECT_TRUE(trail.accesses(1).is_race());
  EXPECT_FALSE(trail.accesses(1).has_causal_link_to_previous());
  EXPECT_EQ(r.vector_clocks_size(), 4);
  ASSERT_EQ(r.dependencies().services_size(), 1);
  EXPECT_EQ(r.dependencies().services(0).name(), "bank");
  EXPECT_EQ(r.dependencies().services(0).event_count(), 4u);

  // The same facts through the narrower RPCs.
  v1::GetRacesRequest races_req;
  races_req.set_trace_id(trace);
  v1::GetRacesResponse races;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetRaces, races_req, &races).ok());
  EXPECT_EQ(races.races_size(), 1);
  EXPECT_EQ(races.total_count(), 1u);
  v1::GetAuditTrailRequest audit_req;
  audit_req.set_trace_id(trace);
  audit_req.set_variable("balance");
  v1::GetAuditTrailResponse audit;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetAuditTrail, audit_req, &audit).ok());
  EXPECT_EQ(audit.trail().accesses_size(), 2);
  v1::HappensBeforeRequest hb_req;
  hb_req.set_event_a(events[0].id());
  hb_req.set_event_b(events[2].id());
  v1::HappensBeforeResponse hb;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::HappensBefore, hb_req, &hb).ok());
  EXPECT_EQ(hb.relation(), v1::HAPPENS_BEFORE_RELATION_BEFORE);
  hb_req.set_event_a(events[1].id());
  ASSERT_TRUE(Call(&v1::QueryService::Stub::HappensBefore, hb_req, &hb).ok());
  EXPECT_EQ(hb.relation(), v1::HAPPENS_BEFORE_RELATION_CONCURRENT);

  // The global audit trail comes from the access index.
  v1::GetAuditTrailRequest global_req;
  global_req.set_variable("balance");
  v1::GetAuditTrailResponse global;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetAuditTrail, global_req, &global).ok());
  ASSERT_EQ(global.trail().accesses_size(), 2);
  EXPECT_TRUE(global.trail().accesses(1).is_race());
}

TEST_P(QueryServerTest, NewEventsAreVisibleOnTheNextQuery) {
  Start();
  const std::string trace = model::NewUuidV4();
  auto events = BankScenario(trace);
  Ingest({events[0], events[1]});
  v1::AnalyzeTraceRequest request;
  request.set_trace_id(trace);
  v1::AnalyzeTraceResponse before;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::AnalyzeTrace, request, &before).ok());
  EXPECT_EQ(before.summary().event_count(), 2u);
  EXPECT_EQ(before.races_size(), 0);
  Ingest({events[2], events[3]});  // The cached analysis is now stale.
  v1::AnalyzeTraceResponse after;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::AnalyzeTrace, request, &after).ok());
  EXPECT_EQ(after.summary().event_count(), 4u);
  EXPECT_EQ(after.races_size(), 1);
}

TEST_P(QueryServerTest, TwoServicesLinkedBySpans) {
  Start();
  const std::string trace = model::NewUuidV4();
  v1::Event call = At(trace, "gw-1", 0, 5, "gateway");
  call.mutable_http_request()->set_method("POST");
  call.mutable_http_request()->set_url("http://payments/charge");
  call.mutable_metadata()->set_distributed_span_id("span-gw");
  v1::Event handled = At(trace, "pay-1", 1, 3, "payments");
  handled.mutable_function_call()->set_function_name("charge");
  handled.mutable_metadata()->set_distributed_span_id("span-pay");
  handled.mutable_metadata()->set_upstream_span_id("span-gw");
  Ingest({handled, call});  // Callee first: order-free.
  v1::GetDependenciesRequest request;
  request.set_trace_id(trace);
  v1::TraceDependencies deps;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetDependencies, request, &deps).ok());
  ASSERT_EQ(deps.services_size(), 2);
  EXPECT_EQ(deps.services(0).name(), "gateway");
  EXPECT_EQ(deps.services(1).name(), "payments");
  ASSERT_EQ(deps.edges_size(), 1);
  EXPECT_EQ(deps.edges(0).from(), "gateway");
  EXPECT_EQ(deps.edges(0).to(), "payments");
  EXPECT_EQ(deps.edges(0).call_count(), 1u);
  v1::HappensBeforeRequest hb_req;
  hb_req.set_event_a(call.id());
  hb_req.set_event_b(handled.id());
  v1::HappensBeforeResponse hb;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::HappensBefore, hb_req, &hb).ok());
  EXPECT_EQ(hb.relation(), v1::HAPPENS_BEFORE_RELATION_BEFORE);

  v1::ListDistributedEdgesResponse edges;
  ASSERT_TRUE(
      Call(&v1::QueryService::Stub::ListDistributedEdges, v1::ListDistributedEdgesRequest{}, &edges)
          .ok());
  ASSERT_EQ(edges.edges_size(), 1);
  EXPECT_EQ(edges.edges(0).from_service(), "gateway");
  EXPECT_EQ(edges.edges(0).to_service(), "payments");
  EXPECT_EQ(edges.edges(0).link_type(), v1::EDGE_LINK_TYPE_HTTP_CALL);
  v1::ListServicesResponse services;
  ASSERT_TRUE(
      Call(&v1::QueryService::Stub::ListServices, v1::ListServicesRequest{}, &services).ok());
  ASSERT_EQ(services.services_size(), 2);
  v1::GetServiceDependenciesRequest sd_req;
  sd_req.set_service("gateway");
  v1::GetServiceDependenciesResponse sd;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetServiceDependencies, sd_req, &sd).ok());
  ASSERT_EQ(sd.services_size(), 1);
  ASSERT_EQ(sd.services(0).calls_to_size(), 1);
  EXPECT_EQ(sd.services(0).calls_to(0).service(), "payments");
  v1::GetServiceHealthResponse health;
  ASSERT_TRUE(
      Call(&v1::QueryService::Stub::GetServiceHealth, v1::GetServiceHealthRequest{}, &health).ok());
  ASSERT_EQ(health.services_size(), 2);
  // The fixture's events are from 2026-01-01: long silent.
  EXPECT_EQ(health.services(0).status(), v1::HEALTH_STATUS_CRITICAL);
}

TEST_P(QueryServerTest, PaginationOver150TracesLosesAndRepeatsNothing) {
  Start();
  std::set<std::string> expected;
  std::vector<v1::Event> batch;
  for (int i = 0; i < 150; ++i) {
    const std::string trace = model::NewUuidV4();
    expected.insert(trace);
    batch.push_back(At(trace, "main", i, 1));
  }
  Ingest(batch);
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  int64_t previous_last = INT64_MAX;
  do {
    v1::ListTracesRequest request;
    request.set_page_size(40);
    request.set_page_token(token);
    v1::ListTracesResponse response;
    ASSERT_TRUE(Call(&v1::QueryService::Stub::ListTraces, request, &response).ok());
    // Counted on the first page only (a scan); later pages say 0.
    EXPECT_EQ(response.total_count(), pages == 0 ? 150u : 0u);
    for (const auto& t : response.traces()) {
      EXPECT_TRUE(seen.insert(t.trace_id()).second) << "repeated " << t.trace_id();
      const int64_t last = t.last_timestamp().seconds() * 1000000000 + t.last_timestamp().nanos();
      EXPECT_LE(last, previous_last);  // newest first
      previous_last = last;
    }
    if (pages == 0) {
      // Writes continue while paging: a newer trace must not shift pages.
      Ingest({At(model::NewUuidV4(), "main", 100000, 1)});
    }
    token = response.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 20);
  EXPECT_EQ(pages, 4);
  for (const auto& t : expected) EXPECT_TRUE(seen.count(t)) << "lost " << t;
}

TEST_P(QueryServerTest, ErrorsAreNotFoundAndInvalidArgument) {
  Start();
  v1::AnalyzeTraceRequest request;
  v1::AnalyzeTraceResponse response;
  request.set_trace_id(model::NewUuidV4());
  EXPECT_EQ(Call(&v1::QueryService::Stub::AnalyzeTrace, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  request.set_trace_id("nope");
  grpc::Status s = Call(&v1::QueryService::Stub::AnalyzeTrace, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("trace_id"));
  v1::GetTraceRequest get;
  get.set_trace_id("");
  v1::GetTraceResponse trace;
  EXPECT_EQ(Call(&v1::QueryService::Stub::GetTrace, get, &trace).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListTracesRequest list;
  list.set_page_token("garbage!");
  v1::ListTracesResponse traces;
  EXPECT_EQ(Call(&v1::QueryService::Stub::ListTraces, list, &traces).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::HappensBeforeRequest hb;
  hb.set_event_a(model::NewUuidV4());
  hb.set_event_b("x");
  v1::HappensBeforeResponse hbr;
  s = Call(&v1::QueryService::Stub::HappensBefore, hb, &hbr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("event_b"));
  v1::GetAuditTrailRequest audit;
  v1::GetAuditTrailResponse audit_response;
  s = Call(&v1::QueryService::Stub::GetAuditTrail, audit, &audit_response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("variable"));
}

TEST_P(QueryServerTest, ApiKeyRequiredWhenConfigured) {
  config_.auth.query_keys = {"q-key"};
  Start();
  v1::ListTracesResponse response;
  EXPECT_EQ(
      Call(&v1::QueryService::Stub::ListTraces, v1::ListTracesRequest{}, &response).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(
      Call(&v1::QueryService::Stub::ListTraces, v1::ListTracesRequest{}, &response, "q-key").ok());
}

TEST_P(QueryServerTest, GlobalRacesAcrossTraces) {
  Start();
  // Two traces write the same variable 10 ms apart with no ordering.
  const std::string t1 = model::NewUuidV4(), t2 = model::NewUuidV4();
  v1::Event a = Write(t1, "w", 0, 1, 0, 1, "a.rs:1");
  v1::Event b = Write(t2, "w", 10, 1, 1, 2, "b.rs:2");
  v1::Event far = Write(model::NewUuidV4(), "w", 5000, 1, 2, 3, "c.rs:3");  // outside 1 s
  Ingest({a, b, far});
  v1::FindGlobalRacesRequest request;
  request.set_variable("balance");
  v1::FindGlobalRacesResponse response;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::FindGlobalRaces, request, &response).ok());
  ASSERT_EQ(response.races_size(), 1);
  EXPECT_EQ(response.races(0).first().event_id(), a.id());
  EXPECT_EQ(response.races(0).second().event_id(), b.id());
  EXPECT_EQ(response.races(0).severity(), v1::RACE_SEVERITY_CRITICAL);
  EXPECT_EQ(response.races(0).gap_ns(), 10000000u);
  // Hotspots see the variable.
  v1::GetHotspotsResponse hot;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetHotspots, v1::GetHotspotsRequest{}, &hot).ok());
  ASSERT_GE(hot.variables_size(), 1);
  EXPECT_EQ(hot.variables(0).variable(), "balance");
  EXPECT_EQ(hot.variables(0).access_count(), 3u);
  v1::GetPerformanceMetricsResponse perf;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetPerformanceMetrics,
                   v1::GetPerformanceMetricsRequest{}, &perf)
                  .ok());
  EXPECT_EQ(perf.trace_count(), 3u);
  EXPECT_EQ(perf.event_count(), 3u);
}

// Without a variable filter, pages walk every variable in name order; a
// page may end inside a variable's window. Paging must give exactly the
// races of one big page.
TEST_P(QueryServerTest, GlobalRacesPageAcrossVariablesWithoutRepeats) {
  Start();
  std::vector<v1::Event> events;
  for (const char* variable : {"alpha", "beta", "gamma"}) {
    for (int i = 0; i < 4; ++i) {  // 4 traces, 1 ms apart: 6 racing pairs.
      v1::Event e = Write(model::NewUuidV4(), "w", i, 1, i, i + 1, "x.rs:1");
      e.mutable_state_change()->set_variable(variable);
      events.push_back(e);
    }
  }
  Ingest(events);
  auto pairs = [this](uint32_t page_size) {
    std::vector<std::string> out;
    v1::FindGlobalRacesRequest request;
    request.set_page_size(page_size);
    do {
      v1::FindGlobalRacesResponse response;
      EXPECT_TRUE(Call(&v1::QueryService::Stub::FindGlobalRaces, request, &response).ok());
      for (const auto& r : response.races()) {
        out.push_back(
            absl::StrCat(r.variable(), ":", r.first().event_id(), ">", r.second().event_id()));
      }
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty() && out.size() < 1000);
    return out;
  };
  const auto whole = pairs(1000);
  ASSERT_EQ(whole.size(), 18u);
  for (uint32_t page_size : {1u, 4u, 5u}) {
    auto paged = pairs(page_size);
    EXPECT_EQ(paged, whole) << "page_size " << page_size;
  }
}

// gRPC-Web framing by hand over HTTP/1.1 (the Node test uses connect-web).
TEST_P(QueryServerTest, GrpcWebServesEveryRpcAndCors) {
  config_.metrics.query_listen = "127.0.0.1:0";
  Start();
  const std::string trace = model::NewUuidV4();
  Ingest(BankScenario(trace));
  httplib::Client http("127.0.0.1", query_->grpc_web_port());
  v1::AnalyzeTraceRequest request;
  request.set_trace_id(trace);
  auto res = http.Post("/raceway.v1.QueryService/AnalyzeTrace",
                       httplib::Headers{{"Origin", "http://dashboard.test"}, {"X-Grpc-Web", "1"}},
                       service::GrpcWebFrame(0, request.SerializeAsString()),
                       "application/grpc-web+proto");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "http://dashboard.test");
  const std::string& body = res->body;
  ASSERT_GT(body.size(), 5u);
  ASSERT_EQ(body[0], 0);
  const uint32_t len = (uint8_t(body[1]) << 24) | (uint8_t(body[2]) << 16) |
                       (uint8_t(body[3]) << 8) | uint8_t(body[4]);
  v1::AnalyzeTraceResponse response;
  ASSERT_TRUE(response.ParseFromString(body.substr(5, len)));
  EXPECT_EQ(response.races_size(), 1);
  const std::string trailer = body.substr(5 + len);
  ASSERT_GE(trailer.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(trailer[0]), 0x80);
  EXPECT_THAT(trailer, HasSubstr("grpc-status:0"));

  // Errors arrive in the trailers frame.
  request.set_trace_id("bad");
  res = http.Post("/raceway.v1.QueryService/AnalyzeTrace",
                  service::GrpcWebFrame(0, request.SerializeAsString()),
                  "application/grpc-web+proto");
  ASSERT_TRUE(res);
  EXPECT_THAT(res->body, HasSubstr("grpc-status:3"));
  // CORS preflight: allowed origin vs. unknown origin.
  auto pre = http.Options("/raceway.v1.QueryService/ListTraces",
                          httplib::Headers{{"Origin", "http://dashboard.test"},
                                           {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_THAT(pre->get_header_value("Access-Control-Allow-Headers"), HasSubstr("x-grpc-web"));
  pre = http.Options("/raceway.v1.QueryService/ListTraces",
                     httplib::Headers{{"Origin", "http://evil.test"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 403);
  // Wrong content type.
  res = http.Post("/raceway.v1.QueryService/ListTraces", "{}", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 415);
  // Metrics endpoint counts the calls.
  httplib::Client metrics("127.0.0.1", query_->metrics_port());
  auto m = metrics.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_THAT(m->body, HasSubstr("raceway_query_rpc_seconds"));
  EXPECT_THAT(m->body, HasSubstr("method=\"AnalyzeTrace\""));
}

// ---------------------------------------------------------------- diagnostics

constexpr char kPyComponent[] = "py-shop#vm-5315";

// One Python SDK request context: every event carries the process-wide
// component "<service>#<instance>" with the context's own counter (from 0)
// and names the context's previous event as its parent.
std::vector<v1::Event> PythonContext(const std::string& trace, const std::string& thread,
                                     int64_t start_ms, int calls, int read_value, int write_value,
                                     const std::string& location) {
  std::vector<v1::Event> out;
  const int total = calls + 2;
  for (int i = 0; i < total; ++i) {
    v1::Event e = At(trace, thread, start_ms + i, i < calls ? 2 : 0, "py-shop");
    if (i >= calls) {  // Read, then Write, of balance.
      auto* sc = e.mutable_state_change();
      sc->set_variable("balance");
      sc->set_access_type(i == calls ? v1::ACCESS_TYPE_READ : v1::ACCESS_TYPE_WRITE);
      if (i == calls) {
        sc->mutable_new_value()->set_number_value(read_value);
      } else {
        sc->mutable_old_value()->set_number_value(read_value);
        sc->mutable_new_value()->set_number_value(write_value);
      }
      sc->set_location(absl::StrCat(location, ":", i));
      e.mutable_metadata()->clear_duration_ns();
    }
    auto* entry = e.add_causality_vector();
    entry->set_component(kPyComponent);
    entry->set_clock(static_cast<uint64_t>(i + 1));
    if (!out.empty()) e.set_parent_id(out.back().id());
    out.push_back(std::move(e));
  }
  return out;
}

// A trace with one input problem of each kind:
//  - the Flask lost update of issue 12 (two contexts sharing one client
//    clock component: 4 < 5 would order them; 3 races without it);
//  - an orphan (parent_id names no event of the trace);
//  - a TypeScript-style skewed parent on one thread (the child's timestamp
//    is earlier than its parent's);
//  - events without duration (the critical path counts them as 0).
struct DiagnosticsTrace {
  std::vector<v1::Event> events;
  std::string orphan, skewed_child;
};

DiagnosticsTrace MakeDiagnosticsTrace(const std::string& trace) {
  DiagnosticsTrace t;
  t.events = PythonContext(trace, "python-5315-b4f01c38", 0, 2, 10, 9, "app.py");
  for (auto& e : PythonContext(trace, "python-5315-ed6298ae", 1, 4, 10, 15, "shop.py")) {
    t.events.push_back(std::move(e));
  }
  // A call without duration inside the heaviest chain (the second context's
  // calls), so the critical path goes through it.
  t.events[5].mutable_metadata()->clear_duration_ns();
  v1::Event orphan = At(trace, "python-5315-c0ffee00", 3, 1, "py-shop");
  orphan.set_parent_id(model::NewUuidV4());
  t.orphan = orphan.id();
  t.events.push_back(orphan);
  v1::Event parent = At(trace, "node-77-1f2e3d4c", 20, 1, "web");
  v1::Event child = At(trace, "node-77-1f2e3d4c", 19, 1, "web");
  child.set_parent_id(parent.id());
  t.skewed_child = child.id();
  t.events.push_back(parent);
  t.events.push_back(child);
  return t;
}

// (kind, subject) -> diagnostic; every (kind, subject) at most once.
std::map<std::pair<v1::DiagnosticKind, std::string>, v1::AnalysisDiagnostic> ByKind(
    const google::protobuf::RepeatedPtrField<v1::AnalysisDiagnostic>& diagnostics) {
  std::map<std::pair<v1::DiagnosticKind, std::string>, v1::AnalysisDiagnostic> out;
  for (const auto& d : diagnostics) {
    EXPECT_TRUE(out.emplace(std::pair{d.kind(), d.subject()}, d).second) << d.ShortDebugString();
    EXPECT_FALSE(d.message().empty()) << d.ShortDebugString();
    EXPECT_LE(d.event_ids_size(), 5);
  }
  return out;
}

TEST_P(QueryServerTest, DiagnosticsSayWhatTheAnalysisDid) {
  Start();
  const std::string trace = model::NewUuidV4();
  const DiagnosticsTrace input = MakeDiagnosticsTrace(trace);
  Ingest(input.events);
  const auto ignored =
      std::pair{v1::DIAGNOSTIC_KIND_IGNORED_CLIENT_CLOCK, std::string(kPyComponent)};
  const auto reordered =
      std::pair{v1::DIAGNOSTIC_KIND_REORDERED_EVENTS, std::string("node-77-1f2e3d4c")};
  const auto orphans = std::pair{v1::DIAGNOSTIC_KIND_MISSING_PARENTS, std::string()};
  const auto durations = std::pair{v1::DIAGNOSTIC_KIND_MISSING_DURATIONS, std::string()};

  v1::AnalyzeTraceRequest request;
  request.set_trace_id(trace);
  v1::AnalyzeTraceResponse analyzed;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::AnalyzeTrace, request, &analyzed).ok());
  EXPECT_EQ(analyzed.race_count(), 3u);  // The client clock is not used.
  auto all = ByKind(analyzed.diagnostics());
  ASSERT_EQ(all.size(), 4u) << analyzed.ShortDebugString();
  ASSERT_TRUE(all.contains(ignored) && all.contains(reordered) && all.contains(orphans) &&
              all.contains(durations));
  EXPECT_EQ(all[ignored].count(), 10u);  // Every event of both contexts carries it.
  for (const auto& id : all[ignored].event_ids()) {
    EXPECT_TRUE(std::any_of(input.events.begin(), input.events.begin() + 10,
                            [&](const v1::Event& e) { return e.id() == id; }))
        << id;
  }
  EXPECT_EQ(all[reordered].count(), 1u);
  EXPECT_THAT(all[reordered].event_ids(), ::testing::ElementsAre(input.skewed_child));
  EXPECT_EQ(all[orphans].count(), 1u);
  EXPECT_THAT(all[orphans].event_ids(), ::testing::ElementsAre(input.orphan));
  // The path's steps without duration, as event ids.
  std::set<std::string> no_duration;
  for (const auto& step : analyzed.critical_path().steps()) {
    if (step.duration_ns() == 0) no_duration.insert(step.event_id());
  }
  ASSERT_FALSE(no_duration.empty());
  EXPECT_EQ(all[durations].count(), no_duration.size());
  for (const auto& id : all[durations].event_ids()) EXPECT_TRUE(no_duration.contains(id)) << id;
  // Once, at the top level.
  EXPECT_EQ(analyzed.critical_path().diagnostics_size(), 0);

  // GetRaces, first page: all but MISSING_DURATIONS; later pages: none.
  v1::GetRacesRequest races_request;
  races_request.set_trace_id(trace);
  races_request.set_page_size(2);
  v1::GetRacesResponse races;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetRaces, races_request, &races).ok());
  EXPECT_EQ(races.total_count(), 3u);
  auto on_races = ByKind(races.diagnostics());
  EXPECT_EQ(on_races.size(), 3u);
  EXPECT_FALSE(on_races.contains(durations));
  EXPECT_EQ(on_races[ignored].SerializeAsString(), all[ignored].SerializeAsString());
  EXPECT_EQ(on_races[orphans].SerializeAsString(), all[orphans].SerializeAsString());
  ASSERT_FALSE(races.next_page_token().empty());
  races_request.set_page_token(races.next_page_token());
  v1::GetRacesResponse second;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetRaces, races_request, &second).ok());
  EXPECT_EQ(second.races_size(), 1);
  EXPECT_EQ(second.diagnostics_size(), 0);

  // GetCriticalPath: all but IGNORED_CLIENT_CLOCK.
  v1::GetCriticalPathRequest path_request;
  path_request.set_trace_id(trace);
  v1::CriticalPath path;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetCriticalPath, path_request, &path).ok());
  auto on_path = ByKind(path.diagnostics());
  EXPECT_EQ(on_path.size(), 3u);
  EXPECT_FALSE(on_path.contains(ignored));
  EXPECT_EQ(on_path[durations].SerializeAsString(), all[durations].SerializeAsString());
  EXPECT_EQ(on_path[reordered].SerializeAsString(), all[reordered].SerializeAsString());
}

// analysis.client_clocks: "trust" lets the shared component order the two
// contexts (the lost update disappears); "ignore" never uses client vectors.
TEST_P(QueryServerTest, ClientClocksConfigChangesTheRaces) {
  const std::string trace = model::NewUuidV4();
  const DiagnosticsTrace input = MakeDiagnosticsTrace(trace);
  for (const auto& [mode, races] :
       {std::pair{"trust", 0u}, std::pair{"ignore", 3u}, std::pair{"auto", 3u}}) {
    SCOPED_TRACE(mode);
    query_.reset();
    config_.analysis.client_clocks = mode;
    auto query = QueryServer::Start(config_, reader_);
    ASSERT_TRUE(query.ok()) << query.status();
    query_ = std::move(*query);
    stub_ = v1::QueryService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", query_->grpc_port()), grpc::InsecureChannelCredentials()));
    if (!ingest_) {
      auto ingest = ingest::IngestServer::Start(config_, writer_);
      ASSERT_TRUE(ingest.ok()) << ingest.status();
      ingest_ = std::move(*ingest);
      ingest_stub_ = v1::IngestService::NewStub(grpc::CreateChannel(
          absl::StrCat("127.0.0.1:", ingest_->grpc_port()), grpc::InsecureChannelCredentials()));
      Ingest(input.events);
    }
    v1::AnalyzeTraceRequest request;
    request.set_trace_id(trace);
    v1::AnalyzeTraceResponse r;
    ASSERT_TRUE(Call(&v1::QueryService::Stub::AnalyzeTrace, request, &r).ok());
    EXPECT_EQ(r.race_count(), races);
    // Only "auto" judges components; the other modes decide for all of them.
    const bool reported = std::any_of(r.diagnostics().begin(), r.diagnostics().end(), [](auto& d) {
      return d.kind() == v1::DIAGNOSTIC_KIND_IGNORED_CLIENT_CLOCK;
    });
    EXPECT_EQ(reported, std::string(mode) == "auto");
  }
}

TEST_P(QueryServerTest, BadClientClocksConfigIsRefusedWithTheKey) {
  config_.analysis.client_clocks = "sometimes";
  auto query = QueryServer::Start(config_, reader_);
  ASSERT_FALSE(query.ok());
  EXPECT_EQ(query.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(query.status().message(), HasSubstr("analysis.client_clocks"));
}

// Issue 13 bug 8: a page holds at most page_size races (capped at the
// server max) even when one access races with many, and tokens resume
// exactly.
TEST_P(QueryServerTest, GlobalRacesPagesRespectThePageSizeCap) {
  config_.query.max_page_size = 50;
  Start();
  std::vector<v1::Event> events;
  for (int i = 0; i < 30; ++i) {  // 30 traces, 1 ms apart: 435 racing pairs.
    events.push_back(Write(model::NewUuidV4(), "w", i, 1, i, i + 1, "x.rs:1"));
  }
  Ingest(events);
  auto pairs = [this](uint32_t page_size, size_t cap) {
    std::vector<std::string> out;
    v1::FindGlobalRacesRequest request;
    request.set_page_size(page_size);
    do {
      v1::FindGlobalRacesResponse response;
      EXPECT_TRUE(Call(&v1::QueryService::Stub::FindGlobalRaces, request, &response).ok());
      EXPECT_LE(static_cast<size_t>(response.races_size()), cap) << "page_size " << page_size;
      for (const auto& r : response.races()) {
        out.push_back(absl::StrCat(r.first().event_id(), ">", r.second().event_id()));
      }
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty() && out.size() < 10000);
    return out;
  };
  const auto whole = pairs(0xffffffffu, 50);
  ASSERT_EQ(whole.size(), 435u);
  EXPECT_EQ(std::set<std::string>(whole.begin(), whole.end()).size(), 435u);
  for (uint32_t page_size : {1u, 5u, 29u, 1000u}) {
    EXPECT_EQ(pairs(page_size, std::min(page_size, 50u)), whole) << "page_size " << page_size;
  }
}

// Issue 13 risk "identifier case": ids are accepted in upper case, as ingest
// accepts them.
TEST_P(QueryServerTest, UpperCaseIdsAreAccepted) {
  Start();
  const std::string trace = model::NewUuidV4();
  v1::Event a = Write(trace, "t1", 0, 1, 0, 1, "a.rs:1");
  v1::Event b = Write(trace, "t2", 5, 1, 1, 2, "b.rs:2");
  Ingest({a, b});
  v1::GetTraceRequest get;
  get.set_trace_id(absl::AsciiStrToUpper(trace));
  v1::GetTraceResponse got;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::GetTrace, get, &got).ok());
  EXPECT_EQ(got.summary().trace_id(), trace);
  EXPECT_EQ(got.events_size(), 2);
  v1::AnalyzeTraceRequest analyze;
  analyze.set_trace_id(absl::AsciiStrToUpper(trace));
  v1::AnalyzeTraceResponse analyzed;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::AnalyzeTrace, analyze, &analyzed).ok());
  EXPECT_EQ(analyzed.summary().trace_id(), trace);
  EXPECT_EQ(analyzed.races_size(), 1);
  v1::HappensBeforeRequest hb;
  hb.set_event_a(absl::AsciiStrToUpper(a.id()));
  hb.set_event_b(absl::AsciiStrToUpper(b.id()));
  v1::HappensBeforeResponse rel;
  ASSERT_TRUE(Call(&v1::QueryService::Stub::HappensBefore, hb, &rel).ok());
  EXPECT_EQ(rel.relation(), v1::HAPPENS_BEFORE_RELATION_CONCURRENT);
  hb.set_event_a("not-a-uuid");
  EXPECT_EQ(Call(&v1::QueryService::Stub::HappensBefore, hb, &rel).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Issue 13 bug 6: time ranges reaching beyond the int64-nanosecond range
// mean "everything" on that side instead of overflowing.
TEST_P(QueryServerTest, TimeRangesBeyondTheNanosecondRangeClamp) {
  Start();
  Ingest({Write(model::NewUuidV4(), "w", 0, 1, 0, 1, "a.rs:1"),
          Write(model::NewUuidV4(), "w", 10, 1, 1, 2, "b.rs:2")});
  const std::vector<std::pair<int64_t, int64_t>> ranges = {
      {0, 9224000000},               // 1970 .. 2263.
      {-62135596800, 253402300799},  // Year 1 .. year 9999.
      {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}};
  for (auto [start, end] : ranges) {
    v1::ListTracesRequest list;
    list.mutable_time_range()->mutable_start()->set_seconds(start);
    list.mutable_time_range()->mutable_end()->set_seconds(end);
    v1::ListTracesResponse traces;
    ASSERT_TRUE(Call(&v1::QueryService::Stub::ListTraces, list, &traces).ok()) << start;
    EXPECT_EQ(traces.traces_size(), 2) << start;
    v1::FindGlobalRacesRequest races;
    *races.mutable_time_range() = list.time_range();
    v1::FindGlobalRacesResponse found;
    ASSERT_TRUE(Call(&v1::QueryService::Stub::FindGlobalRaces, races, &found).ok()) << start;
    EXPECT_EQ(found.races_size(), 1) << start;
  }
  v1::ListTracesRequest reversed;
  reversed.mutable_time_range()->mutable_start()->set_seconds(9224000000);
  reversed.mutable_time_range()->mutable_end()->set_seconds(0);
  v1::ListTracesResponse none;
  EXPECT_EQ(Call(&v1::QueryService::Stub::ListTraces, reversed, &none).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

INSTANTIATE_TEST_SUITE_P(Backends, QueryServerTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace raceway::query
