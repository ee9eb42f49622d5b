#include "bus/endpoints.h"

#include <cstdlib>
#include <stdexcept>

namespace es::bus {
namespace {

int BasePort() {
  const char* raw = std::getenv("ES_BASE_PORT");
  if (raw == nullptr || *raw == '\0') return 7100;
  char* end = nullptr;
  long port = std::strtol(raw, &end, 10);
  if (*end != '\0' || port < 1 || port > 65532) {
    throw std::invalid_argument(std::string("ES_BASE_PORT is not a port number: ") + raw);
  }
  return static_cast<int>(port);
}

std::string FromEnv(const char* name, int port) {
  const char* raw = std::getenv(name);
  if (raw != nullptr && *raw != '\0') return raw;
  return "tcp://127.0.0.1:" + std::to_string(port);
}

}  // namespace

Endpoints DefaultEndpoints() {
  int base = BasePort();
  return Endpoints{
      .store_requests = FromEnv("ES_STORE_REQUESTS", base),
      .store_events = FromEnv("ES_STORE_EVENTS", base + 1),
      .commands = FromEnv("ES_COMMANDS", base + 2),
      .saga_control = FromEnv("ES_SAGA_CONTROL", base + 3),
  };
}

}  // namespace es::bus
