// Runs a service binary as a child process for a test, the way a launcher
// would: fork+exec, wait for its one "ready key=value ..." line on stdout,
// and stop it with SIGTERM or SIGKILL. The child is only ever signalled by
// its pid, and is killed if the test forgets it (or crashes: the child gets
// SIGKILL when the test process dies).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace es::testing {

// Where the build puts the project's executables (build/bin), as
// "<dir>/<name>".
std::string BinaryPath(const std::string& name);

// How a child ended.
struct ExitStatus {
  bool exited = false;  // exited normally; then exit_code is set
  int exit_code = -1;
  int signal = 0;          // the signal that killed it, if one did
  bool timed_out = false;  // it did not end in time and was killed with SIGKILL
};

class ServiceProcess {
 public:
  // Starts `binary` with `args`. Its stderr (and any stdout after the ready
  // line) is appended to `log_path`. Returns once the child has printed a
  // line starting with "ready"; its "key=value" words are kept for
  // field(). Throws std::runtime_error, quoting the log, if the child exits
  // or stays silent past `ready_timeout` (it is killed then).
  static ServiceProcess Start(const std::string& binary, const std::vector<std::string>& args,
                              const std::string& log_path,
                              std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

  // Runs `binary` with `args` to completion (output appended to
  // `log_path`) and returns how it ended; killed after `timeout`.
  static ExitStatus Run(const std::string& binary, const std::vector<std::string>& args,
                        const std::string& log_path,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

  ServiceProcess(ServiceProcess&& other) noexcept;
  ServiceProcess& operator=(ServiceProcess&& other) noexcept;
  // Kills the child (SIGKILL) if it is still running.
  ~ServiceProcess();

  // A value from the ready line, e.g. endpoint("requests") for
  // "ready requests=tcp://127.0.0.1:4711 ...". Throws std::out_of_range.
  const std::string& endpoint(const std::string& key) const { return field(key); }
  const std::string& field(const std::string& key) const;
  const std::string& ready_line() const { return ready_line_; }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  const std::string& log_path() const { return log_path_; }
  // The log file's contents so far (for failure messages).
  std::string ReadLog() const;

  // SIGKILL, then reaps the child.
  ExitStatus Kill9();
  // SIGTERM, then waits up to `timeout` for the child to exit; past that it
  // is killed with SIGKILL and timed_out is set.
  ExitStatus Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  ServiceProcess() = default;
  ExitStatus WaitForExit(std::chrono::milliseconds timeout);
  void KillIfRunning();

  pid_t pid_ = -1;
  std::string log_path_;
  std::string ready_line_;
  std::map<std::string, std::string> fields_;
  // Copies the child's stdout after the ready line into the log, so the
  // child never blocks on a full pipe.
  std::thread stdout_drain_;
};

// Waits for the child `pid` to exit; past `timeout` it is killed with
// SIGKILL and timed_out is set. Never throws (destructors reap through it).
ExitStatus Reap(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace es::testing
