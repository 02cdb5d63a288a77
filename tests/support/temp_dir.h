#pragma once

#include <string>

namespace prodops::testing {

// A fresh directory under /tmp, removed with everything in it at the end of
// the scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `text` to `path` (truncating); aborts the test binary on failure.
void WriteFile(const std::string& path, const std::string& text);
std::string ReadFile(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

}  // namespace prodops::testing
