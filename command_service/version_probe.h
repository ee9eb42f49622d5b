// The stream versions one loop turn needs, asked of the store in one
// `stream_versions` request: whether each cached aggregate a query or a
// transfer's account check reads is still the store's current state. A
// stream asked twice in a turn is asked once. Every request is sent after
// the commands that wait on it arrived, so an equal version means the cache
// holds what the store held when they arrived. No socket: the sender is a
// function, so the batching is tested on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "es/v1/store.pb.h"

namespace es::command {

class VersionProbe {
 public:
  // The stream's current version, or nullopt if the store did not answer.
  using Done = std::function<void(std::optional<uint64_t> version)>;
  using Send = std::function<void(es::v1::StoreRequest request,
                                  std::function<void(std::optional<es::v1::StoreReply>)> reply)>;

  // Well under the store's limit (10,000 streams per request).
  static constexpr size_t kMaxPerMessage = 1000;

  void Add(const std::string& stream_id, Done done);
  // Sends everything queued; returns the number of requests sent.
  size_t Flush(const Send& send);
  // Streams queued (each once).
  size_t queued() const { return streams_.size(); }

 private:
  struct Stream {
    std::string id;
    std::vector<Done> waiting;
  };
  std::vector<Stream> streams_;
  std::unordered_map<std::string, size_t> index_;  // stream id -> streams_ slot
};

}  // namespace es::command
