// Runs a command-line program (esctl, typically) to completion for a test and
// captures what it printed: stdout and stderr separately, and how it ended.
// The child is killed (by its pid) if it outlives `timeout`, and gets
// SIGKILL if the test process dies. Safe to call from several threads at
// once (each call owns its pipes and its child).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace es::testing {

struct CapturedRun {
  bool exited = false;  // exited normally; then exit_code is set
  int exit_code = -1;
  int signal = 0;          // the signal that ended it, if one did
  bool timed_out = false;  // killed with SIGKILL after the timeout
  std::string out;         // everything it wrote to stdout
  std::string err;         // everything it wrote to stderr

  // "exit 1, stdout: ..., stderr: ..." for failure messages.
  std::string Describe() const;
};

// Runs `binary` (a path) with `args`. Throws std::runtime_error only if the
// process cannot be started.
CapturedRun RunCaptured(const std::string& binary, const std::vector<std::string>& args,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace es::testing
