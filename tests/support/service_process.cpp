#include "tests/support/service_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#ifndef ES_BIN_DIR
#error "ES_BIN_DIR must be defined to the directory of the project's executables"
#endif

namespace es::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::runtime_error SystemError(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// Writes all of `data` to `fd`, ignoring errors (a log has no one to tell).
void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t written = write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    data += written;
    size -= static_cast<size_t>(written);
  }
}

struct Child {
  pid_t pid;
  int stdout_fd;  // read end of the child's stdout pipe; -1 when stdout goes to the log
};

// fork+exec `binary` with stderr (and stdout unless `pipe_stdout`) appended
// to `log_path`.
Child Spawn(const std::string& binary, const std::vector<std::string>& args,
            const std::string& log_path, bool pipe_stdout) {
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw SystemError("open " + log_path);
  int pipe_fds[2] = {-1, -1};
  if (pipe_stdout && pipe2(pipe_fds, O_CLOEXEC) != 0) {
    close(log_fd);
    throw SystemError("pipe2");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    if (pipe_stdout) {
      close(pipe_fds[0]);
      close(pipe_fds[1]);
    }
    throw SystemError("fork");
  }
  if (pid == 0) {
    // A test that dies must not leave its services running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(pipe_stdout ? pipe_fds[1] : log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    // Sockets and files of the test process are not the child's business.
    close_range(3, ~0U, 0);
    execv(binary.c_str(), argv.data());
    const char message[] = "ServiceProcess: exec failed\n";
    WriteAll(STDERR_FILENO, message, sizeof message - 1);
    _exit(127);
  }
  close(log_fd);
  if (pipe_stdout) close(pipe_fds[1]);
  return Child{pid, pipe_stdout ? pipe_fds[0] : -1};
}

ExitStatus ToExitStatus(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

// Waits for `pid` to exit; past `timeout` kills it and says so.

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

ExitStatus Reap(pid_t pid, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  bool killed = false;
  while (true) {
    int status = 0;
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      ExitStatus result = ToExitStatus(status);
      result.timed_out = killed;
      return result;
    }
    // Not our child (any more): nothing to wait for. Never throws, since
    // destructors reap through here.
    if (done < 0 && errno != EINTR) return ExitStatus{};
    if (!killed && Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::string BinaryPath(const std::string& name) { return std::string(ES_BIN_DIR) + "/" + name; }

ServiceProcess ServiceProcess::Start(const std::string& binary,
                                     const std::vector<std::string>& args,
                                     const std::string& log_path,
                                     std::chrono::milliseconds ready_timeout) {
  Child child = Spawn(binary, args, log_path, /*pipe_stdout=*/true);
  ServiceProcess process;
  process.pid_ = child.pid;
  process.log_path_ = log_path;

  auto fail = [&](const std::string& why) {
    close(child.stdout_fd);
    process.KillIfRunning();
    return std::runtime_error(binary + " " + why + "; its log " + log_path + ":\n" +
                              ReadFile(log_path));
  };
  const Clock::time_point deadline = Clock::now() + ready_timeout;
  std::string pending;  // stdout read but not yet split into lines
  while (true) {
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      if (line.rfind("ready", 0) != 0) continue;
      process.ready_line_ = line;
      std::istringstream words(line.substr(5));
      std::string word;
      while (words >> word) {
        size_t equals = word.find('=');
        if (equals != std::string::npos) {
          process.fields_[word.substr(0, equals)] = word.substr(equals + 1);
        }
      }
      int fd = child.stdout_fd;
      process.stdout_drain_ = std::thread([fd, log_path, rest = std::move(pending)] {
        int log_fd = open(log_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        if (log_fd >= 0) WriteAll(log_fd, rest.data(), rest.size());
        char buffer[4096];
        ssize_t got;
        while ((got = read(fd, buffer, sizeof buffer)) != 0) {
          if (got < 0 && errno == EINTR) continue;
          if (got < 0) break;
          if (log_fd >= 0) WriteAll(log_fd, buffer, static_cast<size_t>(got));
        }
        if (log_fd >= 0) close(log_fd);
        close(fd);
      });
      return process;
    }
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      throw fail("printed no ready line within " + std::to_string(ready_timeout.count()) + " ms");
    }
    pollfd readable{child.stdout_fd, POLLIN, 0};
    int rc = poll(&readable, 1, static_cast<int>(remaining.count()));
    if (rc < 0 && errno != EINTR) throw fail("poll failed");
    if (rc <= 0) continue;
    char buffer[4096];
    ssize_t got = read(child.stdout_fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw fail("exited (closed stdout) before printing a ready line");
    pending.append(buffer, static_cast<size_t>(got));
  }
}

ExitStatus ServiceProcess::Run(const std::string& binary, const std::vector<std::string>& args,
                               const std::string& log_path, std::chrono::milliseconds timeout) {
  Child child = Spawn(binary, args, log_path, /*pipe_stdout=*/false);
  return Reap(child.pid, timeout);
}

ServiceProcess::ServiceProcess(ServiceProcess&& other) noexcept { *this = std::move(other); }

ServiceProcess& ServiceProcess::operator=(ServiceProcess&& other) noexcept {
  if (this != &other) {
    KillIfRunning();
    pid_ = other.pid_;
    other.pid_ = -1;
    log_path_ = std::move(other.log_path_);
    ready_line_ = std::move(other.ready_line_);
    fields_ = std::move(other.fields_);
    stdout_drain_ = std::move(other.stdout_drain_);
  }
  return *this;
}

ServiceProcess::~ServiceProcess() { KillIfRunning(); }

const std::string& ServiceProcess::field(const std::string& key) const {
  auto it = fields_.find(key);
  if (it == fields_.end()) {
    throw std::out_of_range("no '" + key + "' in the ready line '" + ready_line_ + "'");
  }
  return it->second;
}

std::string ServiceProcess::ReadLog() const { return ReadFile(log_path_); }

ExitStatus ServiceProcess::Kill9() {
  if (pid_ <= 0) throw std::logic_error("Kill9: the process is not running");
  kill(pid_, SIGKILL);
  return WaitForExit(std::chrono::seconds(10));
}

ExitStatus ServiceProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) throw std::logic_error("Terminate: the process is not running");
  kill(pid_, SIGTERM);
  return WaitForExit(timeout);
}

ExitStatus ServiceProcess::WaitForExit(std::chrono::milliseconds timeout) {
  ExitStatus status = Reap(pid_, timeout);
  pid_ = -1;
  // The child's end of the pipe is closed now, so the drain sees EOF.
  if (stdout_drain_.joinable()) stdout_drain_.join();
  return status;
}

void ServiceProcess::KillIfRunning() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    WaitForExit(std::chrono::seconds(10));
  }
  if (stdout_drain_.joinable()) stdout_drain_.join();
}

}  // namespace es::testing
