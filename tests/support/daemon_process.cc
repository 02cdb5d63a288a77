#include "tests/support/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/support/temp_dir.h"

namespace prodops::testing {
namespace {

pid_t Spawn(std::string binary, const std::vector<std::string>& args,
            const std::string& out_path, const std::string& err_path) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  dup2(out, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  std::vector<char*> argv;
  argv.push_back(binary.data());
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  _exit(127);
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string DaemonBinary() { return PRODOPSD_BINARY; }
std::string LoadgenBinary() { return PRODOPS_LOADGEN_BINARY; }

DaemonProcess::DaemonProcess(const std::vector<std::string>& args,
                             const std::string& log_path)
    : pid_(Spawn(DaemonBinary(), args, "/dev/null", log_path)) {}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) {
    Kill(SIGKILL);
    Wait(10'000);
  }
}

void DaemonProcess::Kill(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int DaemonProcess::Wait(int timeout_ms) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return DecodeStatus(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int RunDaemonCommand(const std::vector<std::string>& args, std::string* out,
                     std::string* err) {
  return RunCommand(DaemonBinary(), args, out, err);
}

int RunCommand(const std::string& binary, const std::vector<std::string>& args,
               std::string* out, std::string* err) {
  TempDir dir;
  const pid_t pid = Spawn(binary, args, dir.File("out"), dir.File("err"));
  int status = 0;
  waitpid(pid, &status, 0);
  *out = ReadFile(dir.File("out"));
  *err = ReadFile(dir.File("err"));
  return DecodeStatus(status);
}

}  // namespace prodops::testing
