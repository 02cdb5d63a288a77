// The config loader on arbitrary text: it must answer with a config or an
// error message, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/config/config.h"
#include "google/protobuf/stubs/logging.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs every invalid-UTF-8 string it meets; the daemon demotes
  // those lines to debug output, and here they would only hide the stats.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)prodops::config::ParseConfig(text, "fuzz.textproto");
  return 0;
}
