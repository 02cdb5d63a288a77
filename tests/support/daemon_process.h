#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace prodops::testing {

// The prodopsd and prodops-loadgen binaries of this build.
std::string DaemonBinary();
std::string LoadgenBinary();

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

// Runs `binary` with `args` to completion; returns the exit code (128 +
// signal if killed) and fills stdout and stderr.
int RunCommand(const std::string& binary, const std::vector<std::string>& args,
               std::string* out, std::string* err);
// RunCommand of prodopsd.
int RunDaemonCommand(const std::vector<std::string>& args, std::string* out,
                     std::string* err);

}  // namespace prodops::testing
