// A minimal ingest load client for nimbusd (the full load generator is
// tools/nimbus-loadgen, a later issue). It sends the reference dataset's
// shapes over loopback and reports points/s and request latency.
//
//   ingest_client --target=127.0.0.1:50051 --mode=series|datums
//                 --series=10000 --points_per_series=360 --clients=4
//                 [--rate=0 (points/s, 0 = as fast as possible)]
//
// mode=series: PutMetricSeries, each request carrying --batch_series series
//   with all their points (one series key, many points).
// mode=datums: PutMetricData, 1000 single-point datums per request.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "nimbus/v1/metrics.grpc.pb.h"
#include "tools/shapes.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "nimbusd address");
ABSL_FLAG(std::string, mode, "series",
          "series (PutMetricSeries) or datums (PutMetricData)");
ABSL_FLAG(int, series, 10000, "number of series");
ABSL_FLAG(int, points_per_series, 360, "points per series (10 s apart)");
ABSL_FLAG(int, clients, 4, "concurrent client threads");
ABSL_FLAG(int, batch_series, 100, "series per PutMetricSeries request");
ABSL_FLAG(double, rate, 0, "target points/s over all clients; 0 = unlimited");
ABSL_FLAG(uint64_t, seed, 42, "dataset seed");
ABSL_FLAG(int, repeat, 1, "send the whole dataset this many times");
ABSL_FLAG(std::string, namespace_name, "Load", "namespace of every series");

namespace v1 = ::nimbus::v1;
using Clock = std::chrono::steady_clock;

namespace {

struct Dataset {
  std::vector<nimbus::tools::SeriesData> series;
};

void SetIdentity(int i, nimbus::tools::Shape shape, const std::string& ns,
                 std::string* metric,
                 google::protobuf::RepeatedPtrField<v1::Dimension>* dims) {
  *metric = std::string(nimbus::tools::ShapeName(shape));
  auto* d = dims->Add();
  d->set_name("Host");
  d->set_value("host-" + std::to_string(i / 8));
  (void)ns;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int nseries = absl::GetFlag(FLAGS_series);
  const int npoints = absl::GetFlag(FLAGS_points_per_series);
  const int clients = absl::GetFlag(FLAGS_clients);
  const bool datums = absl::GetFlag(FLAGS_mode) == "datums";
  const double rate = absl::GetFlag(FLAGS_rate);
  // Points end a minute ago, 10 s apart.
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t start_ms =
      (now_ms - 60'000 - int64_t{npoints} * 10'000) / 1000 * 1000;

  std::vector<nimbus::tools::SeriesData> data(nseries);
  for (int i = 0; i < nseries; ++i) {
    data[i] = nimbus::tools::GenerateSeries(
        nimbus::tools::kAllShapes[i % 8],
        nimbus::tools::SeriesSeed(absl::GetFlag(FLAGS_seed), i), start_ms,
        10'000, npoints);
  }

  // Build every request up front so that the measurement is of the server.
  std::vector<std::string> requests;
  std::vector<int64_t> request_points;
  if (datums) {
    // Time-major: each request holds 1000 (series, point) datums.
    v1::PutMetricDataRequest req;
    req.set_namespace_(absl::GetFlag(FLAGS_namespace_name));
    for (int p = 0; p < npoints; ++p) {
      for (int i = 0; i < nseries; ++i) {
        auto* d = req.add_metric_data();
        SetIdentity(i, nimbus::tools::kAllShapes[i % 8], "Load",
                    d->mutable_metric_name(), d->mutable_dimensions());
        d->set_value(data[i].values[p]);
        *d->mutable_timestamp() =
            google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
                data[i].timestamps_ms[p]);
        if (req.metric_data_size() == 1000) {
          requests.push_back(req.SerializeAsString());
          request_points.push_back(1000);
          req.clear_metric_data();
        }
      }
    }
    if (req.metric_data_size() > 0) {
      requests.push_back(req.SerializeAsString());
      request_points.push_back(req.metric_data_size());
    }
  } else {
    const int batch = absl::GetFlag(FLAGS_batch_series);
    for (int i = 0; i < nseries; i += batch) {
      v1::PutMetricSeriesRequest req;
      for (int j = i; j < std::min(nseries, i + batch); ++j) {
        auto* s = req.add_series();
        s->set_namespace_(absl::GetFlag(FLAGS_namespace_name));
        SetIdentity(j, nimbus::tools::kAllShapes[j % 8], "Load",
                    s->mutable_metric_name(), s->mutable_dimensions());
        for (int p = 0; p < npoints; ++p) {
          s->add_timestamps_ms(data[j].timestamps_ms[p]);
          s->add_values(data[j].values[p]);
        }
      }
      requests.push_back(req.SerializeAsString());
      request_points.push_back(int64_t{std::min(nseries, i + batch) - i} *
                               npoints);
    }
  }
  {
    // Repeats resend the same requests (the points become extra samples).
    const size_t n = requests.size();
    for (int r = 1; r < absl::GetFlag(FLAGS_repeat); ++r) {
      for (size_t i = 0; i < n; ++i) {
        requests.push_back(requests[i]);
        request_points.push_back(request_points[i]);
      }
    }
  }
  int64_t total_points = 0;
  for (int64_t p : request_points) total_points += p;

  std::atomic<size_t> next{0};
  std::atomic<int64_t> errors{0};
  std::mutex mu;
  std::vector<double> latencies_ms;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      // One channel per client: separate HTTP/2 connections.
      grpc::ChannelArguments args;
      args.SetMaxSendMessageSize(64 << 20);
      args.SetInt("nimbus.client", c);
      auto channel =
          grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                    grpc::InsecureChannelCredentials(), args);
      auto stub = v1::MetricsService::NewStub(channel);
      std::vector<double> mine;
      int64_t sent_points = 0;
      for (size_t r = next++; r < requests.size(); r = next++) {
        if (rate > 0) {
          // Pace this client to rate / clients points per second.
          const double due_s =
              static_cast<double>(sent_points) / (rate / clients);
          std::this_thread::sleep_until(t0 +
                                        std::chrono::duration<double>(due_s));
        }
        grpc::ClientContext ctx;
        const auto s0 = Clock::now();
        grpc::Status st;
        v1::PutMetricDataResponse resp;
        if (datums) {
          v1::PutMetricDataRequest req;
          req.ParseFromString(requests[r]);
          st = stub->PutMetricData(&ctx, req, &resp);
        } else {
          v1::PutMetricSeriesRequest req;
          req.ParseFromString(requests[r]);
          st = stub->PutMetricSeries(&ctx, req, &resp);
        }
        mine.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - s0)
                .count());
        if (!st.ok() || resp.rejected_size() > 0) {
          if (errors++ == 0) {
            std::fprintf(
                stderr, "error: %s %s\n", st.error_message().c_str(),
                resp.rejected_size() ? resp.rejected(0).message().c_str() : "");
          }
        }
        sent_points += request_points[r];
      }
      std::lock_guard<std::mutex> l(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    return latencies_ms.empty()
               ? 0.0
               : latencies_ms[std::min(
                     latencies_ms.size() - 1,
                     static_cast<size_t>(p / 100 * latencies_ms.size()))];
  };
  std::printf(
      "mode=%s series=%d points=%lld requests=%zu clients=%d seconds=%.3f "
      "points_per_second=%.0f latency_ms p50=%.2f p99=%.2f max=%.2f "
      "errors=%lld\n",
      datums ? "datums" : "series", nseries,
      static_cast<long long>(total_points), requests.size(), clients, secs,
      total_points / secs, pct(50), pct(99),
      latencies_ms.empty() ? 0.0 : latencies_ms.back(),
      static_cast<long long>(errors.load()));
  return errors.load() == 0 ? 0 : 1;
}
