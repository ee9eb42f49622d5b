// Where each service listens. Resolution order for every endpoint: an
// explicit flag (the caller passes it), else an environment variable, else
// 127.0.0.1 on a port derived from ES_BASE_PORT (default 7100):
//
//   store requests  BASE     ES_STORE_REQUESTS
//   store events    BASE+1   ES_STORE_EVENTS
//   commands        BASE+2   ES_COMMANDS
//   saga control    BASE+3   ES_SAGA_CONTROL
#pragma once

#include <string>

namespace es::bus {

struct Endpoints {
  std::string store_requests;
  std::string store_events;
  std::string commands;
  std::string saga_control;
};

// The defaults from the environment (variables above, then ES_BASE_PORT).
// Throws std::invalid_argument if ES_BASE_PORT is not a port number.
Endpoints DefaultEndpoints();

// `flag` if non-empty, else `fallback`.
inline std::string Choose(const std::string& flag, const std::string& fallback) {
  return flag.empty() ? fallback : flag;
}

}  // namespace es::bus
