// Runs a program as a child whose stdout the test reads line by line while
// it runs (e.g. `esctl subscribe`, which never prints a ready line); its
// stderr is appended to a file. The child is signalled only by its pid: the
// destructor kills it if it still runs, and it gets SIGKILL if the test
// process dies.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/service_process.h"  // ExitStatus

namespace es::testing {

class StreamingProcess {
 public:
  // Starts `binary` with `args`. Throws std::runtime_error if it cannot.
  static StreamingProcess Start(const std::string& binary, const std::vector<std::string>& args,
                                const std::string& stderr_path);

  StreamingProcess(StreamingProcess&& other) noexcept;
  StreamingProcess& operator=(StreamingProcess&& other) noexcept;
  StreamingProcess(const StreamingProcess&) = delete;
  StreamingProcess& operator=(const StreamingProcess&) = delete;
  ~StreamingProcess();  // SIGKILL and reap, if still running

  // The next complete line of stdout (without its newline); nullopt if none
  // is complete within `timeout` or stdout was closed.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);

  // SIGTERM, then waits up to `timeout` for the exit (SIGKILL past it).
  ExitStatus Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

 private:
  StreamingProcess() = default;
  void Close();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string pending_;  // read, not yet returned as a line
};

}  // namespace es::testing
