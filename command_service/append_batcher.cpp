#include "command_service/append_batcher.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace es::command {

void AppendBatcher::Add(es::v1::AppendRequest append, Done done) {
  queued_.push_back(Queued{std::move(append), std::move(done)});
}

size_t AppendBatcher::Flush(const Send& send) {
  std::vector<Queued> queued = std::move(queued_);
  queued_.clear();
  size_t requests = 0;
  for (size_t first = 0; first < queued.size(); first += kMaxPerMessage) {
    const size_t count = std::min(kMaxPerMessage, queued.size() - first);
    ++requests;
    es::v1::StoreRequest request;
    if (count == 1) {
      *request.mutable_append() = std::move(queued[first].append);
      send(std::move(request), std::move(queued[first].done));
      continue;
    }
    auto dones = std::make_shared<std::vector<Done>>();
    dones->reserve(count);
    auto* many = request.mutable_append_many();
    for (size_t i = first; i < first + count; ++i) {
      *many->add_appends() = std::move(queued[i].append);
      dones->push_back(std::move(queued[i].done));
    }
    send(std::move(request), [dones](std::optional<es::v1::StoreReply> answer) {
      auto replies = SplitAppendManyAnswer(std::move(answer), dones->size());
      for (size_t i = 0; i < dones->size(); ++i) (*dones)[i](std::move(replies[i]));
    });
  }
  return requests;
}

std::vector<std::optional<es::v1::StoreReply>> SplitAppendManyAnswer(
    std::optional<es::v1::StoreReply> answer, size_t count) {
  if (!answer || !answer->has_append_many() ||
      answer->append_many().results_size() != static_cast<int>(count)) {
    return std::vector<std::optional<es::v1::StoreReply>>(count, answer);
  }
  std::vector<std::optional<es::v1::StoreReply>> replies(count);
  auto* results = answer->mutable_append_many()->mutable_results();
  for (size_t i = 0; i < count; ++i) {
    es::v1::AppendManyItem& item = (*results)[static_cast<int>(i)];
    es::v1::StoreReply& reply = replies[i].emplace();
    if (item.has_append()) {
      *reply.mutable_append() = std::move(*item.mutable_append());
    } else if (item.has_error()) {
      *reply.mutable_error() = std::move(*item.mutable_error());
    }
  }
  return replies;
}

}  // namespace es::command
