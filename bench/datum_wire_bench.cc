// The PutMetricData wire decoder (rpc/datum_wire.h) on requests shaped like
// the peer_compare dataset: 1000 one-point datums, each a metric name, three
// dimensions (host, region, service), a timestamp, a value and a unit.
//
//   build-release/bench/datum_wire_bench
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "nimbus/v1/metrics.pb.h"
#include "rpc/datum_wire.h"

namespace {

std::string Request(int datums) {
  nimbus::v1::PutMetricDataRequest req;
  req.set_namespace_("Bench");
  const char* metrics[] = {"cpu_usage",     "mem_used_bytes", "requests",
                           "latency_ms",    "queue_depth",    "errors",
                           "disk_free_pct", "temperature_c"};
  const char* regions[] = {"us-east-1", "eu-west-1", "ap-south-1"};
  const char* services[] = {"api", "web", "db", "cache"};
  for (int i = 0; i < datums; ++i) {
    nimbus::v1::MetricDatum* d = req.add_metric_data();
    d->set_metric_name(metrics[i % 8]);
    auto* dim = d->add_dimensions();
    dim->set_name("host");
    dim->set_value(absl::StrCat("host-", 1000 + i / 8));
    dim = d->add_dimensions();
    dim->set_name("region");
    dim->set_value(regions[i % 3]);
    dim = d->add_dimensions();
    dim->set_name("service");
    dim->set_value(services[i % 4]);
    d->mutable_timestamp()->set_seconds(1796137254);
    d->set_value(i * 0.25);
    d->set_unit("None");
  }
  return req.SerializeAsString();
}

void BM_DecodePutMetricData(benchmark::State& state) {
  const std::string bytes = Request(static_cast<int>(state.range(0)));
  nimbus::rpc::PutMetricDataView view;
  for (auto _ : state) {
    bool ok = nimbus::rpc::DecodePutMetricDataRequest(bytes, &view);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(view.datums.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodePutMetricData)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
