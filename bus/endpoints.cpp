#include "bus/endpoints.h"

#include <zmq.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace es::bus {
namespace {

constexpr std::string_view kForms = "tcp://HOST:PORT, ipc://PATH or inproc://NAME";

int BasePort() {
  const char* raw = std::getenv("ES_BASE_PORT");
  if (raw == nullptr || *raw == '\0') return 7100;
  char* end = nullptr;
  long port = std::strtol(raw, &end, 10);
  if (*end != '\0' || port < 1 || port > 65531) {
    throw std::invalid_argument(std::string("ES_BASE_PORT is not a port number: ") + raw);
  }
  return static_cast<int>(port);
}

const char* VariableOf(EndpointRole role) {
  switch (role) {
    case EndpointRole::kStoreRequests:
      return "ES_STORE_REQUESTS";
    case EndpointRole::kStoreEvents:
      return "ES_STORE_EVENTS";
    case EndpointRole::kCommands:
      return "ES_COMMANDS";
    case EndpointRole::kSagaControl:
      return "ES_SAGA_CONTROL";
    case EndpointRole::kQueries:
      return "ES_QUERIES";
  }
  return "";
}

int PortOffsetOf(EndpointRole role) {
  switch (role) {
    case EndpointRole::kStoreRequests:
      return 0;
    case EndpointRole::kStoreEvents:
      return 1;
    case EndpointRole::kCommands:
      return 2;
    case EndpointRole::kSagaControl:
      return 3;
    case EndpointRole::kQueries:
      return 4;
  }
  return 0;
}

std::string FromEnv(const char* name, int port) {
  const char* raw = std::getenv(name);
  if (raw != nullptr && *raw != '\0') return raw;
  return "tcp://127.0.0.1:" + std::to_string(port);
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

std::string TcpProblem(std::string_view address, EndpointUse use) {
  const bool bind = use == EndpointUse::kBind;
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || (address.front() == '[' && address.back() == ']')) {
    return "no port (tcp://HOST:PORT)";
  }
  const std::string_view host = address.substr(0, colon);
  const std::string_view port = address.substr(colon + 1);
  if (host.empty()) return "no host before the port (tcp://HOST:PORT)";
  if (host == "*") {
    if (!bind) return "host * means every interface: it can be bound, not connected to";
  } else if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return "an IPv6 host must be [ADDRESS]";
    for (char c : host.substr(1, host.size() - 2)) {
      if (!IsNameChar(c) && c != ':' && c != '%') {
        return "'" + std::string(host) + "' is not an IPv6 address";
      }
    }
  } else {
    for (char c : host) {
      if (!IsNameChar(c)) {
        return "host '" + std::string(host) + "' is not a host name or address" +
               (c == ':' ? " (write an IPv6 address as [ADDRESS])" : "");
      }
    }
  }
  const std::string wanted =
      bind ? "a port from 1 to 65535, or * or 0 for a free one" : "a port from 1 to 65535";
  if (port.empty()) return "no port after the host: expected " + wanted;
  if (bind && (port == "*" || port == "0")) return "";
  if (port.size() > 5) return "'" + std::string(port) + "' is not " + wanted;
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return "'" + std::string(port) + "' is not " + wanted;
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) return "'" + std::string(port) + "' is not " + wanted;
  return "";
}

}  // namespace

Endpoints DefaultEndpoints() {
  int base = BasePort();
  return Endpoints{
      .store_requests = FromEnv("ES_STORE_REQUESTS", base),
      .store_events = FromEnv("ES_STORE_EVENTS", base + 1),
      .commands = FromEnv("ES_COMMANDS", base + 2),
      .saga_control = FromEnv("ES_SAGA_CONTROL", base + 3),
      .queries = FromEnv("ES_QUERIES", base + 4),
  };
}

std::string EndpointProblem(std::string_view endpoint, EndpointUse use) {
  if (endpoint.empty()) return "empty (expected " + std::string(kForms) + ")";
  for (char c : endpoint) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') {
      return "contains a space or control character";
    }
  }
  const size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string_view::npos) {
    return "no transport: expected " + std::string(kForms);
  }
  const std::string_view transport = endpoint.substr(0, scheme_end);
  const std::string_view address = endpoint.substr(scheme_end + 3);
  if (transport == "tcp") {
    if (address.empty()) return "no address after tcp:// (tcp://HOST:PORT)";
    return TcpProblem(address, use);
  }
  if (transport == "ipc") {
    if (address.empty()) return "no path after ipc://";
    if (address == "*" && use == EndpointUse::kConnect) {
      return "ipc://* picks a fresh path to bind; it cannot be connected to";
    }
    // sun_path holds 108 bytes with the terminating NUL.
    if (address.size() > 107) return "the ipc path is longer than 107 bytes";
    return "";
  }
  if (transport == "inproc") {
    if (address.empty()) return "no name after inproc://";
    return "";
  }
  return "unknown transport '" + std::string(transport) + "': expected " + std::string(kForms);
}

std::string ResolveEndpoint(EndpointRole role, std::string_view flag_name,
                            const std::string& flag_value, EndpointUse use) {
  std::string endpoint, source;
  if (!flag_value.empty()) {
    endpoint = flag_value;
    source = std::string(flag_name);
  } else if (const char* raw = std::getenv(VariableOf(role)); raw != nullptr && *raw != '\0') {
    endpoint = raw;
    source = std::string("the environment variable ") + VariableOf(role);
  } else {
    endpoint = "tcp://127.0.0.1:" + std::to_string(BasePort() + PortOffsetOf(role));
    source = "ES_BASE_PORT";
  }
  if (std::string problem = EndpointProblem(endpoint, use); !problem.empty()) {
    throw std::invalid_argument("bad endpoint '" + endpoint + "' (from " + source +
                                "): " + problem);
  }
  return endpoint;
}

Endpoints ResolveClientEndpoints(const Endpoints& flags) {
  constexpr auto kConnect = EndpointUse::kConnect;
  return Endpoints{
      .store_requests =
          ResolveEndpoint(EndpointRole::kStoreRequests, "--store", flags.store_requests, kConnect),
      .store_events =
          ResolveEndpoint(EndpointRole::kStoreEvents, "--events", flags.store_events, kConnect),
      .commands = ResolveEndpoint(EndpointRole::kCommands, "--commands", flags.commands, kConnect),
      .saga_control =
          ResolveEndpoint(EndpointRole::kSagaControl, "--saga", flags.saga_control, kConnect),
      .queries = ResolveEndpoint(EndpointRole::kQueries, "--queries", flags.queries, kConnect)};
}

bool IsEndpointErrno(int error) {
  switch (error) {
    case EINVAL:           // malformed, or a host that does not resolve
    case EPROTONOSUPPORT:  // unknown transport
    case ENOCOMPATPROTO:   // transport not for this socket type
    case ENODEV:           // no such interface to bind
    case EADDRNOTAVAIL:    // an address this host does not have
    case ENAMETOOLONG:     // ipc path
    case ENOENT:           // ipc path in a missing directory
      return true;
    default:
      return false;
  }
}

}  // namespace es::bus
