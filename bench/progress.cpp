#include "bench/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "bench/bench_common.h"

namespace es::bench {

Progress::Progress(std::string label, std::string what, uint64_t total,
                   const std::atomic<uint64_t>& done)
    : label_(std::move(label)),
      what_(std::move(what)),
      total_(total),
      done_(done),
      enabled_(isatty(STDERR_FILENO) == 1) {
  if (enabled_) thread_ = std::thread([this] { Loop(); });
}

Progress::~Progress() { Stop(); }

void Progress::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

void Progress::Loop() {
  const auto start = Clock::now();
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
    Draw(SecondsSince(start));
  }
}

void Progress::Draw(double seconds) {
  const uint64_t done = done_.load(std::memory_order_relaxed);
  std::fprintf(stderr, "\r\033[K%s: %s / %s %s, %s/s, %.1f s", label_.c_str(),
               Grouped(static_cast<double>(done)).c_str(),
               Grouped(static_cast<double>(total_)).c_str(), what_.c_str(),
               Grouped(PerSecond(static_cast<double>(done), seconds)).c_str(), seconds);
  std::fflush(stderr);
}

}  // namespace es::bench
