// A live progress line on stderr ("append: 123,456 / 300,000 events,
// 151,234/s"), redrawn a few times a second by a background thread, only
// when stderr is a terminal. The counter is the caller's; it is only read.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace es::bench {

class Progress {
 public:
  // `what` names the unit ("events", "transfers").
  Progress(std::string label, std::string what, uint64_t total, const std::atomic<uint64_t>& done);
  ~Progress();  // Stop()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Stops redrawing and erases the line.
  void Stop();

 private:
  void Loop();
  void Draw(double seconds);

  std::string label_;
  std::string what_;
  uint64_t total_;
  const std::atomic<uint64_t>& done_;
  bool enabled_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace es::bench
