// Where each service listens. Resolution order for every endpoint: an
// explicit flag (the caller passes it), else an environment variable, else
// 127.0.0.1 on a port derived from ES_BASE_PORT (default 7100):
//
//   store requests  BASE     ES_STORE_REQUESTS
//   store events    BASE+1   ES_STORE_EVENTS
//   commands        BASE+2   ES_COMMANDS
//   saga control    BASE+3   ES_SAGA_CONTROL
//   queries         BASE+4   ES_QUERIES
//
// Every binary resolves its endpoints through ResolveEndpoint, which also
// checks their form: ZeroMQ answers a malformed endpoint by throwing from
// bind/connect, which is no message for an operator who typed
// "localhost:7100".
#pragma once

#include <string>
#include <string_view>

namespace es::bus {

struct Endpoints {
  std::string store_requests;
  std::string store_events;
  std::string commands;
  std::string saga_control;
  std::string queries{};  // query_service's ROUTER
};

// The defaults from the environment (variables above, then ES_BASE_PORT).
// Throws std::invalid_argument if ES_BASE_PORT is not a port number. The
// variables' values are not checked here (ResolveEndpoint checks them).
Endpoints DefaultEndpoints();

// `flag` if non-empty, else `fallback`.
inline std::string Choose(const std::string& flag, const std::string& fallback) {
  return flag.empty() ? fallback : flag;
}

// What a binary does with an endpoint: binds its own socket to it, or
// connects to a service there.
enum class EndpointUse { kBind, kConnect };

// Why `endpoint` is not usable for `use`; empty when it is one of
//   tcp://HOST:PORT  HOST a name, an IPv4 address or [IPv6 address]; PORT
//                    1-65535. To bind, HOST may also be * (every interface)
//                    or an interface name, and PORT * or 0 (a free port).
//   ipc://PATH       a Unix socket path (at most 107 bytes; * to bind a
//                    fresh one)
//   inproc://NAME    within one process
// Only the form is checked: whether a host resolves is known at connect time.
std::string EndpointProblem(std::string_view endpoint, EndpointUse use);

enum class EndpointRole { kStoreRequests, kStoreEvents, kCommands, kSagaControl, kQueries };

// The endpoint a binary uses for `role`: `flag_value` if non-empty, else
// the role's variable, else the ES_BASE_PORT default. Throws
// std::invalid_argument if it is not usable for `use` (the message names
// the endpoint, where it came from — `flag_name` or the variable — and what
// is wrong) or if ES_BASE_PORT is not a port. Callers exit 2 with it.
std::string ResolveEndpoint(EndpointRole role, std::string_view flag_name,
                            const std::string& flag_value, EndpointUse use);

// The five endpoints a client connects to (esctl, esbench), each resolved
// as ResolveEndpoint does from its flag (--store, --events, --commands,
// --saga, --queries; empty: not given). Throws as ResolveEndpoint does.
Endpoints ResolveClientEndpoints(const Endpoints& flags);

// Whether ZeroMQ failed a bind or connect with `error` (zmq::error_t::num())
// because of the endpoint itself — its form, its transport, an address or
// interface this host does not have — rather than the moment (an address in
// use). Mains catch zmq::error_t around bind/connect as a backstop behind
// ResolveEndpoint and exit 2 for these.
bool IsEndpointErrno(int error);

}  // namespace es::bus
