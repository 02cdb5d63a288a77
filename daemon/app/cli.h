#pragma once

namespace prodops::app {

// The command line of prodopsd (see Usage in cli.cc). Returns the process
// exit code: 0 success, 1 failure while running, 2 bad usage or config.
int RunCommandLine(int argc, char** argv);

}  // namespace prodops::app
