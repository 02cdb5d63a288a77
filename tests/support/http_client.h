#pragma once

#include <string>

namespace prodops::testing {

struct HttpResponse {
  int status = 0;  // 0: no connection or no valid response
  std::string body;
};

// A blocking HTTP/1.1 GET to 127.0.0.1:port, for tests. Gives up after
// `timeout_ms`.
HttpResponse HttpGet(int port, const std::string& path, int timeout_ms = 5000);

}  // namespace prodops::testing
