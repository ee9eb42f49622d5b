#include "tests/chaos/chaos_listener.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "bus/catch_up_subscriber.h"

namespace es::chaos {
namespace {

std::atomic<bool> stop_listener{false};
void OnSignal(int) { stop_listener = true; }

// Cuts a torn last line off the file; returns the last complete position.
uint64_t RepairTail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t end = content.rfind('\n');
  size_t keep = end == std::string::npos ? 0 : end + 1;
  if (keep != content.size()) {
    if (truncate(path.c_str(), static_cast<off_t>(keep)) != 0) std::perror("truncate");
  }
  if (keep == 0) return 0;
  size_t start = content.rfind('\n', keep - 2);
  start = start == std::string::npos ? 0 : start + 1;
  return std::stoull(content.substr(start, keep - start));
}

}  // namespace

std::vector<ListenerLine> ReadListenerFile(const std::string& path) {
  std::vector<ListenerLine> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline: a torn write
    auto space = line.find(' ');
    if (space == std::string::npos) continue;
    lines.push_back({std::stoull(line.substr(0, space)), line.substr(space + 1)});
  }
  return lines;
}

int RunListener(const ListenerOptions& options) {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  const uint64_t last = RepairTail(options.out_path);
  int fd = open(options.out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) {
    std::perror(options.out_path.c_str());
    return 1;
  }
  zmq::context_t context(1);
  es::bus::CatchUpOptions subscribe;
  subscribe.store_requests = options.store_requests;
  subscribe.store_events = options.store_events;
  subscribe.from_position = last + 1;
  subscribe.name = std::filesystem::path(options.out_path).stem().string();
  es::bus::CatchUpSubscriber subscriber(context, subscribe);
  std::printf("ready listener=%llu\n", static_cast<unsigned long long>(last + 1));
  std::fflush(stdout);
  std::string batch;
  while (!stop_listener) {
    auto event = subscriber.Next(std::chrono::milliseconds(100));
    while (event) {
      batch += std::to_string(event->global_position()) + " " + event->event_id() + "\n";
      if (batch.size() > 64 * 1024) break;
      event = subscriber.Next(std::chrono::milliseconds(0));
    }
    if (batch.empty()) continue;
    // Whole lines per write: a kill -9 between writes leaves complete lines.
    if (write(fd, batch.data(), batch.size()) != static_cast<ssize_t>(batch.size())) {
      std::perror("write");
      return 1;
    }
    batch.clear();
  }
  close(fd);
  return 0;
}

}  // namespace es::chaos
