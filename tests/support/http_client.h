#pragma once

#include <map>
#include <string>

namespace prodops::testing {

struct HttpResponse {
  int status = 0;                              // 0: no connection or no valid response
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// One blocking HTTP/1.1 request with any method to 127.0.0.1:port, read
// until the server closes (it asks for "Connection: close"). Gives up after
// `timeout_ms`.
HttpResponse HttpRequest(int port, const std::string& method, const std::string& target,
                         int timeout_ms = 5000);

// HttpRequest with GET.
HttpResponse HttpGet(int port, const std::string& path, int timeout_ms = 5000);

}  // namespace prodops::testing
