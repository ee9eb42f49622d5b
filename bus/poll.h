// zmq::poll that treats an interrupting signal as "nothing happened": the
// services install SIGTERM/SIGINT handlers that only set a flag, and the
// loop must come back round to look at it instead of dying on EINTR.
#pragma once

#include <cerrno>
#include <chrono>
#include <zmq.hpp>

namespace es::bus {

inline int PollOnce(zmq::pollitem_t* items, size_t count, std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items, count, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) {
      for (size_t i = 0; i < count; ++i) items[i].revents = 0;
      return 0;
    }
    throw;
  }
}

}  // namespace es::bus
