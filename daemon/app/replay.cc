#include "daemon/app/replay.h"

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "daemon/app/options.h"
#include "daemon/app/pipeline.h"
#include "daemon/app/record_files.h"
#include "daemon/common/log.h"
#include "daemon/state/rocks_store.h"

namespace prodops::app {
namespace {

// A temporary state directory that is removed when it goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "prodopsd-replay-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

absl::Status RunReplay(const prodops::v1::DaemonConfig& config,
                       const ReplayOptions& options, std::ostream& out) {
  if (options.inputs.empty())
    return absl::InvalidArgumentError("replay needs --input FILE");
  PipelineOptions pipeline_options = ToPipelineOptions(config);
  pipeline_options.time_mode = TimeMode::kEventTime;
  pipeline_options.topics.clear();
  std::set<std::string> names;
  for (const std::string& input : options.inputs) {
    const std::string name = std::filesystem::path(input).filename().string();
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two inputs have the base name \"", name,
                       "\"; it is their topic label, so rename one"));
    }
    pipeline_options.topics.push_back({name, options.format, decode::Content::kEnvelope});
  }

  TempDir temp;
  state::RocksStoreOptions store_options = ToStoreOptions(config);
  store_options.dir = options.state_dir.empty() ? temp.path() : options.state_dir;
  if (store_options.dir.empty()) {
    return absl::InternalError("cannot create a temporary state directory");
  }
  absl::StatusOr<std::unique_ptr<state::RocksStore>> store =
      state::RocksStore::Open(store_options);
  if (!store.ok()) return store.status();

  SystemClock clock;  // paces flushes only; windows follow event time
  Pipeline pipeline(pipeline_options, store->get(), &clock);
  if (absl::Status s = pipeline.Load(); !s.ok()) return s;

  std::string record;
  int64_t offset = 0;
  uint64_t records = 0;
  for (size_t i = 0; i < options.inputs.size(); ++i) {
    absl::StatusOr<std::unique_ptr<RecordFileReader>> reader =
        RecordFileReader::Open(options.inputs[i], options.format);
    if (!reader.ok()) return reader.status();
    const std::string& topic = pipeline_options.topics[i].name;
    while (true) {
      absl::StatusOr<bool> more = (*reader)->Next(&record, &offset);
      if (!more.ok()) return more.status();
      if (!*more) break;
      pipeline.ProcessMessage({topic, 0, offset, {}, record});
      ++records;
      if (pipeline.FlushDue()) {
        // Reading goes on while the writer thread writes; the final Flush
        // below waits.
        if (absl::Status s = pipeline.Flush(FlushMode::kBackground); !s.ok()) return s;
      }
    }
  }
  if (absl::Status s = pipeline.Flush(); !s.ok()) return s;
  out << exporter::SerializeExposition(pipeline.BuildSnapshot({})->families);
  const window::Aggregates::CacheStats cache = pipeline.aggregates().cache_stats();
  Log(LogLevel::kInfo,
      absl::StrCat("replay: ", records, " records from ", options.inputs.size(),
                   " inputs; window cache: ", cache.bucket_bytes >> 10,
                   " KiB of buckets in memory, ", cache.totals_bytes >> 10,
                   " KiB of window totals, ", cache.evictions, " buckets dropped, ",
                   cache.store_reads, " read back; dedup: ",
                   pipeline.dedup() == nullptr ? 0 : pipeline.dedup()->store_reads(),
                   " ids looked up in the store"));
  return absl::OkStatus();
}

}  // namespace prodops::app
