#pragma once

#include <string_view>

namespace prodops {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Writes one line to stderr: "<UTC time> <level> <message>". Thread-safe.
// Callers build the message with absl::StrCat. Secrets (Kafka passwords,
// keys) must never be passed here.
void Log(LogLevel level, std::string_view message);

// Lines below this level are dropped. Default: kInfo.
void SetMinLogLevel(LogLevel level);

}  // namespace prodops
