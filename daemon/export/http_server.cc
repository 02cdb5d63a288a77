#include "daemon/export/http_server.h"

#include <civetweb.h>

#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/export/signals_json.h"
#include "daemon/signals/catalog.h"

namespace prodops::exporter {
namespace {

constexpr std::string_view kSignalsPath = "/api/v1/signals";
constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain; charset=utf-8";

struct Response {
  int status = 200;
  const char* content_type = kText;
  std::string body;
};

// Writes the whole response; HEAD gets the same headers without the body.
void Send(mg_connection* conn, const Response& response, bool head) {
  const std::string headers = absl::StrCat(
      "HTTP/1.1 ", response.status, " ", mg_get_response_code_text(conn, response.status),
      "\r\nContent-Type: ", response.content_type,
      "\r\nContent-Length: ", response.body.size(), "\r\nCache-Control: no-store\r\n",
      response.status == 405 ? "Allow: GET, HEAD\r\n" : "", "Connection: close\r\n\r\n");
  mg_write(conn, headers.data(), headers.size());
  if (!head) mg_write(conn, response.body.data(), response.body.size());
}

// One path. Civetweb hands an endpoint every method, and also the paths
// below its own ("/metrics/x"): what to do with them is the endpoint's call.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // Answers GET (and HEAD).
  virtual Response Get(const mg_request_info& request) const = 0;
  virtual Response MethodNotAllowed(const std::string& method) const {
    return {405, kText,
            absl::StrCat("method ", method, " not allowed; use GET or HEAD\n")};
  }
};

// The civetweb request handler of every endpoint; `data` is the Endpoint.
int Dispatch(mg_connection* conn, void* data) {
  const Endpoint& endpoint = *static_cast<const Endpoint*>(data);
  const mg_request_info& request = *mg_get_request_info(conn);
  const std::string method = request.request_method;
  const bool head = method == "HEAD";
  const Response response =
      head || method == "GET" ? endpoint.Get(request) : endpoint.MethodNotAllowed(method);
  Send(conn, response, head);
  return response.status;  // 1..999: handled, with this status in the access log
}

class MetricsEndpoint : public Endpoint {
 public:
  explicit MetricsEndpoint(const SnapshotBoard* board) : board_(board) {}
  Response Get(const mg_request_info&) const override {
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            SerializeExposition(board_->Latest()->families)};
  }

 private:
  const SnapshotBoard* board_;
};

class ReadyEndpoint : public Endpoint {
 public:
  explicit ReadyEndpoint(const SnapshotBoard* board) : board_(board) {}
  Response Get(const mg_request_info&) const override {
    if (board_->ready()) return {200, kText, "ready\n"};
    return {503, kText, absl::StrCat("not ready: ", board_->not_ready_reason(), "\n")};
  }

 private:
  const SnapshotBoard* board_;
};

class HealthEndpoint : public Endpoint {
 public:
  Response Get(const mg_request_info&) const override { return {200, kText, "ok\n"}; }
};

// Every metric and label name of the catalog, so that a filter on a signal
// that has no series yet is an empty answer and not an "unknown" error.
SignalsVocabulary CatalogVocabulary() {
  SignalsVocabulary vocabulary;
  for (const signals::MetricDef& def : signals::AllMetrics()) {
    vocabulary.metric_names.insert(def.name);
    vocabulary.label_names.insert(def.labels.begin(), def.labels.end());
  }
  // Windowed metrics get their `window` label at exposition (catalog.h).
  vocabulary.label_names.insert("window");
  return vocabulary;
}

class SignalsEndpoint : public Endpoint {
 public:
  explicit SignalsEndpoint(const SnapshotBoard* board)
      : board_(board), vocabulary_(CatalogVocabulary()) {}
  Response Get(const mg_request_info& request) const override {
    // Paths below this one are kept free for later versions of the API.
    if (request.local_uri == nullptr || request.local_uri != kSignalsPath) {
      return {404, kJson, RenderErrorJson("not found")};
    }
    SignalsResponse response = ServeSignals(
        *board_->Latest(), request.query_string == nullptr ? "" : request.query_string,
        vocabulary_);
    return {response.status, kJson, std::move(response.body)};
  }
  Response MethodNotAllowed(const std::string& method) const override {
    return {405, kJson,
            RenderErrorJson(
                absl::StrCat("method ", method, " not allowed; use GET or HEAD"))};
  }

 private:
  const SnapshotBoard* board_;
  const SignalsVocabulary vocabulary_;
};

}  // namespace

struct HttpServer::Impl {
  MetricsEndpoint metrics;
  ReadyEndpoint ready;
  HealthEndpoint health;
  SignalsEndpoint signals;
  mg_context* context = nullptr;

  explicit Impl(const SnapshotBoard* board)
      : metrics(board), ready(board), signals(board) {}
  // Stops the server, and with it every call into the endpoints, before they
  // are destroyed.
  ~Impl() {
    if (context != nullptr) mg_stop(context);
  }
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, const SnapshotBoard* board) {
  auto impl = std::make_unique<Impl>(board);
  const std::string threads = std::to_string(options.threads);
  const char* civet_options[] = {"listening_ports", options.listen_address.c_str(),
                                 "num_threads", threads.c_str(), nullptr};
  mg_callbacks callbacks{};
  mg_init_data init{&callbacks, nullptr, civet_options};
  unsigned error_code = 0;
  char error_text[256] = "";
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  impl->context = mg_start2(&init, &error);
  if (impl->context == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options.listen_address, ": ", error_text));
  }
  const std::pair<const char*, Endpoint*> endpoints[] = {
      {"/metrics", &impl->metrics},
      {"/readyz", &impl->ready},
      {"/healthz", &impl->health},
      {kSignalsPath.data(), &impl->signals},
  };
  for (const auto& [path, endpoint] : endpoints) {
    mg_set_request_handler(impl->context, path, &Dispatch, endpoint);
  }
  mg_server_port port{};
  const int port_count = mg_get_server_ports(impl->context, 1, &port);
  return std::unique_ptr<HttpServer>(
      new HttpServer(std::move(impl), port_count > 0 ? port.port : 0));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() = default;

}  // namespace prodops::exporter
