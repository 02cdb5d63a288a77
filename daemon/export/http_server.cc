#include "daemon/export/http_server.h"

#include <CivetServer.h>

#include "absl/strings/str_cat.h"

namespace prodops::exporter {
namespace {

void Reply(mg_connection* conn, int status, const char* content_type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, mg_get_response_code_text(conn, status), content_type, body.size());
  mg_write(conn, body.data(), body.size());
}

class MetricsHandler : public CivetHandler {
 public:
  explicit MetricsHandler(const SnapshotBoard* board) : board_(board) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
          SerializeExposition(board_->Latest()->families));
    return true;
  }

 private:
  const SnapshotBoard* board_;
};

class ReadyHandler : public CivetHandler {
 public:
  explicit ReadyHandler(const SnapshotBoard* board) : board_(board) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    if (board_->ready()) {
      Reply(conn, 200, "text/plain; charset=utf-8", "ready\n");
    } else {
      Reply(conn, 503, "text/plain; charset=utf-8",
            absl::StrCat("not ready: ", board_->not_ready_reason(), "\n"));
    }
    return true;
  }

 private:
  const SnapshotBoard* board_;
};

class HealthHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Reply(conn, 200, "text/plain; charset=utf-8", "ok\n");
    return true;
  }
};

}  // namespace

struct HttpServer::Impl {
  // Declared after the handlers, so that the server is destroyed (and stops
  // calling them) first.
  MetricsHandler metrics;
  ReadyHandler ready;
  HealthHandler health;
  std::unique_ptr<CivetServer> server;
  explicit Impl(const SnapshotBoard* board) : metrics(board), ready(board) {}
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              const SnapshotBoard* board) {
  auto impl = std::make_unique<Impl>(board);
  const std::vector<std::string> civet_options = {
      "listening_ports", options.listen_address,
      "num_threads",     std::to_string(options.threads),
  };
  try {
    impl->server = std::make_unique<CivetServer>(civet_options);
  } catch (const CivetException& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options.listen_address, ": ", e.what()));
  }
  impl->server->addHandler("/metrics", &impl->metrics);
  impl->server->addHandler("/readyz", &impl->ready);
  impl->server->addHandler("/healthz", &impl->health);
  const std::vector<int> ports = impl->server->getListeningPorts();
  const int port = ports.empty() ? 0 : ports.front();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), port));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() {
  if (impl_ && impl_->server) impl_->server->close();
}

}  // namespace prodops::exporter
