#include "store_service/listener_registry.h"

#include <algorithm>
#include <vector>

#include "store_service/live_topics.h"

namespace es::store {

void ListenerRegistry::OnSubscriptionMessage(std::string_view message) {
  if (message.empty() || (message[0] != 0 && message[0] != 1)) return;
  const std::string_view topic = message.substr(1);
  const int change = message[0] == 1 ? 1 : -1;
  if (topic.empty() || static_cast<unsigned char>(topic[0]) >= 0x20) event_subscriptions_ += change;
  if (!topic.empty() && kBatchTopic.starts_with(topic)) batch_subscriptions_ += change;
  if (topic.empty() || topic == kHeartbeatTopic) connected_ += change;
}

std::string ListenerRegistry::Report(const std::string& name, uint64_t position, uint64_t head,
                                     Clock::time_point now) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return "report_checkpoint.subscriber must be 1.." + std::to_string(kMaxNameBytes) + " bytes";
  }
  if (position > head) {
    return "report_checkpoint.position " + std::to_string(position) + " is beyond the head " +
           std::to_string(head);
  }
  if (named_.size() >= kMaxNamed && !named_.contains(name)) {
    auto stalest = std::min_element(named_.begin(), named_.end(), [](const auto& a, const auto& b) {
      return a.second.reported < b.second.reported;
    });
    named_.erase(stalest);
  }
  named_[name] = Named{position, now};
  return "";
}

void ListenerRegistry::Describe(uint64_t head, Clock::time_point now,
                                es::v1::StoreStats* stats) const {
  std::vector<std::pair<std::string, Named>> sorted(named_.begin(), named_.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [name, named] : sorted) {
    auto* status = stats->add_listeners();
    status->set_subscriber(name);
    status->set_position(named.position);
    status->set_lag(head > named.position ? head - named.position : 0);
    status->set_seconds_since_report(std::chrono::duration<double>(now - named.reported).count());
  }
}

}  // namespace es::store
