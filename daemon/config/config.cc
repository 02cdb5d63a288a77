#include "daemon/config/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace prodops::config {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::TextFormat;
using ::prodops::v1::DaemonConfig;
using ::prodops::v1::HttpConfig;
using ::prodops::v1::IngestConfig;
using ::prodops::v1::KafkaConfig;
using ::prodops::v1::SignalsConfig;
using ::prodops::v1::SimulatorConfig;
using ::prodops::v1::StateConfig;
using ::prodops::v1::TicketSignalsConfig;
using ::prodops::v1::TopicConfig;
using ::prodops::v1::WindowConfig;
using ::prodops::v1::WindowSpec;

// Defaults and limits documented in config.proto.
constexpr char kDefaultGroupId[] = "prodopsd";
constexpr uint32_t kMaxEmbeddedBrokers = 8;
constexpr uint32_t kDefaultPartitions = 4;
constexpr uint32_t kDefaultFlushIntervalMs = 1000;
constexpr uint32_t kMinFlushIntervalMs = 10;
constexpr uint32_t kMaxFlushIntervalMs = 60000;
constexpr uint64_t kDefaultCacheMaxBytes = uint64_t{64} << 20;
constexpr uint64_t kDefaultMemoryBudgetBytes = uint64_t{256} << 20;
constexpr uint64_t kDefaultMinFreeDiskBytes = uint64_t{64} << 20;
constexpr uint64_t kMinMemoryBudgetBytes = uint64_t{8} << 20;
constexpr uint64_t kMaxMemoryBudgetBytes = uint64_t{64} << 30;
constexpr uint64_t kDefaultWindowCacheBytes = uint64_t{64} << 20;
constexpr uint64_t kMinWindowCacheBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxWindowCacheBytes = uint64_t{64} << 30;
constexpr uint64_t kDefaultDedupFilterBytes = uint64_t{64} << 20;
constexpr uint64_t kMinDedupFilterBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxDedupFilterBytes = uint64_t{64} << 30;
constexpr uint32_t kDefaultMaxMessageBytes = 1u << 20;
constexpr uint32_t kMinMaxMessageBytes = 1024;
constexpr uint32_t kMaxMaxMessageBytes = 64u << 20;
constexpr uint32_t kDefaultMaxFutureSeconds = 3600;
constexpr uint32_t kDefaultDedupHorizonSeconds = 86400;
constexpr uint32_t kSecondsPerDay = 86400;
constexpr uint32_t kDefaultAllowedLatenessSeconds = 3600;
constexpr char kDefaultListenAddress[] = "127.0.0.1:9464";
constexpr uint32_t kDefaultEventsPerSecond = 200;
constexpr uint32_t kDefaultUsers = 400;
constexpr uint64_t kDefaultSeed = 1;

// Ticket signal defaults (TicketSignalsConfig), in seconds by priority.
struct DefaultSla {
  uint32_t low, normal, high, urgent;
};
constexpr DefaultSla kDefaultFirstReplySla = {86400, 28800, 14400, 3600};
constexpr DefaultSla kDefaultResolutionSla = {604800, 259200, 86400, 14400};
constexpr uint32_t kDefaultSpikeBaselineHours = 168;
constexpr double kDefaultSpikeMadFloor = 1.0;
constexpr double kDefaultSpikeThreshold = 3.5;
constexpr uint32_t kDefaultClosedTicketExpirySeconds = 345600;

struct DefaultWindow {
  const char* name;
  uint32_t length_seconds;
  uint32_t bucket_seconds;
};
constexpr DefaultWindow kDefaultWindows[] = {
    {"1h", 3600, 60},
    {"1d", 86400, 3600},
    {"7d", 604800, 3600},
};

// librdkafka properties that prodopsd sets itself, and where to configure
// them instead when there is such a place.
struct RefusedProperty {
  const char* name;
  const char* hint;
};
constexpr RefusedProperty kRefusedProperties[] = {
    {"group.id", "; use kafka.group_id"},
    {"group.instance.id", "; use kafka.group_instance_id"},
    {"bootstrap.servers", "; use kafka.bootstrap_servers"},
    {"enable.auto.commit", ""},
    {"enable.auto.offset.store", ""},
    {"partition.assignment.strategy", ""},
};

// "FILE:LINE:COLUMN: TEXT" from protobuf's 0-based line and column; editors
// count from 1.
absl::Status ErrorAt(const std::string& file, int line, int column,
                     absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ":", line + 1, ":", column + 1, ": ", text));
}

// Keeps the parser's first error: later ones are mostly consequences of it.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!error_.has_value()) error_ = Error{line, column, message};
  }

  struct Error {
    int line;  // 0-based, as protobuf counts
    int column;
    std::string message;
  };
  const std::optional<Error>& error() const { return error_; }

 private:
  std::optional<Error> error_;
};

// A message or field of the parsed file: its path (`windows.window[0]`) and
// where it was written, for error messages. A field that is absent from the
// file takes the location of its enclosing message, or 1:1 at the top.
class Site {
 public:
  Site(const std::string& file, const TextFormat::ParseInfoTree* tree,
       const Descriptor* type)
      : file_(&file), tree_(tree), type_(type) {}

  // The singular field with this number (a generated k*FieldNumber).
  Site Field(int number) const { return Child(number, -1, ""); }
  // Element `index` of a repeated field; `subscript` replaces the index in
  // the path when given (map keys).
  Site Element(int number, int index, absl::string_view subscript = "") const {
    return Child(number, index, subscript);
  }

  const std::string& path() const { return path_; }

  absl::Status Error(absl::string_view what) const {
    return ErrorAt(*file_, line_, column_, absl::StrCat(path_, ": ", what));
  }

 private:
  Site Child(int number, int index, absl::string_view subscript) const {
    const FieldDescriptor* field = type_->FindFieldByNumber(number);
    Site child(*this);
    child.type_ = field->message_type();
    child.tree_ = nullptr;
    child.path_ = path_.empty() ? field->name() : absl::StrCat(path_, ".", field->name());
    if (index >= 0) {
      absl::StrAppend(&child.path_, "[",
                      subscript.empty() ? absl::StrCat(index) : std::string(subscript),
                      "]");
    }
    // A repeated field as a whole has no location of its own.
    if (tree_ == nullptr || (field->is_repeated() && index < 0)) return child;
    const TextFormat::ParseLocation location = tree_->GetLocation(field, index);
    if (location.line < 0) return child;
    child.line_ = location.line;
    child.column_ = location.column;
    if (child.type_ != nullptr) child.tree_ = tree_->GetTreeForNested(field, index);
    return child;
  }

  const std::string* file_;
  const TextFormat::ParseInfoTree* tree_;  // null when absent from the file
  const Descriptor* type_;                 // null for a scalar field
  std::string path_;
  int line_ = 0;  // 0-based, as protobuf counts
  int column_ = 0;
};

void FillSlaDefaults(const DefaultSla& defaults, prodops::v1::SlaTargets* targets) {
  if (targets->low_seconds() == 0) targets->set_low_seconds(defaults.low);
  if (targets->normal_seconds() == 0) targets->set_normal_seconds(defaults.normal);
  if (targets->high_seconds() == 0) targets->set_high_seconds(defaults.high);
  if (targets->urgent_seconds() == 0) targets->set_urgent_seconds(defaults.urgent);
}

void FillTicketDefaults(TicketSignalsConfig* tickets) {
  FillSlaDefaults(kDefaultFirstReplySla, tickets->mutable_first_reply_sla());
  FillSlaDefaults(kDefaultResolutionSla, tickets->mutable_resolution_sla());
  if (tickets->reactive().empty()) {
    tickets->add_reactive()->set_type(prodops::v1::TicketEvent::INCIDENT);
    prodops::v1::ReactiveRule* bug = tickets->add_reactive();
    bug->set_type(prodops::v1::TicketEvent::BUG);
    bug->set_min_priority(prodops::v1::TicketEvent::HIGH);
  }
  prodops::v1::SpikeConfig* spike = tickets->mutable_spike();
  if (spike->baseline_hours() == 0) spike->set_baseline_hours(kDefaultSpikeBaselineHours);
  if (spike->mad_floor() == 0) spike->set_mad_floor(kDefaultSpikeMadFloor);
  if (spike->threshold() == 0) spike->set_threshold(kDefaultSpikeThreshold);
  if (tickets->closed_ticket_expiry_seconds() == 0) {
    tickets->set_closed_ticket_expiry_seconds(kDefaultClosedTicketExpirySeconds);
  }
}

// Release and label budget defaults (ReleaseSignalsConfig,
// LabelBudgetConfig).
constexpr uint32_t kDefaultImpactHours = 24;
constexpr uint32_t kMaxImpactHours = 168;
constexpr uint32_t kDefaultRecentReleases = 20;
constexpr uint32_t kMaxRecentReleases = 1000;
constexpr uint32_t kMaxLabelBudget = 100000;

void FillReleaseAndBudgetDefaults(prodops::v1::SignalsConfig* signals) {
  prodops::v1::ReleaseSignalsConfig* releases = signals->mutable_releases();
  if (releases->impact_hours() == 0) releases->set_impact_hours(kDefaultImpactHours);
  if (releases->recent_releases() == 0)
    releases->set_recent_releases(kDefaultRecentReleases);
  prodops::v1::LabelBudgetConfig* budgets = signals->mutable_label_budgets();
  if (budgets->team() == 0) budgets->set_team(200);
  if (budgets->feature() == 0) budgets->set_feature(500);
  if (budgets->release() == 0) budgets->set_release(100);
  if (budgets->experiment() == 0) budgets->set_experiment(50);
  if (budgets->variant() == 0) budgets->set_variant(20);
}

void FillDefaults(DaemonConfig* config) {
  KafkaConfig* kafka = config->mutable_kafka();
  if (kafka->group_id().empty()) kafka->set_group_id(kDefaultGroupId);
  for (TopicConfig& topic : *config->mutable_topic()) {
    if (topic.partitions() == 0) topic.set_partitions(kDefaultPartitions);
  }
  StateConfig* state = config->mutable_state();
  if (state->flush_interval_ms() == 0) {
    state->set_flush_interval_ms(kDefaultFlushIntervalMs);
  }
  if (state->cache_max_bytes() == 0) state->set_cache_max_bytes(kDefaultCacheMaxBytes);
  if (state->memory_budget_bytes() == 0) {
    state->set_memory_budget_bytes(kDefaultMemoryBudgetBytes);
  }
  if (state->min_free_disk_bytes() == 0)
    state->set_min_free_disk_bytes(kDefaultMinFreeDiskBytes);
  if (state->window_cache_bytes() == 0) {
    state->set_window_cache_bytes(kDefaultWindowCacheBytes);
  }
  if (state->dedup_filter_bytes() == 0) {
    state->set_dedup_filter_bytes(kDefaultDedupFilterBytes);
  }
  IngestConfig* ingest = config->mutable_ingest();
  if (ingest->max_message_bytes() == 0)
    ingest->set_max_message_bytes(kDefaultMaxMessageBytes);
  if (ingest->max_future_seconds() == 0)
    ingest->set_max_future_seconds(kDefaultMaxFutureSeconds);
  if (ingest->dedup_horizon_seconds() == 0) {
    ingest->set_dedup_horizon_seconds(kDefaultDedupHorizonSeconds);
  }
  WindowConfig* windows = config->mutable_windows();
  if (windows->window_size() == 0) {
    for (const DefaultWindow& spec : kDefaultWindows) {
      WindowSpec* window = windows->add_window();
      window->set_name(spec.name);
      window->set_length_seconds(spec.length_seconds);
      window->set_bucket_seconds(spec.bucket_seconds);
    }
  }
  if (windows->allowed_lateness_seconds() == 0) {
    windows->set_allowed_lateness_seconds(kDefaultAllowedLatenessSeconds);
  }
  if (windows->clock() == WindowConfig::CLOCK_UNSPECIFIED)
    windows->set_clock(WindowConfig::WALL);
  HttpConfig* http = config->mutable_http();
  if (http->listen_address().empty()) http->set_listen_address(kDefaultListenAddress);
  SimulatorConfig* simulator = config->mutable_simulator();
  if (simulator->events_per_second() == 0) {
    simulator->set_events_per_second(kDefaultEventsPerSecond);
  }
  if (simulator->users() == 0) simulator->set_users(kDefaultUsers);
  if (simulator->seed() == 0) simulator->set_seed(kDefaultSeed);
  FillTicketDefaults(config->mutable_signals()->mutable_tickets());
  FillReleaseAndBudgetDefaults(config->mutable_signals());
}

// "PROTOBUF or JSON": the values of an enum but its zero (unspecified).
std::string EnumChoices(const EnumDescriptor* type) {
  std::string choices;
  for (int i = 1; i < type->value_count(); ++i) {
    absl::StrAppend(&choices,
                    i == 1                         ? ""
                    : i + 1 == type->value_count() ? " or "
                                                   : ", ",
                    type->value(i)->name());
  }
  return choices;
}

// A required enum field: set, and (proto3 enums being open) to a named value.
absl::Status RequireEnum(const Site& site, int value, const EnumDescriptor* type) {
  if (value == 0) return site.Error(absl::StrCat("required: ", EnumChoices(type)));
  if (type->FindValueByNumber(value) == nullptr) {
    return site.Error(
        absl::StrCat("unknown value ", value, "; expected ", EnumChoices(type)));
  }
  return absl::OkStatus();
}

// The name of element `index` of a repeated field: required, and unlike the
// names of the elements before it. `name_of(i)` is the name of element i.
template <typename NameOf>
absl::Status RequireUniqueName(const Site& parent, int repeated_number, int index,
                               int name_number, NameOf name_of) {
  const Site site = parent.Element(repeated_number, index).Field(name_number);
  const std::string& name = name_of(index);
  if (name.empty()) return site.Error("required");
  for (int earlier = 0; earlier < index; ++earlier) {
    if (name_of(earlier) != name) continue;
    return site.Error(
        absl::StrCat("\"", name, "\" is already used by ",
                     parent.Element(repeated_number, earlier).Field(name_number).path()));
  }
  return absl::OkStatus();
}

absl::Status ValidateKafka(const KafkaConfig& kafka, const Site& site) {
  if (kafka.embedded_brokers() > kMaxEmbeddedBrokers) {
    return site.Field(KafkaConfig::kEmbeddedBrokersFieldNumber)
        .Error(absl::StrCat("must be at most ", kMaxEmbeddedBrokers, ", got ",
                            kafka.embedded_brokers()));
  }
  if (kafka.bootstrap_servers().empty() && kafka.embedded_brokers() == 0) {
    return site.Field(KafkaConfig::kBootstrapServersFieldNumber)
        .Error("required unless kafka.embedded_brokers is set");
  }
  // Seen through reflection as repeated entries, the map keeps the order of
  // the file, which is the order of its locations in the parse tree.
  const FieldDescriptor* properties =
      KafkaConfig::descriptor()->FindFieldByNumber(KafkaConfig::kPropertiesFieldNumber);
  const FieldDescriptor* key_field = properties->message_type()->map_key();
  const google::protobuf::Reflection* reflection = kafka.GetReflection();
  for (int i = 0; i < reflection->FieldSize(kafka, properties); ++i) {
    const google::protobuf::Message& entry =
        reflection->GetRepeatedMessage(kafka, properties, i);
    const std::string key = entry.GetReflection()->GetString(entry, key_field);
    for (const RefusedProperty& refused : kRefusedProperties) {
      if (key != refused.name) continue;
      return site
          .Element(KafkaConfig::kPropertiesFieldNumber, i, absl::StrCat("\"", key, "\""))
          .Error(
              absl::StrCat("refused: prodopsd sets this property itself", refused.hint));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTopics(const DaemonConfig& config, const Site& root) {
  constexpr int kTopic = DaemonConfig::kTopicFieldNumber;
  if (config.topic().empty()) return root.Field(kTopic).Error("at least one is required");
  for (int i = 0; i < config.topic_size(); ++i) {
    const TopicConfig& topic = config.topic(i);
    const Site site = root.Element(kTopic, i);
    absl::Status status = RequireUniqueName(
        root, kTopic, i, TopicConfig::kNameFieldNumber,
        [&config](int j) -> const std::string& { return config.topic(j).name(); });
    if (status.ok()) {
      status = RequireEnum(site.Field(TopicConfig::kFormatFieldNumber), topic.format(),
                           TopicConfig::Format_descriptor());
    }
    if (status.ok()) {
      status = RequireEnum(site.Field(TopicConfig::kContentFieldNumber), topic.content(),
                           TopicConfig::Content_descriptor());
    }
    // The input topics are co-partitioned (KafkaConsumer); the embedded
    // cluster creates them so.
    if (status.ok() && topic.partitions() != config.topic(0).partitions()) {
      status = site.Field(TopicConfig::kPartitionsFieldNumber)
                   .Error(absl::StrCat(topic.partitions(), " but \"", config.topic(0).name(),
                                       "\" has ", config.topic(0).partitions(),
                                       "; input topics need the same number of partitions"));
    }
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// A value that must lie in [min, max].
absl::Status RequireBetween(const Site& site, uint64_t value, uint64_t min,
                            uint64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return site.Error(absl::StrCat("must be between ", min, " and ", max, ", got ", value));
}

absl::Status ValidateState(const StateConfig& state, const Site& site) {
  if (state.dir().empty()) {
    return site.Field(StateConfig::kDirFieldNumber).Error("required");
  }
  absl::Status status =
      RequireBetween(site.Field(StateConfig::kFlushIntervalMsFieldNumber),
                     state.flush_interval_ms(), kMinFlushIntervalMs, kMaxFlushIntervalMs);
  if (!status.ok()) return status;
  status = RequireBetween(site.Field(StateConfig::kMemoryBudgetBytesFieldNumber),
                          state.memory_budget_bytes(), kMinMemoryBudgetBytes,
                          kMaxMemoryBudgetBytes);
  if (!status.ok()) return status;
  status = RequireBetween(site.Field(StateConfig::kWindowCacheBytesFieldNumber),
                          state.window_cache_bytes(), kMinWindowCacheBytes,
                          kMaxWindowCacheBytes);
  if (!status.ok()) return status;
  status = RequireBetween(site.Field(StateConfig::kDedupFilterBytesFieldNumber),
                          state.dedup_filter_bytes(), kMinDedupFilterBytes,
                          kMaxDedupFilterBytes);
  if (!status.ok()) return status;
  const prodops::v1::ChangelogConfig& changelog = state.changelog();
  const Site changelog_site = site.Field(StateConfig::kChangelogFieldNumber);
  constexpr size_t kMaxPrefixBytes = 200;  // topic names end at 249 bytes
  const std::string& prefix = changelog.topic_prefix();
  const Site prefix_site =
      changelog_site.Field(prodops::v1::ChangelogConfig::kTopicPrefixFieldNumber);
  if (prefix.size() > kMaxPrefixBytes) {
    return prefix_site.Error(absl::StrCat("longer than ", kMaxPrefixBytes, " bytes"));
  }
  for (char c : prefix) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '-') {
      return prefix_site.Error(absl::StrCat("\"", prefix,
                                            "\" has a character Kafka refuses in topic "
                                            "names; use [a-zA-Z0-9._-]"));
    }
  }
  return RequireBetween(
      changelog_site.Field(prodops::v1::ChangelogConfig::kReplicationFactorFieldNumber),
      changelog.replication_factor(), 0, 32767);
}

absl::Status ValidateIngest(const DaemonConfig& config, const Site& site) {
  const IngestConfig& ingest = config.ingest();
  absl::Status status = RequireBetween(
      site.Field(IngestConfig::kMaxMessageBytesFieldNumber), ingest.max_message_bytes(),
      kMinMaxMessageBytes, kMaxMaxMessageBytes);
  if (!status.ok()) return status;
  for (const TopicConfig& topic : config.topic()) {
    if (topic.name() != ingest.dead_letter_topic()) continue;
    return site.Field(IngestConfig::kDeadLetterTopicFieldNumber)
        .Error(absl::StrCat("\"", topic.name(),
                            "\" is an input topic; dead letters would be read again"));
  }
  return absl::OkStatus();
}

absl::Status ValidateOutput(const DaemonConfig& config, const Site& site) {
  const std::string& topic = config.output().topic();
  if (topic.empty()) return absl::OkStatus();
  const Site field = site.Field(prodops::v1::OutputConfig::kTopicFieldNumber);
  for (const TopicConfig& input : config.topic()) {
    if (input.name() == topic) {
      return field.Error(absl::StrCat("\"", topic, "\" is an input topic"));
    }
  }
  if (topic == config.ingest().dead_letter_topic()) {
    return field.Error(absl::StrCat("\"", topic, "\" is the dead-letter topic"));
  }
  return absl::OkStatus();
}

absl::Status ValidateWindow(const WindowSpec& window, const Site& site) {
  const Site length = site.Field(WindowSpec::kLengthSecondsFieldNumber);
  const Site bucket = site.Field(WindowSpec::kBucketSecondsFieldNumber);
  if (window.length_seconds() == 0) return length.Error("required");
  if (window.bucket_seconds() == 0) return bucket.Error("required");
  // Buckets are aligned to the epoch; dividing a day keeps them aligned to
  // days as well.
  if (kSecondsPerDay % window.bucket_seconds() != 0) {
    return bucket.Error(
        absl::StrCat("must divide ", kSecondsPerDay, ", got ", window.bucket_seconds()));
  }
  if (window.length_seconds() % window.bucket_seconds() != 0) {
    return length.Error(absl::StrCat("must be a multiple of bucket_seconds (",
                                     window.bucket_seconds(), "), got ",
                                     window.length_seconds()));
  }
  return absl::OkStatus();
}

absl::Status ValidateWindows(const WindowConfig& windows, const Site& site) {
  constexpr int kWindow = WindowConfig::kWindowFieldNumber;
  for (int i = 0; i < windows.window_size(); ++i) {
    absl::Status status = RequireUniqueName(
        site, kWindow, i, WindowSpec::kNameFieldNumber,
        [&windows](int j) -> const std::string& { return windows.window(j).name(); });
    if (status.ok()) status = ValidateWindow(windows.window(i), site.Element(kWindow, i));
    if (!status.ok()) return status;
  }
  return RequireEnum(site.Field(WindowConfig::kClockFieldNumber), windows.clock(),
                     WindowConfig::Clock_descriptor());
}

// "host:port", with an IPv6 host in brackets ("[::1]:9464").
absl::Status ValidateListenAddress(const std::string& address, const Site& site) {
  const size_t colon = address.rfind(':');
  const absl::string_view host =
      colon == std::string::npos ? "" : absl::string_view(address).substr(0, colon);
  const absl::string_view port =
      colon == std::string::npos ? "" : absl::string_view(address).substr(colon + 1);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  const bool port_is_digits =
      !port.empty() && std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
  if (host.empty() || (host.find(':') != absl::string_view::npos && !bracketed) ||
      !port_is_digits) {
    return site.Error(absl::StrCat("must be host:port, got \"", address, "\""));
  }
  int port_number = 0;
  if (port.size() > 5 || !absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return site.Error(absl::StrCat("port must be between 0 and 65535, got ", port));
  }
  return absl::OkStatus();
}

absl::Status ValidateTickets(const DaemonConfig& config, const Site& site) {
  const TicketSignalsConfig& tickets = config.signals().tickets();
  constexpr int kReactive = TicketSignalsConfig::kReactiveFieldNumber;
  for (int i = 0; i < tickets.reactive_size(); ++i) {
    const prodops::v1::ReactiveRule& rule = tickets.reactive(i);
    const Site rule_site = site.Element(kReactive, i);
    absl::Status status =
        RequireEnum(rule_site.Field(prodops::v1::ReactiveRule::kTypeFieldNumber),
                    rule.type(), prodops::v1::TicketEvent::Type_descriptor());
    if (!status.ok()) return status;
    if (rule.min_priority() != 0) {
      status = RequireEnum(
          rule_site.Field(prodops::v1::ReactiveRule::kMinPriorityFieldNumber),
          rule.min_priority(), prodops::v1::TicketEvent::Priority_descriptor());
      if (!status.ok()) return status;
    }
  }
  const Site spike = site.Field(TicketSignalsConfig::kSpikeFieldNumber);
  if (!(tickets.spike().mad_floor() > 0)) {
    return spike.Field(prodops::v1::SpikeConfig::kMadFloorFieldNumber)
        .Error(absl::StrCat("must be > 0, got ", tickets.spike().mad_floor()));
  }
  return absl::OkStatus();
}

// A value that must lie in [1, max].
absl::Status RequireBetweenOneAnd(const Site& site, uint32_t value, uint32_t max) {
  return RequireBetween(site, value, 1, max);
}

absl::Status ValidateReleases(const prodops::v1::ReleaseSignalsConfig& releases,
                              const Site& site) {
  absl::Status status = RequireBetweenOneAnd(
      site.Field(prodops::v1::ReleaseSignalsConfig::kImpactHoursFieldNumber),
      releases.impact_hours(), kMaxImpactHours);
  if (status.ok()) {
    status = RequireBetweenOneAnd(
        site.Field(prodops::v1::ReleaseSignalsConfig::kRecentReleasesFieldNumber),
        releases.recent_releases(), kMaxRecentReleases);
  }
  return status;
}

absl::Status ValidateLabelBudgets(const prodops::v1::LabelBudgetConfig& budgets,
                                  const Site& site) {
  using prodops::v1::LabelBudgetConfig;
  const std::pair<int, uint32_t> fields[] = {
      {LabelBudgetConfig::kTeamFieldNumber, budgets.team()},
      {LabelBudgetConfig::kFeatureFieldNumber, budgets.feature()},
      {LabelBudgetConfig::kReleaseFieldNumber, budgets.release()},
      {LabelBudgetConfig::kExperimentFieldNumber, budgets.experiment()},
      {LabelBudgetConfig::kVariantFieldNumber, budgets.variant()},
  };
  for (const auto& [number, value] : fields) {
    absl::Status status =
        RequireBetweenOneAnd(site.Field(number), value, kMaxLabelBudget);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidateExperiment(const prodops::v1::ExperimentConfig& experiment,
                                const Site& site) {
  using prodops::v1::ExperimentConfig;
  using prodops::v1::ExperimentGoal;
  using prodops::v1::ExperimentVariant;
  const Site goal = site.Field(ExperimentConfig::kGoalFieldNumber);
  if (experiment.goal().feature().empty()) {
    return goal.Field(ExperimentGoal::kFeatureFieldNumber).Error("required");
  }
  if (experiment.goal().action().empty()) {
    return goal.Field(ExperimentGoal::kActionFieldNumber).Error("required");
  }
  constexpr int kVariant = ExperimentConfig::kVariantFieldNumber;
  if (experiment.variant_size() < 2) {
    return site.Field(kVariant).Error(
        absl::StrCat("at least two are required, got ", experiment.variant_size()));
  }
  for (int i = 0; i < experiment.variant_size(); ++i) {
    absl::Status status =
        RequireUniqueName(site, kVariant, i, ExperimentVariant::kNameFieldNumber,
                          [&experiment](int j) -> const std::string& {
                            return experiment.variant(j).name();
                          });
    if (!status.ok()) return status;
    const double weight = experiment.variant(i).weight();
    if (!(weight > 0) || std::isinf(weight)) {
      return site.Element(kVariant, i)
          .Field(ExperimentVariant::kWeightFieldNumber)
          .Error(absl::StrCat("must be finite and > 0, got ", weight));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateExperiments(const SignalsConfig& signals, const Site& site) {
  constexpr int kExperiment = SignalsConfig::kExperimentFieldNumber;
  for (int i = 0; i < signals.experiment_size(); ++i) {
    absl::Status status = RequireUniqueName(
        site, kExperiment, i, prodops::v1::ExperimentConfig::kNameFieldNumber,
        [&signals](int j) -> const std::string& { return signals.experiment(j).name(); });
    if (status.ok())
      status = ValidateExperiment(signals.experiment(i), site.Element(kExperiment, i));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Validate(const DaemonConfig& config, const Site& root) {
  // In the order of the fields in config.proto, so that the first error
  // reported is the first one in a file written in that order.
  absl::Status status =
      ValidateKafka(config.kafka(), root.Field(DaemonConfig::kKafkaFieldNumber));
  if (status.ok()) status = ValidateTopics(config, root);
  if (status.ok()) {
    status = ValidateState(config.state(), root.Field(DaemonConfig::kStateFieldNumber));
  }
  if (status.ok()) {
    status =
        ValidateWindows(config.windows(), root.Field(DaemonConfig::kWindowsFieldNumber));
  }
  if (status.ok()) {
    status = ValidateListenAddress(config.http().listen_address(),
                                   root.Field(DaemonConfig::kHttpFieldNumber)
                                       .Field(HttpConfig::kListenAddressFieldNumber));
  }
  // The simulator produces into the embedded cluster; it must never write
  // made-up events into a real one.
  if (status.ok() && config.simulator().enabled() &&
      config.kafka().embedded_brokers() == 0) {
    status = root.Field(DaemonConfig::kSimulatorFieldNumber)
                 .Field(SimulatorConfig::kEnabledFieldNumber)
                 .Error("requires kafka.embedded_brokers > 0");
  }
  if (status.ok()) {
    status = ValidateTickets(config, root.Field(DaemonConfig::kSignalsFieldNumber)
                                         .Field(SignalsConfig::kTicketsFieldNumber));
  }
  const Site signals = root.Field(DaemonConfig::kSignalsFieldNumber);
  if (status.ok()) {
    status = ValidateReleases(config.signals().releases(),
                              signals.Field(SignalsConfig::kReleasesFieldNumber));
  }
  if (status.ok()) status = ValidateExperiments(config.signals(), signals);
  if (status.ok()) {
    status = ValidateLabelBudgets(config.signals().label_budgets(),
                                  signals.Field(SignalsConfig::kLabelBudgetsFieldNumber));
  }
  if (status.ok())
    status = ValidateIngest(config, root.Field(DaemonConfig::kIngestFieldNumber));
  if (status.ok())
    status = ValidateOutput(config, root.Field(DaemonConfig::kOutputFieldNumber));
  return status;
}

}  // namespace

absl::StatusOr<DaemonConfig> ParseConfig(const std::string& text,
                                         const std::string& name) {
  DaemonConfig config;
  TextFormat::Parser parser;
  FirstErrorCollector errors;
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, &config)) {
    if (!errors.error().has_value()) return ErrorAt(name, 0, 0, "cannot parse");
    const FirstErrorCollector::Error& error = *errors.error();
    return ErrorAt(name, error.line, error.column, error.message);
  }
  // Validated after the defaults are in, so that rules see effective values.
  FillDefaults(&config);
  if (absl::Status status =
          Validate(config, Site(name, &tree, DaemonConfig::descriptor()));
      !status.ok()) {
    return status;
  }
  return config;
}

absl::StatusOr<DaemonConfig> LoadConfigFile(const std::string& path) {
  auto cannot_read = [&path](int error) {
    return absl::NotFoundError(absl::StrCat(
        path,
        ": cannot read: ", std::error_code(error, std::generic_category()).message()));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) return cannot_read(errno);
  std::string text;
  char buffer[16384];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), file.get())) {
    text.append(buffer, n);
  }
  // fread on a directory fails with EISDIR only here, not at fopen.
  if (std::ferror(file.get())) return cannot_read(errno);
  return ParseConfig(text, path);
}

}  // namespace prodops::config
