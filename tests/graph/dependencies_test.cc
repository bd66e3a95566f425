// Service dependencies of a trace.

#include "libs/graph/dependencies.h"

#include <vector>

#include "gtest/gtest.h"
#include "libs/graph/compact_trace.h"
#include "tests/graph/builders.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;
using testing::TraceBuilder;

TraceDependencies Deps(const std::vector<Event>& events) {
  auto t = CompactTrace::Build(events);
  EXPECT_TRUE(t.ok());
  return ComputeDependencies(*t);
}

Event& InService(Event& e, const std::string& service) {
  e.mutable_metadata()->set_service_name(service);
  return e;
}

TEST(DependenciesTest, SingleServiceTraceListsItsService) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "a");
  b.Call("main", 1, "b", &root);
  const auto deps = Deps(b.Events());
  ASSERT_EQ(deps.services.size(), 1u);
  EXPECT_EQ(deps.services[0].name, "svc");
  EXPECT_EQ(deps.services[0].event_count, 2u);
  EXPECT_TRUE(deps.edges.empty());
}

TEST(DependenciesTest, ParentEdgesAcrossServicesWithLinkTypes) {
  TraceBuilder b;
  Event& root = InService(b.Call("main", 0, "handle"), "api");
  Event& req = InService(b.At("main", 1, &root), "api");
  req.mutable_http_request()->set_method("GET");
  InService(b.Call("h1", 2, "serve", &req), "users");  // HttpCall (caller is HttpRequest).
  InService(b.Call("h2", 3, "serve", &req), "users");  // HttpCall.
  Event& q = InService(b.At("db1", 4, &root), "db");   // DatabaseQuery (callee kind).
  q.mutable_database_query()->set_query("SELECT 1");
  Event& g = InService(b.Call("g1", 5, "rpc", &root), "billing");
  (*g.mutable_metadata()->mutable_tags())["rpc.system"] = "grpc";
  Event& m = InService(b.Call("m1", 6, "consume", &root), "worker");
  (*m.mutable_metadata()->mutable_tags())["messaging.system"] = "kafka";
  Event& x = InService(b.Call("x1", 7, "custom", &root), "cron");
  Event& forced = InService(b.Call("x2", 8, "forced", &x), "audit");
  (*forced.mutable_metadata()->mutable_tags())["link_type"] = "MessageQueue";
  InService(b.Call("main", 9, "local", &root), "api");  // Same service: no call.
  const auto deps = Deps(b.Events());
  ASSERT_EQ(deps.services.size(), 7u);
  EXPECT_EQ(deps.services[0].name, "api");
  EXPECT_EQ(deps.services[0].event_count, 3u);
  std::vector<std::tuple<std::string, std::string, uint64_t, LinkType>> got;
  for (const auto& e : deps.edges) got.emplace_back(e.from, e.to, e.call_count, e.link_type);
  const std::vector<std::tuple<std::string, std::string, uint64_t, LinkType>> want = {
      {"api", "billing", 1, LinkType::kGrpcCall},    {"api", "cron", 1, LinkType::kCustom},
      {"api", "db", 1, LinkType::kDatabaseQuery},    {"api", "users", 2, LinkType::kHttpCall},
      {"api", "worker", 1, LinkType::kMessageQueue}, {"cron", "audit", 1, LinkType::kMessageQueue}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(LinkTypeName(LinkType::kGrpcCall), "GrpcCall");
}

TEST(DependenciesTest, SpanLinksCountOncePerDownstreamSpan) {
  TraceBuilder b;
  Event& a1 = InService(b.Call("api", 0, "call"), "api");
  a1.mutable_metadata()->set_distributed_span_id("span-api");
  Event& req = InService(b.At("api", 1), "api");
  req.mutable_metadata()->set_distributed_span_id("span-api");
  req.mutable_http_request()->set_method("POST");
  for (int i = 0; i < 3; ++i) {  // Three events of one downstream span.
    Event& d = InService(b.Call("users", 10 + i, "handle"), "users");
    d.mutable_metadata()->set_distributed_span_id("span-users");
    d.mutable_metadata()->set_upstream_span_id("span-api");
  }
  // A second downstream span of the same service: a second call.
  Event& d2 = InService(b.Call("users", 20, "handle"), "users");
  d2.mutable_metadata()->set_distributed_span_id("span-users-2");
  d2.mutable_metadata()->set_upstream_span_id("span-api");
  // Linked by a parent edge AND the span: counted once (as the parent call).
  Event& d3 = InService(b.Call("users", 30, "handle", &a1), "users");
  d3.mutable_metadata()->set_distributed_span_id("span-users-3");
  d3.mutable_metadata()->set_upstream_span_id("span-api");
  // Upstream span missing from the trace: no call.
  Event& d4 = InService(b.Call("users", 40, "handle"), "users");
  d4.mutable_metadata()->set_upstream_span_id("span-elsewhere");
  const auto deps = Deps(b.Events());
  ASSERT_EQ(deps.edges.size(), 2u);
  EXPECT_EQ(deps.edges[0].from, "api");
  EXPECT_EQ(deps.edges[0].to, "users");
  EXPECT_EQ(deps.edges[0].link_type, LinkType::kHttpCall);  // Source: the HttpRequest.
  EXPECT_EQ(deps.edges[0].call_count, 2u);
  EXPECT_EQ(deps.edges[1].link_type, LinkType::kCustom);  // The parent edge from a1.
  EXPECT_EQ(deps.edges[1].call_count, 1u);
}

}  // namespace
}  // namespace raceway::graph
