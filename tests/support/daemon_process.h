#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace prodops::testing {

// The prodopsd binary of this build.
std::string DaemonBinary();

// A prodopsd child process. Its stderr goes to `log_path`. The destructor
// kills it (SIGKILL) if it still runs.
class DaemonProcess {
 public:
  DaemonProcess(const std::vector<std::string>& args, const std::string& log_path);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Kill(int signal);
  // Waits up to `timeout_ms` for the exit; returns the exit code, 128+signal
  // if killed, or -1 on time-out.
  int Wait(int timeout_ms);

 private:
  pid_t pid_ = -1;
};

// Runs prodopsd to completion; returns the exit code and fills stdout and
// stderr.
int RunDaemonCommand(const std::vector<std::string>& args, std::string* out, std::string* err);

}  // namespace prodops::testing
