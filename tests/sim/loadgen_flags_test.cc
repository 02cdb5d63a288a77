// prodops-loadgen refuses bad flags with exit code 2 and a message that
// names the flag, the value and what it wants.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/daemon_process.h"

namespace prodops {
namespace {

struct BadFlag {
  std::vector<std::string> flag;
  std::string message;
};

TEST(LoadgenFlagsTest, RefusesOutOfRangeIntegersWithTheirRange) {
  const std::vector<BadFlag> cases = {
      {{"--events", "0"}, "--events \"0\" is not a positive integer"},
      {{"--events", "12x"}, "--events \"12x\" is not a positive integer"},
      {{"--users", "100000001"},
       "--users \"100000001\" is not an integer in 1..100000000"},
      {{"--accounts", "-3"}, "--accounts \"-3\" is not a positive integer"},
      {{"--features", "11"}, "--features \"11\" is not an integer in 12..1000000"},
      {{"--teams", "0"}, "--teams \"0\" is not an integer in 1..1000000"},
      {{"--flush-timeout-ms", "0"}, "--flush-timeout-ms \"0\" is not a positive integer"},
  };
  for (const BadFlag& bad : cases) {
    std::vector<std::string> args = {"--start-ms",   "1772366400000", "--topic",
                                     "t:json:usage", "--ndjson-dir",  "/nonexistent"};
    args.insert(args.end(), bad.flag.begin(), bad.flag.end());
    std::string out, err;
    EXPECT_EQ(testing::RunCommand(testing::LoadgenBinary(), args, &out, &err), 2) << err;
    EXPECT_NE(err.find("prodops-loadgen: " + bad.message + "\n"), std::string::npos)
        << err;
  }
}

}  // namespace
}  // namespace prodops
