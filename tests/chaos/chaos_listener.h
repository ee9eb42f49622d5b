// A listener process for the chaos run: follows the whole event stream with
// the catch-up subscriber and appends "position event_id" lines to a file.
// The file is its own checkpoint: after a kill -9 it is reopened, a torn
// last line is cut off, and the subscriber resumes after the last complete
// line — so across restarts the file must hold every event exactly once,
// in order, which is what the audit checks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace es::chaos {

struct ListenerOptions {
  std::string store_requests;
  std::string store_events;
  std::string out_path;
};

// Runs until SIGTERM/SIGINT. Prints "ready listener=<from>" on stdout once
// subscribed. Returns the process exit code.
int RunListener(const ListenerOptions& options);

// The positions and event ids in a listener file, in file order (a torn
// last line is ignored).
struct ListenerLine {
  uint64_t position;
  std::string event_id;
};
std::vector<ListenerLine> ReadListenerFile(const std::string& path);

}  // namespace es::chaos
