// NewUuid: the form of a version 4 UUID, no repeats within a process, across
// threads, or between a process and the children it forks (which inherit
// its memory, and with it any random state it keeps).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/ids.h"

namespace es::bus {
namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

TEST(NewUuid, IsAVersion4UuidInCanonicalForm) {
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewUuid();
    ASSERT_EQ(id.size(), 36u) << id;
    for (size_t at = 0; at < id.size(); ++at) {
      if (at == 8 || at == 13 || at == 18 || at == 23) {
        ASSERT_EQ(id[at], '-') << id;
      } else {
        ASSERT_TRUE(IsLowerHex(id[at])) << id;
      }
    }
    ASSERT_EQ(id[14], '4') << "version nibble: " << id;
    ASSERT_NE(std::string("89ab").find(id[19]), std::string::npos) << "variant: " << id;
  }
}

TEST(NewUuid, EveryRandomDigitVaries) {
  // 122 random bits: every hex digit but the version's takes several values
  // over a few hundred ids (a stuck byte in the generator would show here).
  std::vector<std::set<char>> seen(36);
  for (int i = 0; i < 500; ++i) {
    const std::string id = NewUuid();
    for (size_t at = 0; at < id.size(); ++at) seen[at].insert(id[at]);
  }
  for (size_t at = 0; at < 36; ++at) {
    if (at == 8 || at == 13 || at == 18 || at == 23 || at == 14) continue;
    EXPECT_GE(seen[at].size(), at == 19 ? 4u : 12u) << "digit " << at;
  }
}

TEST(NewUuid, NeverRepeatsAcrossThreads) {
  // More ids per thread than one refill of a per-thread buffer holds.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(NewUuid());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& list : ids) all.insert(list.begin(), list.end());
  EXPECT_EQ(all.size(), size_t{kThreads} * kPerThread);
}

// Draws `count` ids in a forked child and returns them (read from a pipe).
std::vector<std::string> IdsFromAForkedChild(int count) {
  int fds[2];
  if (pipe(fds) != 0) ADD_FAILURE() << "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    for (int i = 0; i < count; ++i) {
      const std::string line = NewUuid() + "\n";
      if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = read(fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, got);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::string> ids;
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
       start = end + 1) {
    ids.push_back(text.substr(start, end - start));
  }
  return ids;
}

TEST(NewUuid, AForkedChildAndItsParentNeverShareIds) {
  NewUuid();  // the parent has random state (a filled buffer, a seeded engine) before forking
  const std::vector<std::string> first_child = IdsFromAForkedChild(1000);
  const std::vector<std::string> second_child = IdsFromAForkedChild(1000);
  ASSERT_EQ(first_child.size(), 1000u);
  ASSERT_EQ(second_child.size(), 1000u);
  std::set<std::string> all(first_child.begin(), first_child.end());
  all.insert(second_child.begin(), second_child.end());
  for (int i = 0; i < 1000; ++i) all.insert(NewUuid());
  EXPECT_EQ(all.size(), 3000u) << "e.g. child " << first_child[0] << ", parent's next "
                               << NewUuid();
}

}  // namespace
}  // namespace es::bus
