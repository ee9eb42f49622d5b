#include "tests/support/streaming_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace es::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::runtime_error SystemError(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

StreamingProcess StreamingProcess::Start(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         const std::string& stderr_path) {
  // Prepared before fork: the child may only make async-signal-safe calls.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const int err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err_fd < 0) throw SystemError("open " + stderr_path);
  int out_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(err_fd);
    throw SystemError("pipe2");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {err_fd, out_pipe[0], out_pipe[1]}) close(fd);
    throw SystemError("fork");
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    close_range(3, ~0U, 0);
    execv(binary.c_str(), argv.data());
    const char message[] = "StreamingProcess: exec failed\n";
    const ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    _exit(127);
  }
  close(err_fd);
  close(out_pipe[1]);
  StreamingProcess process;
  process.pid_ = pid;
  process.stdout_fd_ = out_pipe[0];
  return process;
}

StreamingProcess::StreamingProcess(StreamingProcess&& other) noexcept { *this = std::move(other); }

StreamingProcess& StreamingProcess::operator=(StreamingProcess&& other) noexcept {
  if (this != &other) {
    Close();
    pid_ = other.pid_;
    stdout_fd_ = other.stdout_fd_;
    pending_ = std::move(other.pending_);
    other.pid_ = -1;
    other.stdout_fd_ = -1;
  }
  return *this;
}

StreamingProcess::~StreamingProcess() { Close(); }

void StreamingProcess::Close() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    Reap(pid_, std::chrono::seconds(10));
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

std::optional<std::string> StreamingProcess::ReadLine(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    const size_t newline = pending_.find('\n');
    if (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      return line;
    }
    if (stdout_fd_ < 0) return std::nullopt;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd readable{stdout_fd_, POLLIN, 0};
    const int rc = poll(&readable, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return std::nullopt;
    if (rc <= 0) continue;
    char buffer[4096];
    const ssize_t got = read(stdout_fd_, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {  // EOF: the child closed stdout
      close(stdout_fd_);
      stdout_fd_ = -1;
      continue;
    }
    pending_.append(buffer, static_cast<size_t>(got));
  }
}

ExitStatus StreamingProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) throw std::logic_error("Terminate: the process is not running");
  kill(pid_, SIGTERM);
  ExitStatus status = Reap(pid_, timeout);
  pid_ = -1;
  return status;
}

}  // namespace es::testing
