// prodopsd: product-operations signals from Kafka, in RocksDB, as
// Prometheus metrics. Everything is in daemon/app; see cli.h.
#include "daemon/app/cli.h"

int main(int argc, char** argv) { return prodops::app::RunCommandLine(argc, argv); }
