#pragma once

#include <map>
#include <string>

namespace prodops::testing {

// Samples of a Prometheus text exposition, keyed by the series exactly as
// written (`name{label="value",...}` or `name`). Comment lines are skipped.
using Samples = std::map<std::string, double>;
Samples ParseExposition(const std::string& text);

// Sum of every sample of metric `name` (any labels), or of those whose
// labels include `label` (e.g. R"(clock="first_reply")").
double SumOf(const Samples& samples, const std::string& name,
             const std::string& label = "");

// Largest sample of metric `name` (any labels); 0 when it has none.
double MaxOf(const Samples& samples, const std::string& name);

// Messages a daemon has accounted for: ingested, rejected or duplicate.
double AccountedEvents(const Samples& samples);

}  // namespace prodops::testing
