// The embedded default, as ./scripts/demo runs it: config/demo.textproto
// (mock cluster + simulator) must serve moving, non-zero prodops_ metrics
// within 30 seconds.
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/support/daemon_process.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace prodops {
namespace {

using testing::ParseExposition;
using testing::SumOf;

TEST(DemoTest, EmbeddedDefaultServesNonZeroMetricsWithin30Seconds) {
  testing::TempDir dir;
  const int port = testing::FreePort();
  // The shipped demo config, with this test's own state directory and port.
  std::string config = absl::StrReplaceAll(testing::ReadFile("config/demo.textproto"),
                                           {{"/tmp/prodopsd-demo/state", dir.File("state")}});
  absl::StrAppend(&config, "\nhttp { listen_address: \"127.0.0.1:", port, "\" }\n");
  testing::WriteFile(dir.File("demo.textproto"), config);
  testing::DaemonProcess daemon({"--config", dir.File("demo.textproto")}, dir.File("log"));

  const auto start = std::chrono::steady_clock::now();
  double usage = 0;
  testing::Samples samples;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
    samples = ParseExposition(testing::HttpGet(port, "/metrics").body);
    usage = SumOf(samples, "prodops_usage_events_total");
    if (usage > 0 && SumOf(samples, "prodops_tickets_created_total") > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "first usage and ticket metrics after " << seconds << " s\n";
  ASSERT_GT(usage, 0) << testing::ReadFile(dir.File("log"));
  EXPECT_GT(SumOf(samples, "prodops_tickets_created_total"), 0);
  EXPECT_GT(samples.at("prodops_active_users{feature=\"__all__\",window=\"1h\"}"), 0);
  EXPECT_EQ(SumOf(samples, "prodops_events_rejected_total"), 0);

  // And they keep moving.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_GT(SumOf(ParseExposition(testing::HttpGet(port, "/metrics").body),
                  "prodops_usage_events_total"),
            usage);
  EXPECT_EQ(testing::HttpGet(port, "/readyz").status, 200);
  daemon.Kill(SIGTERM);
  EXPECT_EQ(daemon.Wait(10'000), 0);
}

}  // namespace
}  // namespace prodops
