#include "command_service/version_probe.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace es::command {

void VersionProbe::Add(const std::string& stream_id, Done done) {
  auto [it, inserted] = index_.try_emplace(stream_id, streams_.size());
  if (inserted) streams_.push_back(Stream{stream_id, {}});
  streams_[it->second].waiting.push_back(std::move(done));
}

size_t VersionProbe::Flush(const Send& send) {
  auto streams = std::make_shared<std::vector<Stream>>(std::move(streams_));
  streams_.clear();
  index_.clear();
  size_t requests = 0;
  for (size_t first = 0; first < streams->size(); first += kMaxPerMessage) {
    const size_t count = std::min(kMaxPerMessage, streams->size() - first);
    es::v1::StoreRequest request;
    auto* ids = request.mutable_stream_versions()->mutable_stream_ids();
    ids->Reserve(static_cast<int>(count));
    for (size_t i = first; i < first + count; ++i) ids->Add(std::string((*streams)[i].id));
    ++requests;
    send(std::move(request), [streams, first, count](std::optional<es::v1::StoreReply> reply) {
      const bool answered = reply && reply->has_stream_versions() &&
                            reply->stream_versions().versions_size() == static_cast<int>(count);
      for (size_t i = 0; i < count; ++i) {
        std::optional<uint64_t> version;
        if (answered) version = reply->stream_versions().versions(static_cast<int>(i));
        for (Done& done : (*streams)[first + i].waiting) done(version);
      }
    });
  }
  return requests;
}

}  // namespace es::command
