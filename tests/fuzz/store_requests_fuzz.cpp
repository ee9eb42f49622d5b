// The store's request handling without sockets (StoreServer with a
// StoreOutput of its own), on a real log engine in a temp dir (tmpfs when
// there is one): requests as the ROUTER hands them over, turn by turn, the
// appends of a turn submitted as one batch, answered and published when
// their commit completes.
//
// Input: requests until the input ends, each u8 flags, Piece(body):
//   flags bit 0: the framing was bad (frame_error set);
//   flags bit 1: the turn ends after this request;
//   flags bit 2: and wait for every submitted batch to complete.
// The engine is reopened on a fresh directory every 256 inputs, so state
// builds up (streams to read, command ids to repeat) but stays small.
//
// Invariants: every request gets exactly one reply, every reply and every
// published message parses, a reply to a request that parsed carries its
// request_id.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "es/v1/event.pb.h"
#include "es/v1/store.pb.h"
#include "store_service/log_event_storage.h"
#include "store_service/live_topics.h"
#include "store_service/store_server.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

namespace fs = std::filesystem;
using es::fuzz::Fail;

class CapturedOutput final : public es::store::StoreOutput {
 public:
  void Reply(const zmq::message_t& identity, bool /*delimited*/, zmq::message_t body) override {
    es::v1::StoreReply reply;
    if (!reply.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      Fail("a reply that does not parse");
    }
    replies[std::string(identity.to_string_view())].push_back(reply.request_id());
  }
  void Publish(std::string_view topic, zmq::message_t body) override {
    es::v1::LiveMessage message;
    if (!message.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      Fail("a published message that does not parse, topic " + std::string(topic));
    }
  }
  std::map<std::string, std::vector<uint64_t>> replies;
};

struct Store {
  fs::path dir;
  std::unique_ptr<es::store::LogEventStorage> storage;
  CapturedOutput output;
  std::unique_ptr<es::store::StoreServer> server;
};

std::unique_ptr<Store> OpenStore() {
  static const fs::path base = [] {
    const char* root = fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(root) + "/es-fuzz-store-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) abort();
    return fs::path(pattern);
  }();
  auto store = std::make_unique<Store>();
  store->dir = base / "log";
  fs::remove_all(store->dir);
  es::store::LogStorageOptions options;
  options.directory = store->dir.string();
  options.segment_bytes = 64 * 1024;
  store->storage = std::make_unique<es::store::LogEventStorage>(options);
  const es::store::Status status = store->storage->Open();
  if (!status.ok()) Fail("cannot open the log: " + status.ToString());
  es::store::StoreServerOptions server_options;
  server_options.max_message_bytes = 64 * 1024;
  server_options.max_appends_per_request = 64;
  server_options.max_read_count = 200;
  store->server = std::make_unique<es::store::StoreServer>(*store->storage, server_options,
                                                           store->output);
  // Subscribers of every stream and of batches: appends are published both ways.
  store->server->NoteSubscription(std::string_view("\x01", 1));
  store->server->NoteSubscription(std::string("\x01") + std::string(es::store::kBatchTopic));
  return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<Store> store;
  static int inputs = 0;
  if (!store || ++inputs % 256 == 0) {
    store.reset();
    store = OpenStore();
  }
  store->output.replies.clear();

  es::fuzz::FuzzInput input(data, size);
  std::vector<es::bus::RoutedRequest> turn;
  std::map<std::string, std::optional<uint64_t>> expected;  // identity -> request_id if it parses
  int sent = 0;
  while (!input.empty() && sent < 64) {
    const uint8_t flags = input.Int<uint8_t>();
    const std::string_view body = input.Piece();
    const std::string identity = "peer-" + std::to_string(sent++);
    es::bus::RoutedRequest& request = turn.emplace_back();
    request.identity = zmq::message_t(identity.data(), identity.size());
    request.body = zmq::message_t(body.data(), body.size());
    if (flags & 1) request.frame_error = "the request has 3 frames, not [identity][empty][body]";
    es::v1::StoreRequest parsed;
    expected[identity] = !(flags & 1) && body.size() <= 64 * 1024 &&
                                 parsed.ParseFromArray(body.data(), static_cast<int>(body.size()))
                             ? std::optional<uint64_t>(parsed.request_id())
                             : std::nullopt;
    if (flags & 2) {
      store->server->ServeRequests(turn);
      turn.clear();
      store->server->CompleteSubmittedBatches();
    }
    if (flags & 4) store->server->FinishSubmittedBatches();
  }
  store->server->ServeRequests(turn);
  store->server->FinishSubmittedBatches();

  for (const auto& [identity, request_id] : expected) {
    const auto found = store->output.replies.find(identity);
    if (found == store->output.replies.end() || found->second.size() != 1) {
      Fail(identity + " got " +
           std::to_string(found == store->output.replies.end() ? 0 : found->second.size()) +
           " replies, not one");
    }
    if (request_id && found->second[0] != *request_id) Fail(identity + ": request_id not echoed");
  }
  return 0;
}
