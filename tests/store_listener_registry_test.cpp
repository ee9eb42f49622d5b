// What `esctl stats` shows about listeners: connected SUB sockets (counted
// from XPUB subscription messages) and named subscribers' checkpoints.
#include <gtest/gtest.h>

#include <string>

#include "store_service/listener_registry.h"
#include "store_service/live_topics.h"

namespace es::store {
namespace {

std::string Subscribe(std::string_view topic) {
  return std::string(1, '\x01') + std::string(topic);
}
std::string Unsubscribe(std::string_view topic) {
  return std::string(1, '\x00') + std::string(topic);
}

TEST(ListenerRegistry, CountsSocketsThatSubscribeToEverythingOrToHeartbeats) {
  ListenerRegistry registry;
  registry.OnSubscriptionMessage(Subscribe(""));               // unfiltered
  registry.OnSubscriptionMessage(Subscribe("account-"));       // a filter...
  registry.OnSubscriptionMessage(Subscribe(kHeartbeatTopic));  // ...and its heartbeats
  EXPECT_EQ(registry.connected(), 2u);
  registry.OnSubscriptionMessage(Unsubscribe(""));  // disconnect
  EXPECT_EQ(registry.connected(), 1u);
  registry.OnSubscriptionMessage(Unsubscribe(kHeartbeatTopic));
  registry.OnSubscriptionMessage(Unsubscribe(kHeartbeatTopic));  // never below zero
  EXPECT_EQ(registry.connected(), 0u);
}

TEST(ListenerRegistry, ReportsEachNamedSubscribersCheckpointAndLag) {
  ListenerRegistry registry;
  const auto now = ListenerRegistry::Clock::now();
  EXPECT_EQ(registry.Report("saga_service", 90, /*head=*/100, now), "");
  EXPECT_EQ(registry.Report("audit", 100, /*head=*/100, now), "");
  EXPECT_EQ(registry.Report("saga_service", 95, /*head=*/100, now), "");  // a later report replaces
  es::v1::StoreStats stats;
  registry.Describe(/*head=*/100, now, &stats);
  ASSERT_EQ(stats.listeners_size(), 2);
  EXPECT_EQ(stats.listeners(0).subscriber(), "audit");
  EXPECT_EQ(stats.listeners(0).lag(), 0u);
  EXPECT_EQ(stats.listeners(1).subscriber(), "saga_service");
  EXPECT_EQ(stats.listeners(1).position(), 95u);
  EXPECT_EQ(stats.listeners(1).lag(), 5u);
}

TEST(ListenerRegistry, RefusesEmptyAndOverlongNames) {
  ListenerRegistry registry;
  const auto now = ListenerRegistry::Clock::now();
  EXPECT_NE(registry.Report("", 1, 1, now), "");
  EXPECT_NE(registry.Report(std::string(ListenerRegistry::kMaxNameBytes + 1, 'x'), 1, 1, now), "");
  es::v1::StoreStats stats;
  registry.Describe(1, now, &stats);
  EXPECT_EQ(stats.listeners_size(), 0);
}

TEST(ListenerRegistry, RefusesACheckpointBeyondTheHead) {
  ListenerRegistry registry;
  const auto now = ListenerRegistry::Clock::now();
  const std::string error = registry.Report("audit", 101, /*head=*/100, now);
  EXPECT_NE(error.find("beyond the head 100"), std::string::npos) << error;
  EXPECT_EQ(registry.Report("audit", 100, /*head=*/100, now), "");  // at the head is fine
  es::v1::StoreStats stats;
  registry.Describe(100, now, &stats);
  ASSERT_EQ(stats.listeners_size(), 1);
  EXPECT_EQ(stats.listeners(0).position(), 100u);
}

TEST(ListenerRegistry, ForgetsTheStalestNameBeyondItsBound) {
  ListenerRegistry registry;
  auto now = ListenerRegistry::Clock::now();
  for (size_t i = 0; i < ListenerRegistry::kMaxNamed + 1; ++i) {
    now += std::chrono::milliseconds(1);
    registry.Report("listener-" + std::to_string(i), i, ListenerRegistry::kMaxNamed, now);
  }
  es::v1::StoreStats stats;
  registry.Describe(0, now, &stats);
  EXPECT_EQ(static_cast<size_t>(stats.listeners_size()), ListenerRegistry::kMaxNamed);
  for (const auto& listener : stats.listeners()) EXPECT_NE(listener.subscriber(), "listener-0");
}

}  // namespace
}  // namespace es::store
