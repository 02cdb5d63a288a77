// The real HttpServer on 127.0.0.1:0, driven over a socket.

#include "daemon/export/http_server.h"

#include <cstdlib>
#include <vector>
#include <thread>
#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/support/http_client.h"

namespace prodops::exporter {
namespace {

using prometheus::MetricType;

using testing::HttpRequest;
using testing::HttpResponse;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto snapshot = std::make_shared<Snapshot>();
    snapshot->as_of_ms = 1'772'366'400'000;
    prometheus::MetricFamily tickets =
        MakeFamily("prodops_tickets_created_total", "Tickets created, by type.",
                   MetricType::Counter);
    AddSample(&tickets, {"ticket_type", "priority", "team"}, {"bug", "high", "payments"},
              5);
    AddSample(&tickets, {"ticket_type", "priority", "team"},
              {"incident", "urgent", "caf\xC3\xA9 \"ops\""}, 2);
    prometheus::MetricFamily resolution = MakeFamily(
        "prodops_ticket_resolution_seconds", "Time to resolve.", MetricType::Histogram);
    prometheus::ClientMetric& histogram = resolution.metric.emplace_back();
    histogram.label = {{"team", "payments"}};
    histogram.histogram.sample_count = 2;
    histogram.histogram.sample_sum = 90;
    histogram.histogram.bucket = {{1, 60}, {2, std::numeric_limits<double>::infinity()}};
    snapshot->families = {resolution, tickets};
    board_.Publish(snapshot);
    board_.SetReady(false, "no Kafka broker reachable");

    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start({.listen_address = "127.0.0.1:0"}, &board_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }

  SnapshotBoard board_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesTheSignalsAsJson) {
  HttpResponse response = HttpRequest(server_->port(), "GET", "/api/v1/signals");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(response.headers["content-length"], std::to_string(response.body.size()));
  EXPECT_EQ(response.headers["cache-control"], "no-store");

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(response.body).get(root), simdjson::SUCCESS) << response.body;
  EXPECT_EQ(std::string_view(root["as_of"]), "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(int64_t(root["as_of_ms"]), 1'772'366'400'000);
  simdjson::dom::array signals = root["signals"];
  ASSERT_EQ(signals.size(), 3u);
  EXPECT_EQ(std::string_view(signals.at(0)["type"]), "histogram");
  EXPECT_EQ(uint64_t(signals.at(0)["buckets"].at(0)["count"]), 1u);
  EXPECT_EQ(std::string_view(signals.at(2)["labels"]["team"]), "caf\xC3\xA9 \"ops\"");
  EXPECT_EQ(double(signals.at(2)["value"]), 2);
}

TEST_F(HttpServerTest, FiltersByNameAndLabelsFromTheQueryString) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;

  // The same helper the other integration tests use, for a plain GET.
  testing::HttpResponse by_team =
      testing::HttpGet(server_->port(), "/api/v1/signals?team=caf%C3%A9+%22ops%22");
  ASSERT_EQ(by_team.status, 200) << by_team.body;
  ASSERT_EQ(parser.parse(by_team.body).get(root), simdjson::SUCCESS);
  ASSERT_EQ(simdjson::dom::array(root["signals"]).size(), 1u);
  EXPECT_EQ(std::string_view(root["signals"].at(0)["labels"]["ticket_type"]), "incident");

  testing::HttpResponse by_name = testing::HttpGet(
      server_->port(),
      "/api/v1/signals?name=prodops_tickets_created_total&team=payments");
  ASSERT_EQ(by_name.status, 200) << by_name.body;
  ASSERT_EQ(parser.parse(by_name.body).get(root), simdjson::SUCCESS);
  ASSERT_EQ(simdjson::dom::array(root["signals"]).size(), 1u);
  EXPECT_EQ(double(root["signals"].at(0)["value"]), 5);

  // A catalog label and a catalog name with no series in this snapshot.
  testing::HttpResponse empty = testing::HttpGet(
      server_->port(), "/api/v1/signals?experiment=x&name=prodops_release_ticket_lift");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body,
            "{\"as_of\":\"2026-03-01T12:00:00.000Z\",\"as_of_ms\":1772366400000,"
            "\"signals\":[]}\n");
}

TEST_F(HttpServerTest, RefusesUnknownParametersWithAJsonError) {
  HttpResponse response = HttpRequest(server_->port(), "GET", "/api/v1/signals?teem=payments");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(
      response.body,
      "{\"error\":\"unknown parameter \\\"teem\\\": not \\\"name\\\" and not a label "
      "name of any signal\",\"parameter\":\"teem\"}\n");
}

TEST_F(HttpServerTest, PathsBelowTheApiAreNotFound) {
  HttpResponse response = HttpRequest(server_->port(), "GET", "/api/v1/signals/extra");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(response.body, "{\"error\":\"not found\"}\n");
}

TEST_F(HttpServerTest, HeadAnswersGetsHeadersWithoutABody) {
  for (const std::string path : {"/api/v1/signals?team=payments", "/metrics", "/readyz",
                                 "/healthz", "/api/v1/signals?teem=x"}) {
    HttpResponse get = HttpRequest(server_->port(), "GET", path);
    HttpResponse head = HttpRequest(server_->port(), "HEAD", path);
    EXPECT_EQ(head.status, get.status) << path;
    EXPECT_EQ(head.headers["content-type"], get.headers["content-type"]) << path;
    EXPECT_EQ(head.headers["content-length"], std::to_string(get.body.size())) << path;
    EXPECT_FALSE(get.body.empty()) << path;
    EXPECT_EQ(head.body, "") << path;
  }
}

TEST_F(HttpServerTest, OtherMethodsGet405OnEveryEndpoint) {
  for (const std::string method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    HttpResponse api = HttpRequest(server_->port(), method, "/api/v1/signals");
    EXPECT_EQ(api.status, 405) << method;
    EXPECT_EQ(api.headers["allow"], "GET, HEAD") << method;
    EXPECT_EQ(api.headers["content-type"], "application/json") << method;
    EXPECT_EQ(api.body,
              "{\"error\":\"method " + method + " not allowed; use GET or HEAD\"}\n");
    for (const std::string path : {"/metrics", "/readyz", "/healthz"}) {
      HttpResponse text = HttpRequest(server_->port(), method, path);
      EXPECT_EQ(text.status, 405) << method << " " << path;
      EXPECT_EQ(text.headers["allow"], "GET, HEAD") << method << " " << path;
      EXPECT_EQ(text.body, "method " + method + " not allowed; use GET or HEAD\n");
    }
  }
}

TEST_F(HttpServerTest, ExistingEndpointsKeepTheirAnswers) {
  HttpResponse metrics = HttpRequest(server_->port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("prodops_tickets_created_total{ticket_type=\"bug\","
                              "priority=\"high\",team=\"payments\"} 5\n"),
            std::string::npos)
      << metrics.body;
  HttpResponse ready = HttpRequest(server_->port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "not ready: no Kafka broker reachable\n");
  board_.SetReady(true, "");
  EXPECT_EQ(HttpRequest(server_->port(), "GET", "/readyz").body, "ready\n");
  EXPECT_EQ(HttpRequest(server_->port(), "GET", "/healthz").body, "ok\n");
}

TEST_F(HttpServerTest, ServesTheLatestPublishedSnapshot) {
  auto next = std::make_shared<Snapshot>();
  next->as_of_ms = 1'772'366'401'500;
  board_.Publish(next);
  EXPECT_EQ(testing::HttpGet(server_->port(), "/api/v1/signals").body,
            "{\"as_of\":\"2026-03-01T12:00:01.500Z\",\"as_of_ms\":1772366401500,"
            "\"signals\":[]}\n");
}

// The pipeline thread publishes snapshots and flips readiness while HTTP
// worker threads serve them: every response is one whole snapshot (run
// under ThreadSanitizer by ./scripts/test).
TEST_F(HttpServerTest, ConcurrentPublishesAndRequestsSeeWholeSnapshots) {
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto next = std::make_shared<Snapshot>();
      next->as_of_ms = 1'772'366'400'000 + i;
      prometheus::MetricFamily family =
          MakeFamily("prodops_events_ingested_total", "Events.", MetricType::Counter);
      AddSample(&family, {"topic"}, {"t"}, i);
      AddSample(&family, {"topic"}, {"u"}, i);
      next->families.push_back(std::move(family));
      board_.Publish(next);
      board_.SetReady(i % 2 == 0, "flipping");
    }
  });
  std::vector<std::thread> readers;
  std::atomic<int> whole{0};
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      for (int i = 0; i < 30; ++i) {
        const std::string body = testing::HttpGet(server_->port(), "/metrics").body;
        // Both series of one snapshot carry the same value.
        const size_t t = body.find("{topic=\"t\"} ");
        const size_t u = body.find("{topic=\"u\"} ");
        if (t == std::string::npos || u == std::string::npos) continue;
        const std::string tv = body.substr(t + 12, body.find('\n', t) - t - 12);
        const std::string uv = body.substr(u + 12, body.find('\n', u) - u - 12);
        EXPECT_EQ(tv, uv);
        ++whole;
        HttpRequest(server_->port(), "GET", "/readyz");
        HttpRequest(server_->port(), "GET", "/api/v1/signals");
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  stop = true;
  publisher.join();
  EXPECT_GT(whole.load(), 0);
}

TEST(HttpServerStartTest, ABusyPortIsAnErrorNamingTheAddress) {
  SnapshotBoard board;
  absl::StatusOr<std::unique_ptr<HttpServer>> first =
      HttpServer::Start({.listen_address = "127.0.0.1:0"}, &board);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string address = "127.0.0.1:" + std::to_string((*first)->port());
  absl::StatusOr<std::unique_ptr<HttpServer>> second =
      HttpServer::Start({.listen_address = address}, &board);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(std::string(second.status().message())
                  .starts_with("cannot serve HTTP on " + address + ": "))
      << second.status();
}

}  // namespace
}  // namespace prodops::exporter
