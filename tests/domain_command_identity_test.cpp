// A repeat is the same command (verb, target, parameters), whatever fields
// a newer client added that this schema does not know: those are not in the
// stored record, so they cannot make a repeat a conflict (found by the
// command_requests fuzzer).
#include <gtest/gtest.h>

#include <string>

#include "domain/command_identity.h"
#include "domain_test_support.h"

namespace es::domain {
namespace {

using testing::OpenAccountCommand;

TEST(CommandIdentity, ARepeatWithFieldsThisSchemaDoesNotKnowIsTheSameCommand) {
  es::v1::Command first = OpenAccountCommand("A", "Alice", 100);
  first.set_command_id("c1");
  // open_account with an unknown field 12 (a newer client's), on the wire.
  std::string body = first.open_account().SerializeAsString() + std::string("\x60\x07", 2);
  es::v1::Command parsed;
  ASSERT_TRUE(parsed.mutable_open_account()->ParseFromString(body));
  parsed.set_command_id("c1");
  ASSERT_FALSE(parsed.open_account().GetReflection()->GetUnknownFields(parsed.open_account()).empty());

  EXPECT_TRUE(SameCommand(parsed, first));
  EXPECT_TRUE(SameCommand(first, parsed));
  es::v1::Command other = first;
  other.mutable_open_account()->set_initial_balance(101);
  EXPECT_FALSE(SameCommand(other, first));
  other = first;
  other.mutable_open_account()->set_account_id("B");
  EXPECT_FALSE(SameCommand(other, first));
}

}  // namespace
}  // namespace es::domain
