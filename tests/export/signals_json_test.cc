#include "daemon/export/signals_json.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "simdjson.h"

namespace prodops::exporter {
namespace {

using prometheus::MetricType;

std::string Json(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

std::string Number(double value) {
  std::string out;
  AppendJsonNumber(value, &out);
  return out;
}

// Parses `json` with simdjson (which validates UTF-8 and the grammar) and
// returns the string it holds; fails the test if it is not one JSON string.
std::string DecodeJsonString(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  simdjson::error_code error = parser.parse(json).get(element);
  EXPECT_EQ(error, simdjson::SUCCESS) << json << ": " << simdjson::error_message(error);
  std::string_view text;
  error = element.get_string().get(text);
  EXPECT_EQ(error, simdjson::SUCCESS) << json;
  return std::string(text);
}

TEST(AppendJsonStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Json(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(Json(R"(C:\new\)"), R"("C:\\new\\")");
  EXPECT_EQ(Json("a\nb\tc\rd\be\ff"), R"("a\nb\tc\rd\be\ff")");
  EXPECT_EQ(Json(std::string("nul\0x", 5)), R"("nul\u0000x")");
  EXPECT_EQ(Json("\x01\x1f\x7f"), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(Json("/path</script>"), R"("/path</script>")");
  EXPECT_EQ(Json(""), R"("")");
}

TEST(AppendJsonStringTest, CopiesValidUtf8) {
  const std::string text =
      "\xC3\xA9quipe \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x9A\x80 \xF4\x8F\xBF\xBF";
  EXPECT_EQ(Json(text), "\"" + text + "\"");
  EXPECT_EQ(DecodeJsonString(Json(text)), text);
}

TEST(AppendJsonStringTest, EscapesLineAndParagraphSeparators) {
  EXPECT_EQ(Json("a\xE2\x80\xA8z\xE2\x80\xA9"), R"("a\u2028z\u2029")");
  // Their neighbours are ordinary characters.
  EXPECT_EQ(Json("\xE2\x80\xA7\xE2\x80\xAA"), "\"\xE2\x80\xA7\xE2\x80\xAA\"");
}

TEST(AppendJsonStringTest, ReplacesEveryByteOfInvalidUtf8) {
  EXPECT_EQ(Json("a\x80z"), R"("a\ufffdz")");                  // lone continuation byte
  EXPECT_EQ(Json("a\xE2\x82"), R"("a\ufffd\ufffd")");          // truncated sequence
  EXPECT_EQ(Json("\xC0\xAF"), R"("\ufffd\ufffd")");            // overlong '/'
  EXPECT_EQ(Json("\xE0\x80\xAF"), R"("\ufffd\ufffd\ufffd")");  // overlong, 3 bytes
  EXPECT_EQ(Json("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");  // UTF-16 surrogate
  EXPECT_EQ(Json("\xF4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(Json("\xF5\xFF"), R"("\ufffd\ufffd")");
  // A valid sequence right after an invalid byte survives.
  EXPECT_EQ(Json("\xC3\xC3\xA9"), "\"\\ufffd\xC3\xA9\"");
  EXPECT_EQ(DecodeJsonString(Json("x\xFFy\xC3")), "x\xEF\xBF\xBDy\xEF\xBF\xBD");
}

TEST(AppendJsonStringTest, EveryByteStringBecomesValidJson) {
  // All single bytes and all pairs: the output always parses, and ASCII
  // other than control characters comes back unchanged.
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    const std::string decoded = DecodeJsonString(Json(one));
    if (a < 0x80) {
      EXPECT_EQ(decoded, one) << a;
    }
    for (int b = 0; b < 256; ++b) {
      const std::string two = {static_cast<char>(a), static_cast<char>(b)};
      simdjson::dom::parser parser;
      simdjson::dom::element element;
      ASSERT_EQ(parser.parse(Json(two)).get(element), simdjson::SUCCESS) << a << " " << b;
    }
  }
}

TEST(AppendJsonNumberTest, ShortestRoundTripAndStringsForNonFinite) {
  EXPECT_EQ(Number(0), "0");
  EXPECT_EQ(Number(42), "42");
  EXPECT_EQ(Number(-2.5), "-2.5");
  EXPECT_EQ(Number(0.1), "0.1");
  EXPECT_EQ(Number(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(Number(123456789012.0), "123456789012");
  EXPECT_EQ(Number(1e21), "1e+21");
  EXPECT_EQ(Number(2.5e-7), "2.5e-07");
  EXPECT_EQ(Number(std::nan("")), R"("NaN")");
  EXPECT_EQ(Number(std::numeric_limits<double>::infinity()), R"("+Inf")");
  EXPECT_EQ(Number(-std::numeric_limits<double>::infinity()), R"("-Inf")");
}

TEST(FormatRfc3339MillisTest, UtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(1'772'366'400'250), "2026-03-01T12:00:00.250Z");
  EXPECT_EQ(FormatRfc3339Millis(1'772'366'399'999), "2026-03-01T11:59:59.999Z");
}

// A snapshot as the pipeline publishes it: sorted families, some empty.
class SignalsJsonTest : public ::testing::Test {
 protected:
  SignalsJsonTest() {
    snapshot_.as_of_ms = 1'772'366'400'250;
    prometheus::MetricFamily active =
        MakeFamily("prodops_active_users", "Distinct users.", MetricType::Gauge);
    AddSample(&active, {"feature", "window"}, {"__all__", "1h"}, 12);
    AddSample(&active, {"feature", "window"}, {"checkout", "1h"}, 3);
    prometheus::MetricFamily resolution = MakeFamily(
        "prodops_ticket_resolution_seconds", "Time to resolve.", MetricType::Histogram);
    prometheus::ClientMetric& histogram = resolution.metric.emplace_back();
    histogram.label = {{"team", "payments"}};
    histogram.histogram.sample_count = 3;
    histogram.histogram.sample_sum = 4000.5;
    histogram.histogram.bucket = {
        {1, 60}, {2, 3600}, {3, std::numeric_limits<double>::infinity()}};
    prometheus::MetricFamily ratio =
        MakeFamily("prodops_srm_p_value", "SRM p-value.", MetricType::Gauge);
    AddSample(&ratio, {"experiment"}, {"new \"checkout\"\n"}, std::nan(""));
    prometheus::MetricFamily tickets = MakeFamily(
        "prodops_tickets_created_total", "Tickets created.", MetricType::Counter);
    AddSample(&tickets, {"ticket_type", "priority", "team"}, {"bug", "high", "payments"},
              5);
    AddSample(&tickets, {"ticket_type", "priority", "team"},
              {"incident", "high", "search"}, 2);
    AddSample(&tickets, {"ticket_type", "priority", "team"},
              {"bug", "low", "\xC3\xA9quipe"}, 1);
    prometheus::MetricFamily ready =
        MakeFamily("prodops_ready", "1 when ready.", MetricType::Gauge);
    AddSample(&ready, {}, {}, 1);
    prometheus::MetricFamily empty =
        MakeFamily("prodops_release_ticket_lift", "Lift.", MetricType::Gauge);
    snapshot_.families = {active, ready, empty, ratio, resolution, tickets};
    vocabulary_.metric_names = {"prodops_unexposed_total"};
    vocabulary_.label_names = {"experiment", "variant"};
  }

  // The body for `raw_query`; the test fails on a 400.
  std::string Serve(std::string_view raw_query) {
    SignalsResponse response = ServeSignals(snapshot_, raw_query, vocabulary_);
    EXPECT_EQ(response.status, 200) << raw_query << ": " << response.body;
    return response.body;
  }

  // The error body for `raw_query`; the test fails unless it is a 400.
  std::string Refuse(std::string_view raw_query) {
    SignalsResponse response = ServeSignals(snapshot_, raw_query, vocabulary_);
    EXPECT_EQ(response.status, 400) << raw_query << ": " << response.body;
    return response.body;
  }

  // "name{label=value,...}" of every series in the body, in order, from a
  // real JSON parse.
  std::vector<std::string> SeriesOf(const std::string& body) {
    std::vector<std::string> out;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    EXPECT_EQ(parser.parse(body).get(root), simdjson::SUCCESS) << body;
    simdjson::dom::array signals;
    EXPECT_EQ(root["signals"].get(signals), simdjson::SUCCESS) << body;
    for (simdjson::dom::element signal : signals) {
      std::string series = std::string(std::string_view(signal["name"]));
      series += "{";
      bool first = true;
      for (simdjson::dom::key_value_pair label :
           simdjson::dom::object(signal["labels"])) {
        if (!first) series += ",";
        first = false;
        series +=
            std::string(label.key) + "=" + std::string(std::string_view(label.value));
      }
      out.push_back(series + "}");
    }
    return out;
  }

  Snapshot snapshot_;
  SignalsVocabulary vocabulary_;
};

TEST_F(SignalsJsonTest, RendersEverySeriesInSnapshotOrder) {
  const std::string body = Serve("");
  EXPECT_EQ(body,
            R"({"as_of":"2026-03-01T12:00:00.250Z","as_of_ms":1772366400250,"signals":[
{"name":"prodops_active_users","type":"gauge","help":"Distinct users.","labels":{"feature":"__all__","window":"1h"},"value":12},
{"name":"prodops_active_users","type":"gauge","help":"Distinct users.","labels":{"feature":"checkout","window":"1h"},"value":3},
{"name":"prodops_ready","type":"gauge","help":"1 when ready.","labels":{},"value":1},
{"name":"prodops_srm_p_value","type":"gauge","help":"SRM p-value.","labels":{"experiment":"new \"checkout\"\n"},"value":"NaN"},
{"name":"prodops_ticket_resolution_seconds","type":"histogram","help":"Time to resolve.","labels":{"team":"payments"},"count":3,"sum":4000.5,"buckets":[{"le":60,"count":1},{"le":3600,"count":2},{"le":"+Inf","count":3}]},
{"name":"prodops_tickets_created_total","type":"counter","help":"Tickets created.","labels":{"ticket_type":"bug","priority":"high","team":"payments"},"value":5},
{"name":"prodops_tickets_created_total","type":"counter","help":"Tickets created.","labels":{"ticket_type":"incident","priority":"high","team":"search"},"value":2},
{"name":"prodops_tickets_created_total","type":"counter","help":"Tickets created.","labels":{"ticket_type":"bug","priority":"low","team":"équipe"},"value":1}
]}
)");
  // And it is JSON that a parser reads back to the same label values.
  EXPECT_EQ(SeriesOf(body)[3], "prodops_srm_p_value{experiment=new \"checkout\"\n}");
  EXPECT_EQ(
      SeriesOf(body)[7],
      "prodops_tickets_created_total{ticket_type=bug,priority=low,team=\xC3\xA9quipe}");
}

TEST_F(SignalsJsonTest, HistogramFieldsParseAsNumbers) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(Serve("name=prodops_ticket_resolution_seconds")).get(root),
            simdjson::SUCCESS);
  simdjson::dom::element histogram = root["signals"].at(0);
  EXPECT_EQ(uint64_t(histogram["count"]), 3u);
  EXPECT_EQ(double(histogram["sum"]), 4000.5);
  EXPECT_EQ(double(histogram["buckets"].at(1)["le"]), 3600);
  EXPECT_EQ(uint64_t(histogram["buckets"].at(1)["count"]), 2u);
  EXPECT_EQ(std::string_view(histogram["buckets"].at(2)["le"]), "+Inf");
  EXPECT_TRUE(histogram["value"].error() == simdjson::NO_SUCH_FIELD);
}

TEST_F(SignalsJsonTest, EmptySnapshotBeforeTheFirstPublish) {
  EXPECT_EQ(ServeSignals(Snapshot{}, "", {}).body,
            "{\"as_of\":\"1970-01-01T00:00:00.000Z\",\"as_of_ms\":0,\"signals\":[]}\n");
}

TEST_F(SignalsJsonTest, NameFilterIsExactAndRepeatableInSnapshotOrder) {
  EXPECT_EQ(SeriesOf(Serve("name=prodops_ready")),
            std::vector<std::string>{"prodops_ready{}"});
  // Given in the other order, still in the snapshot's order.
  EXPECT_EQ(SeriesOf(Serve("name=prodops_ready&name=prodops_active_users")),
            (std::vector<std::string>{"prodops_active_users{feature=__all__,window=1h}",
                                      "prodops_active_users{feature=checkout,window=1h}",
                                      "prodops_ready{}"}));
  // A family with no series, and a catalog name that is not in the snapshot.
  EXPECT_EQ(SeriesOf(Serve("name=prodops_release_ticket_lift")),
            std::vector<std::string>{});
  EXPECT_EQ(SeriesOf(Serve("name=prodops_unexposed_total")), std::vector<std::string>{});
}

TEST_F(SignalsJsonTest, LabelFiltersAndAcrossLabelsOrWithinOne) {
  EXPECT_EQ(
      SeriesOf(Serve("team=payments")),
      (std::vector<std::string>{
          "prodops_ticket_resolution_seconds{team=payments}",
          "prodops_tickets_created_total{ticket_type=bug,priority=high,team=payments}"}));
  EXPECT_EQ(
      SeriesOf(Serve("team=payments&ticket_type=bug")),
      std::vector<std::string>{
          "prodops_tickets_created_total{ticket_type=bug,priority=high,team=payments}"});
  EXPECT_EQ(
      SeriesOf(Serve("team=search&team=payments&name=prodops_tickets_created_total")),
      (std::vector<std::string>{
          "prodops_tickets_created_total{ticket_type=bug,priority=high,team=payments}",
          "prodops_tickets_created_total{ticket_type=incident,priority=high,team="
          "search}"}));
  EXPECT_EQ(SeriesOf(Serve("team=payments&priority=low")), std::vector<std::string>{});
  EXPECT_EQ(Serve("team=nobody"),
            "{\"as_of\":\"2026-03-01T12:00:00.250Z\",\"as_of_ms\":1772366400250,"
            "\"signals\":[]}\n");
}

TEST_F(SignalsJsonTest, EmptyValueMatchesSeriesWithoutTheLabel) {
  EXPECT_EQ(SeriesOf(Serve("name=prodops_ready&name=prodops_active_users&feature=")),
            std::vector<std::string>{"prodops_ready{}"});
}

TEST_F(SignalsJsonTest, DecodesPercentEncodingAndPlus) {
  EXPECT_EQ(SeriesOf(Serve("team=%C3%A9quipe")),
            std::vector<std::string>{"prodops_tickets_created_total{ticket_type=bug,"
                                     "priority=low,team=\xC3\xA9quipe}"});
  EXPECT_EQ(SeriesOf(Serve("experiment=new+%22checkout%22%0a")).size(), 1u);
  EXPECT_EQ(SeriesOf(Serve("experiment=new%20%22checkout%22%0A")).size(), 1u);
  // '+' is a space: a literal plus must be sent as %2B.
  EXPECT_EQ(SeriesOf(Serve("experiment=new%2B%22checkout%22%0A")).size(), 0u);
  EXPECT_EQ(SeriesOf(Serve("%74eam=payments")).size(), 2u);
  EXPECT_EQ(SeriesOf(Serve("&&team=payments&")).size(), 2u);
}

TEST_F(SignalsJsonTest, RefusesUnknownParametersNamingThem) {
  EXPECT_EQ(
      Refuse("team=payments&teem=payments"),
      R"j({"error":"unknown parameter \"teem\": not \"name\" and not a label name of any signal","parameter":"teem"})j"
      "\n");
  // A label name known only from the vocabulary (no series) is accepted.
  EXPECT_EQ(SeriesOf(Serve("variant=control")), std::vector<std::string>{});
  // The parameter is escaped like any string.
  EXPECT_EQ(
      Refuse("a%22%5C%0Ab=1"),
      R"j({"error":"unknown parameter \"a\"\\\nb\": not \"name\" and not a label name of any signal","parameter":"a\"\\\nb"})j"
      "\n");
  EXPECT_EQ(
      Refuse("=payments"),
      R"j({"error":"unknown parameter \"\": not \"name\" and not a label name of any signal","parameter":""})j"
      "\n");
  EXPECT_EQ(
      Refuse("le=60"),
      R"j({"error":"unknown parameter \"le\": not \"name\" and not a label name of any signal","parameter":"le"})j"
      "\n");
}

TEST_F(SignalsJsonTest, RefusesUnknownNames) {
  EXPECT_EQ(Refuse("name=prodops_ready&name=prodops_redy"),
            R"j({"error":"unknown signal name \"prodops_redy\"","parameter":"name"})j"
            "\n");
  EXPECT_EQ(Refuse("name="),
            R"j({"error":"unknown signal name \"\"","parameter":"name"})j"
            "\n");
}

TEST_F(SignalsJsonTest, RefusesMalformedParameters) {
  EXPECT_EQ(
      Refuse("team"),
      R"j({"error":"parameter \"team\" has no value (write KEY=VALUE)","parameter":"team"})j"
      "\n");
  EXPECT_EQ(
      Refuse("team=%zz"),
      R"j({"error":"bad percent-encoding in the value of parameter \"team\"","parameter":"team"})j"
      "\n");
  EXPECT_EQ(
      Refuse("team=abc%4"),
      R"j({"error":"bad percent-encoding in the value of parameter \"team\"","parameter":"team"})j"
      "\n");
  EXPECT_EQ(
      Refuse("te%m=x"),
      R"j({"error":"bad percent-encoding in parameter name \"te%m\"","parameter":"te%m"})j"
      "\n");
}

TEST_F(SignalsJsonTest, InvalidUtf8InAParameterStillGivesValidJson) {
  const std::string body = Refuse("%FF%C3=1");
  EXPECT_EQ(
      body,
      R"j({"error":"unknown parameter \"\ufffd\ufffd\": not \"name\" and not a label name of any signal","parameter":"\ufffd\ufffd"})j"
      "\n");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(body).get(root), simdjson::SUCCESS);
}

TEST(ParseSignalsQueryTest, GroupsRepeatedLabelsAndKeepsOrder) {
  SignalsVocabulary vocabulary;
  vocabulary.metric_names = {"a_total", "b_total"};
  vocabulary.label_names = {"team", "feature"};
  absl::StatusOr<SignalsQuery> query = ParseSignalsQuery(
      "feature=x&team=p&name=b_total&feature=y&name=a_total", vocabulary);
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->names, (std::vector<std::string>{"b_total", "a_total"}));
  ASSERT_EQ(query->labels.size(), 2u);
  EXPECT_EQ(query->labels[0].label, "feature");
  EXPECT_EQ(query->labels[0].values, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(query->labels[1].label, "team");
  EXPECT_EQ(query->labels[1].values, (std::vector<std::string>{"p"}));

  absl::StatusOr<SignalsQuery> bad = ParseSignalsQuery("team=p&window=1h", vocabulary);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BadParameter(bad.status()), "window");
  EXPECT_EQ(BadParameter(absl::OkStatus()), "");
}

}  // namespace
}  // namespace prodops::exporter
