#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/export/snapshot.h"

namespace prodops::exporter {

struct HttpServerOptions {
  // host:port; port 0 picks a free port. Default: "127.0.0.1:9464".
  std::string listen_address = "127.0.0.1:9464";
  // Worker threads. Default: 2.
  int threads = 2;
};

// Serves, from the board's latest snapshot:
//   GET /metrics          Prometheus text exposition
//   GET /readyz           200 "ready" or 503 with the reason
//   GET /healthz          200 while the process serves HTTP
//   GET /api/v1/signals   the signals as JSON, filtered (docs/api.md)
// HEAD on each answers GET's status and headers without the body; any other
// method gets 405 with "Allow: GET, HEAD". Runs its own threads, which only
// read the board; stops (and stops calling into the board) when destroyed.
class HttpServer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, const SnapshotBoard* board);
  ~HttpServer();

  // The port actually bound (useful with port 0).
  int port() const { return port_; }

  struct Impl;  // opaque

 private:
  HttpServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace prodops::exporter
