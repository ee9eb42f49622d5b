// The appends one loop turn decided, sent to the store together: one alone
// as an `append`, several as `append_many` messages (one frame set and one
// group-commit entry for all instead of one per command), each reply handed
// back to its own append as if it had been sent alone. No socket: the
// sender is a function, so the batching is tested on its own.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "es/v1/store.pb.h"

namespace es::command {

class AppendBatcher {
 public:
  // An append's answer: the store's reply to it alone (an `append` or an
  // `error` body), or nullopt if no reply came.
  using Done = std::function<void(std::optional<es::v1::StoreReply>)>;
  // Sends one request; `reply` is called once with its answer (or nullopt).
  using Send = std::function<void(es::v1::StoreRequest request,
                                  std::function<void(std::optional<es::v1::StoreReply>)> reply)>;

  // Well under the store's limits (10,000 appends, 4 MiB) for any command.
  static constexpr size_t kMaxPerMessage = 256;

  // Queues `append` (moved); `done` gets its answer after Flush.
  void Add(es::v1::AppendRequest append, Done done);
  // Sends everything queued, in order; returns the number of requests sent.
  size_t Flush(const Send& send);
  size_t queued() const { return queued_.size(); }

 private:
  struct Queued {
    es::v1::AppendRequest append;
    Done done;
  };
  std::vector<Queued> queued_;
};

// Splits an append_many `answer` for `count` appends into each append's own
// reply; a missing answer, or one refused whole, goes to every append.
std::vector<std::optional<es::v1::StoreReply>> SplitAppendManyAnswer(
    std::optional<es::v1::StoreReply> answer, size_t count);

}  // namespace es::command
