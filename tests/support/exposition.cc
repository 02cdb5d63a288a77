#include "tests/support/exposition.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace prodops::testing {

Samples ParseExposition(const std::string& text) {
  Samples samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // The value follows the last space (label values may hold spaces, but
    // are quoted before it).
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return samples;
}

namespace {

bool IsOf(const std::string& series, const std::string& name) {
  return series == name || series.rfind(name + "{", 0) == 0;
}

}  // namespace

double SumOf(const Samples& samples, const std::string& name, const std::string& label) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    if (IsOf(series, name) && series.find(label) != std::string::npos) sum += value;
  }
  return sum;
}

double MaxOf(const Samples& samples, const std::string& name) {
  double max = 0;
  for (const auto& [series, value] : samples) {
    if (IsOf(series, name)) max = std::max(max, value);
  }
  return max;
}

double AccountedEvents(const Samples& samples) {
  return SumOf(samples, "prodops_events_ingested_total") +
         SumOf(samples, "prodops_events_rejected_total") +
         SumOf(samples, "prodops_events_duplicate_total");
}

}  // namespace prodops::testing
