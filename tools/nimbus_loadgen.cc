// nimbus-loadgen: load a Nimbus server with the reference metric shapes (or a
// replayed CSV file), verify what it stored, and load it with queries.
//
// Exits 0 when every point was acknowledged (and verified, with --verify),
// or every query succeeded and found data; 1 otherwise; 2 for bad flags.
//
//   nimbus-loadgen --target=127.0.0.1:50051 --series=10000 --duration=1h
//                  --interval=10s --rpc=PutMetricSeries --concurrency=4
//                  [--start=2026-11-29T10:00:00Z] [--seed=42]
//                  [--replay=FILE.csv --namespace_name=NS] [--verify]
//                  [--mode=ingest|query --run_time=30s] [--json=FILE]
//                  [--labels=host|realistic]
//   nimbus-loadgen --write_dataset=PREFIX --series=10000 --duration=1h
//                  --interval=10s [--start=...] [--prom_lines_per_file=100000]
//
// Ingest: every series' points are generated up front (tools/shapes.h), then
// `--concurrency` workers, each on its own channel, send requests and wait
// for their acknowledgements. PutMetricData requests carry
// --points_per_request single-point datums in time order across series;
// PutMetricSeries and StreamMetricSeries requests carry --series_per_request
// series with up to --points_per_series points each.
//
// A progress line goes to stderr when it is a terminal. --json writes the
// final report; --verify reads back a sample of series and exits 1 on any
// mismatch.
//
// Labels (--labels): series i has shape kAllShapes[i % 8] (its snake_case name
// is the metric name) and belongs to host number h = i / 8. 'host' (the
// default when sending) gives the one dimension Host=host-<h>; 'realistic'
// (the default with --write_dataset) gives three, host=host-<h+1, 4 digits>,
// region (one of 6, such as us-east-1) and service (one of 20, such as
// checkout), both derived from the host: every host has one region and one
// service, so 10,000 series are 1,250 hosts x 8 metrics.
//
// Datasets (--write_dataset=PREFIX): instead of sending, writes the generated
// data in time-major order (every series' point at t0, then every series'
// point at t1, ...) twice, and exits 0 without contacting a server:
//   PREFIX.csv       the --replay format: a header line, then rows
//                    series_key,timestamp_ms,value with series_key
//                    metric|dim=value|... (dimensions in name order);
//   PREFIX.prom.NNN  Prometheus text exposition lines, as VictoriaMetrics'
//                    /api/v1/import/prometheus reads them,
//                    metric{host="..",region="..",service=".."} value ts_ms,
//                    --prom_lines_per_file lines a file (.000, .001, ...).
// Values are printed in the shortest form that reads back as the same double,
// so both files carry exactly the same points. A summary line goes to stdout:
//   dataset: series=S points_per_series=P rows=R first_ms=F last_ms=L
//            prom_files=N csv=PREFIX.csv
// `--replay=PREFIX.csv` then sends the rows in file order: with
// --rpc=PutMetricData each request holds --points_per_request consecutive rows,
// so one point each of that many different series.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "nimbus/v1/metrics.grpc.pb.h"
#include "tools/alarm_latency.h"
#include "tools/shapes.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "nimbusd address");
ABSL_FLAG(std::string, mode, "ingest",
          "ingest, query (GetMetricStatistics load), or alarms (the latency "
          "from a breaching point to the transition a client sees; "
          "tools/alarm_latency.h)");
ABSL_FLAG(std::string, rpc, "PutMetricSeries",
          "PutMetricData, PutMetricSeries or StreamMetricSeries");
ABSL_FLAG(int, series, 1000, "number of series (8 shapes in turn)");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(10),
          "time between points of a series");
ABSL_FLAG(absl::Duration, duration, absl::Hours(1),
          "simulated time covered by the data");
ABSL_FLAG(
    std::string, start, "",
    "time of the first point: RFC 3339, or empty for now minus --duration");
ABSL_FLAG(absl::Duration, run_time, absl::ZeroDuration(),
          "stop after this wall-clock time (0: when the data is sent; query "
          "mode: 10s)");
ABSL_FLAG(int, concurrency, 4, "concurrent streams, each on its own channel");
ABSL_FLAG(int, points_per_request, 1000,
          "PutMetricData: datums per request (<= 1000)");
ABSL_FLAG(int, series_per_request, 100,
          "PutMetricSeries/Stream: series per request");
ABSL_FLAG(int, points_per_series, 360,
          "PutMetricSeries/Stream: points per series per request");
ABSL_FLAG(uint64_t, seed, 42, "dataset seed");
ABSL_FLAG(double, alarm_breach_share, 0.1,
          "alarms mode: the share of the alarms (of --series) that breach "
          "together in a breach round");
ABSL_FLAG(int, alarm_rounds, 3,
          "alarms mode: breach rounds, each followed by a recovery round");
ABSL_FLAG(int, alarm_probes, 50,
          "alarms mode: breaching alarms polled for their state (<= 100)");
ABSL_FLAG(std::string, namespace_name, "Loadgen", "namespace of every series");
ABSL_FLAG(
    std::string, replay, "",
    "CSV file of series_key,timestamp_ms,value rows (header line; series_key "
    "is metric|dim=value|...) sent in file order instead of generated data");
ABSL_FLAG(bool, verify, false,
          "read back a sample of series and check exact statistics");
ABSL_FLAG(int, verify_series, 100, "series to verify");
ABSL_FLAG(int, query_batch, 1,
          "query mode: series per timed query; each is one GetMetricStatistics "
          "call, issued one after another, and the latency is the batch's");
ABSL_FLAG(std::string, json, "",
          "write the final report to this file ('-' for stdout)");
ABSL_FLAG(std::string, labels, "",
          "dimensions of generated series: 'host' (one dimension Host=host-N) "
          "or 'realistic' (host=host-0001..., region: one of 6, service: one "
          "of 20, region and service derived from the host); empty: 'host', "
          "or 'realistic' with --write_dataset");
ABSL_FLAG(std::string, write_dataset, "",
          "write the generated data in time-major order to PREFIX.csv (the "
          "--replay format) and PREFIX.prom.000, .001, ... (Prometheus text "
          "exposition lines with millisecond timestamps, for VictoriaMetrics' "
          "/api/v1/import/prometheus), print a 'dataset:' summary line and "
          "exit without sending");
ABSL_FLAG(int, prom_lines_per_file, 100000,
          "--write_dataset: lines in each PREFIX.prom.NNN file");

namespace v1 = ::nimbus::v1;
using google::protobuf::util::TimeUtil;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Dim {
  std::string name, value;
};

// One series of the load: identity and every point to send.
struct LoadSeries {
  std::string metric;
  std::vector<Dim> dims;
  std::vector<int64_t> ts;
  std::vector<double> values;
};

struct Request {
  std::string
      bytes;  // serialized PutMetricDataRequest or PutMetricSeriesRequest
  int64_t points = 0;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

bool Fail(const std::string& msg) {
  std::fprintf(stderr, "nimbus-loadgen: %s\n", msg.c_str());
  return false;
}

// The dimensions of host number `h` (series 8h..8h+7) with --labels=realistic.
std::vector<Dim> RealisticDims(int h) {
  static constexpr const char* kRegions[] = {"us-east-1",    "us-east-2",
                                             "us-west-2",    "eu-west-1",
                                             "eu-central-1", "ap-southeast-1"};
  static constexpr const char* kServices[] = {
      "api",      "auth",     "billing",  "cart",        "catalog",
      "checkout", "frontend", "gateway",  "inventory",   "mailer",
      "notifier", "orders",   "payments", "recommender", "search",
      "sessions", "shipping", "storage",  "users",       "worker"};
  // splitmix64 of the host number: region and service independent of each
  // other and of the host's position.
  uint64_t x = static_cast<uint64_t>(h) + 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  char host[32];
  std::snprintf(host, sizeof host, "host-%04d", h + 1);
  return {{"host", host},
          {"region", kRegions[x % std::size(kRegions)]},
          {"service", kServices[(x >> 32) % std::size(kServices)]}};
}

// Generated data: series i has shape kAllShapes[i % 8] and belongs to host
// i / 8: Host=host-(i / 8), or with `realistic` the three dimensions of
// RealisticDims.
std::vector<LoadSeries> Generate(int n, int64_t start_ms, int64_t interval_ms,
                                 int points, uint64_t seed, bool realistic) {
  std::vector<LoadSeries> out(n);
  for (int i = 0; i < n; ++i) {
    const auto shape = nimbus::tools::kAllShapes[i % 8];
    auto d =
        nimbus::tools::GenerateSeries(shape, nimbus::tools::SeriesSeed(seed, i),
                                      start_ms, interval_ms, points);
    out[i].metric = std::string(nimbus::tools::ShapeName(shape));
    if (realistic) {
      out[i].dims = RealisticDims(i / 8);
    } else {
      out[i].dims = {{"Host", "host-" + std::to_string(i / 8)}};
    }
    out[i].ts = std::move(d.timestamps_ms);
    out[i].values = std::move(d.values);
  }
  return out;
}

// Reads a replay file; rows keep their order within each series, and
// `order` records the file order as (series index, point index).
bool ReadReplay(const std::string& path, std::vector<LoadSeries>* series,
                std::vector<std::pair<int, int>>* order) {
  std::ifstream in(path);
  if (!in) return Fail("cannot open " + path);
  std::string line;
  if (!std::getline(in, line)) return Fail(path + ": empty file");
  std::map<std::string, int> index;
  int lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, ',');
    int64_t ts;
    double v;
    if (f.size() != 3 || !absl::SimpleAtoi(f[1], &ts) ||
        !absl::SimpleAtod(f[2], &v)) {
      return Fail(absl::StrCat(path, ":", lineno,
                               ": expected series_key,timestamp_ms,value"));
    }
    auto [it, fresh] = index.emplace(f[0], static_cast<int>(series->size()));
    if (fresh) {
      LoadSeries s;
      std::vector<std::string> parts = absl::StrSplit(f[0], '|');
      s.metric = parts[0];
      for (size_t k = 1; k < parts.size(); ++k) {
        std::vector<std::string> kv =
            absl::StrSplit(parts[k], absl::MaxSplits('=', 1));
        if (kv.size() != 2) {
          return Fail(absl::StrCat(path, ":", lineno, ": dimension '", parts[k],
                                   "' is not name=value"));
        }
        s.dims.push_back({kv[0], kv[1]});
      }
      series->push_back(std::move(s));
    }
    LoadSeries& s = (*series)[it->second];
    order->push_back({it->second, static_cast<int>(s.ts.size())});
    s.ts.push_back(ts);
    s.values.push_back(v);
  }
  return true;
}

// Buffered writing of one output file; every failure is reported once.
class OutFile {
 public:
  bool Open(const std::string& path) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "wb");
    buf_.clear();
    return f_ != nullptr || Fail("cannot create " + path);
  }
  std::string& buf() { return buf_; }
  // Writes the buffer out once it holds more than `above` bytes.
  bool Drain(size_t above = 4 << 20) {
    if (buf_.size() <= above) return true;
    const bool ok = std::fwrite(buf_.data(), 1, buf_.size(), f_) == buf_.size();
    buf_.clear();
    return ok || Fail("write failed: " + path_);
  }
  bool Close() {
    if (f_ == nullptr) return true;
    bool ok = Drain(0);
    ok = (std::fclose(f_) == 0 || Fail("close failed: " + path_)) && ok;
    f_ = nullptr;
    return ok;
  }
  ~OutFile() { Close(); }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  std::string buf_;
};

void AppendInt(std::string* out, int64_t v) {
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);
  out->append(b, r.ptr);
}

// Shortest text that parses back to exactly `v`.
void AppendDouble(std::string* out, double v) {
  char b[32];
  auto r = std::to_chars(b, b + sizeof b, v);
  out->append(b, r.ptr);
}

// Prometheus label value escaping: backslash, double quote, newline.
std::string PromEscape(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

// --write_dataset: PREFIX.csv and PREFIX.prom.NNN in time-major order (see
// the header comment). Prints the summary line on stdout.
bool WriteDataset(const std::vector<LoadSeries>& series,
                  const std::string& prefix, int lines_per_file) {
  if (lines_per_file < 1) return Fail("--prom_lines_per_file must be >= 1");
  // Each series' CSV key and Prometheus line start, built once.
  std::vector<std::string> csv_key(series.size()), prom_key(series.size());
  size_t max_points = 0;
  int64_t first_ms = INT64_MAX, last_ms = INT64_MIN;
  for (size_t i = 0; i < series.size(); ++i) {
    const LoadSeries& s = series[i];
    std::vector<Dim> dims = s.dims;
    std::sort(dims.begin(), dims.end(),
              [](const Dim& a, const Dim& b) { return a.name < b.name; });
    std::string& c = csv_key[i];
    std::string& p = prom_key[i];
    c = s.metric;
    p = s.metric + "{";
    for (size_t k = 0; k < dims.size(); ++k) {
      for (const std::string* t : {&dims[k].name, &dims[k].value}) {
        if (t->find_first_of(",|=\n") != std::string::npos) {
          return Fail("dimension '" + *t + "' cannot be written to the CSV");
        }
      }
      absl::StrAppend(&c, "|", dims[k].name, "=", dims[k].value);
      absl::StrAppend(&p, k ? "," : "", dims[k].name, "=\"",
                      PromEscape(dims[k].value), "\"");
    }
    c += ',';
    p += "} ";
    max_points = std::max(max_points, s.ts.size());
    for (int64_t t : s.ts) {
      first_ms = std::min(first_ms, t);
      last_ms = std::max(last_ms, t);
    }
  }
  OutFile csv, prom;
  if (!csv.Open(prefix + ".csv")) return false;
  csv.buf() = "series_key,timestamp_ms,value\n";
  int files = 0;
  int64_t rows = 0, in_file = lines_per_file;
  for (size_t p = 0; p < max_points; ++p) {
    for (size_t i = 0; i < series.size(); ++i) {
      const LoadSeries& s = series[i];
      if (p >= s.ts.size()) continue;
      std::string& cb = csv.buf();
      cb += csv_key[i];
      AppendInt(&cb, s.ts[p]);
      cb += ',';
      AppendDouble(&cb, s.values[p]);
      cb += '\n';
      if (in_file == lines_per_file) {
        char name[24];
        std::snprintf(name, sizeof name, ".prom.%03d", files++);
        if (!prom.Close() || !prom.Open(prefix + name)) return false;
        in_file = 0;
      }
      std::string& pb = prom.buf();
      pb += prom_key[i];
      AppendDouble(&pb, s.values[p]);
      pb += ' ';
      AppendInt(&pb, s.ts[p]);
      pb += '\n';
      ++in_file;
      ++rows;
      if (!csv.Drain() || !prom.Drain()) return false;
    }
  }
  if (!csv.Close() || !prom.Close()) return false;
  std::printf(
      "dataset: series=%zu points_per_series=%zu rows=%lld first_ms=%lld "
      "last_ms=%lld prom_files=%d csv=%s.csv\n",
      series.size(), max_points, static_cast<long long>(rows),
      static_cast<long long>(rows ? first_ms : 0),
      static_cast<long long>(rows ? last_ms : 0), files, prefix.c_str());
  return true;
}

void SetIdentity(const LoadSeries& s, std::string* metric,
                 google::protobuf::RepeatedPtrField<v1::Dimension>* dims) {
  *metric = s.metric;
  for (const Dim& d : s.dims) {
    auto* x = dims->Add();
    x->set_name(d.name);
    x->set_value(d.value);
  }
}

// Builds every request in sending order.
std::vector<Request> BuildRequests(
    const std::vector<LoadSeries>& series,
    const std::vector<std::pair<int, int>>& order, const std::string& rpc,
    const std::string& ns) {
  std::vector<Request> out;
  if (rpc == "PutMetricData") {
    const int per =
        std::clamp(absl::GetFlag(FLAGS_points_per_request), 1, 1000);
    v1::PutMetricDataRequest req;
    req.set_namespace_(ns);
    auto flush = [&] {
      if (req.metric_data_size() == 0) return;
      out.push_back({req.SerializeAsString(), req.metric_data_size()});
      req.clear_metric_data();
    };
    for (const auto& [si, pi] : order) {
      const LoadSeries& s = series[si];
      auto* d = req.add_metric_data();
      SetIdentity(s, d->mutable_metric_name(), d->mutable_dimensions());
      d->set_value(s.values[pi]);
      *d->mutable_timestamp() = TimeUtil::MillisecondsToTimestamp(s.ts[pi]);
      if (req.metric_data_size() == per) flush();
    }
    flush();
    return out;
  }
  // Series-shaped: windows of points_per_series along time, series_per_request
  // series a request; windows in time order, so history arrives oldest first.
  const int per_series = std::max(1, absl::GetFlag(FLAGS_points_per_series));
  const int per_request = std::max(1, absl::GetFlag(FLAGS_series_per_request));
  size_t max_points = 0;
  for (const auto& s : series) max_points = std::max(max_points, s.ts.size());
  for (size_t w = 0; w < max_points; w += per_series) {
    v1::PutMetricSeriesRequest req;
    int64_t points = 0;
    for (size_t i = 0; i < series.size(); ++i) {
      const LoadSeries& s = series[i];
      if (w >= s.ts.size()) continue;
      auto* sp = req.add_series();
      sp->set_namespace_(ns);
      SetIdentity(s, sp->mutable_metric_name(), sp->mutable_dimensions());
      const size_t end = std::min(s.ts.size(), w + per_series);
      for (size_t p = w; p < end; ++p) {
        sp->add_timestamps_ms(s.ts[p]);
        sp->add_values(s.values[p]);
      }
      points += static_cast<int64_t>(end - w);
      if (req.series_size() == per_request) {
        out.push_back({req.SerializeAsString(), points});
        req.clear_series();
        points = 0;
      }
    }
    if (req.series_size() > 0) out.push_back({req.SerializeAsString(), points});
  }
  return out;
}

struct Report {
  int64_t points_sent = 0, points_acked = 0, points_rejected = 0, errors = 0;
  int64_t empty_results = 0;  // query mode: series queries with no datapoint
  std::map<std::string, int64_t> rejected_by_reason;
  std::vector<double> latencies_ms;
  double wall_seconds = 0, cpu_seconds = 0;
  std::mutex mu;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank.
  const double rank = std::ceil(p / 100 * static_cast<double>(v.size()));
  const size_t i =
      rank < 1 ? 0 : std::min(v.size(), static_cast<size_t>(rank)) - 1;
  return v[i];
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int n) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetInt("nimbus.loadgen.channel",
              n);  // distinct channels, distinct connections
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// Prints the progress line while `done` is false (only on a terminal).
void Progress(const std::atomic<bool>& done, const std::atomic<int64_t>& sent,
              const std::atomic<int64_t>& errors, int64_t total,
              SteadyClock::time_point t0) {
  if (!isatty(STDERR_FILENO)) return;
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double secs =
        std::chrono::duration<double>(SteadyClock::now() - t0).count();
    const double rate = sent.load() / std::max(secs, 1e-9);
    const double eta = rate > 0 ? (total - sent.load()) / rate : 0;
    std::fprintf(
        stderr,
        "\r%lld/%lld points sent, %.0f points/s, %lld errors, ETA %.0f s   ",
        static_cast<long long>(sent.load()), static_cast<long long>(total),
        rate, static_cast<long long>(errors.load()), eta);
  }
  std::fprintf(stderr, "\n");
}

// A unary call with an already serialized request, completed on the
// calling thread (its own completion queue): no hand-off to a gRPC thread
// and back per request, so the client costs the shared cores less.
grpc::Status CallPreSerialized(grpc::GenericStub& generic,
                               grpc::CompletionQueue& cq,
                               const std::string& method,
                               const std::string& bytes,
                               v1::PutMetricDataResponse* resp) {
  grpc::Slice slice(bytes.data(), bytes.size(), grpc::Slice::STATIC_SLICE);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext ctx;
  grpc::Status status;
  auto call = generic.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  int done_tag = 0;
  call->Finish(&response, &status, &done_tag);
  void* tag = nullptr;
  bool ok = false;
  // The queue holds this call's Finish only, and a client Finish always
  // completes with ok: anything else would leave the call pending on
  // buffers about to go, so it is not survivable.
  if (!cq.Next(&tag, &ok) || tag != &done_tag || !ok) {
    std::fprintf(stderr,
                 "nimbus-loadgen: the completion queue failed a call\n");
    std::abort();
  }
  if (status.ok()) {
    status = grpc::SerializationTraits<v1::PutMetricDataResponse>::Deserialize(
        &response, resp);
  }
  return status;
}

void Ingest(const std::vector<Request>& requests, const std::string& rpc,
            Report* r) {
  const std::string target = absl::GetFlag(FLAGS_target);
  const int workers = std::max(1, absl::GetFlag(FLAGS_concurrency));
  const absl::Duration run_time = absl::GetFlag(FLAGS_run_time);
  int64_t total = 0;
  for (const auto& q : requests) total += q.points;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> sent{0}, errors{0};
  std::atomic<bool> done{false};
  const auto t0 = SteadyClock::now();
  const auto deadline = run_time > absl::ZeroDuration()
                            ? t0 + absl::ToChronoNanoseconds(run_time)
                            : SteadyClock::time_point::max();
  const double cpu0 = CpuSeconds();
  std::thread progress(Progress, std::cref(done), std::cref(sent),
                       std::cref(errors), total, t0);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto channel = NewChannel(target, w);
      auto stub = v1::MetricsService::NewStub(channel);
      // Unary requests go out as the bytes built up front: the client spends
      // no time re-serializing them, leaving the shared cores to the server.
      grpc::GenericStub generic(channel);
      grpc::CompletionQueue cq;
      const std::string method = "/nimbus.v1.MetricsService/" + rpc;
      std::vector<double> lat;
      std::map<std::string, int64_t> reasons;
      int64_t acked = 0, rejected = 0;
      std::unique_ptr<grpc::ClientContext> sctx;
      std::unique_ptr<grpc::ClientReaderWriter<v1::PutMetricSeriesRequest,
                                               v1::PutMetricDataResponse>>
          stream;
      if (rpc == "StreamMetricSeries") {
        sctx = std::make_unique<grpc::ClientContext>();
        stream = stub->StreamMetricSeries(sctx.get());
      }
      for (size_t i = next++;
           i < requests.size() && SteadyClock::now() < deadline; i = next++) {
        const Request& q = requests[i];
        v1::PutMetricDataResponse resp;
        grpc::Status st;
        const auto s0 = SteadyClock::now();
        if (stream) {
          v1::PutMetricSeriesRequest req;
          req.ParseFromString(q.bytes);
          if (!stream->Write(req) || !stream->Read(&resp)) {
            st = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken");
          }
        } else {
          st = CallPreSerialized(generic, cq, method, q.bytes, &resp);
        }
        lat.push_back(
            std::chrono::duration<double, std::milli>(SteadyClock::now() - s0)
                .count());
        sent += q.points;
        if (!st.ok()) {
          if (errors++ == 0) Fail("request failed: " + st.error_message());
          continue;
        }
        acked += resp.accepted_points();
        rejected += resp.rejected_points();
        for (const auto& x : resp.rejected()) ++reasons[x.reason()];
      }
      if (stream) {
        stream->WritesDone();
        grpc::Status st = stream->Finish();
        if (!st.ok() && errors++ == 0)
          Fail("stream ended: " + st.error_message());
      }
      cq.Shutdown();
      void* tag;
      bool ok;
      while (cq.Next(&tag, &ok)) {
      }
      std::lock_guard<std::mutex> l(r->mu);
      r->latencies_ms.insert(r->latencies_ms.end(), lat.begin(), lat.end());
      r->points_acked += acked;
      r->points_rejected += rejected;
      for (auto& [k, v] : reasons) r->rejected_by_reason[k] += v;
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  progress.join();
  r->wall_seconds =
      std::chrono::duration<double>(SteadyClock::now() - t0).count();
  r->cpu_seconds = CpuSeconds() - cpu0;
  r->points_sent = sent.load();
  r->errors = errors.load();
}

// Reads back up to --verify_series series over their whole range and
// compares SampleCount, Sum, Minimum and Maximum with what was sent.
bool Verify(const std::vector<LoadSeries>& series, const std::string& ns) {
  auto stub =
      v1::MetricsService::NewStub(NewChannel(absl::GetFlag(FLAGS_target), 0));
  const int n =
      std::min<int>(absl::GetFlag(FLAGS_verify_series), series.size());
  bool ok = true;
  int checked = 0;
  for (int k = 0; k < n; ++k) {
    const LoadSeries& s = series[static_cast<size_t>(k) * series.size() / n];
    if (s.ts.empty()) continue;
    const auto [lo, hi] = std::minmax_element(s.ts.begin(), s.ts.end());
    double count = 0, sum = 0, mn = INFINITY, mx = -INFINITY;
    for (double v : s.values) {
      count += 1;
      sum += v;
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
    // One period over the whole range, a multiple of 60 s, at most 1440 of
    // them.
    const int64_t start = (*lo / 3'600'000) * 3'600'000;
    const int64_t end = *hi + 1;
    int64_t period_s = ((end - start) / 1000 / 1440 / 60 + 1) * 60;
    v1::GetMetricStatisticsRequest q;
    q.set_namespace_(ns);
    SetIdentity(s, q.mutable_metric_name(), q.mutable_dimensions());
    *q.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(start);
    *q.mutable_end_time() = TimeUtil::MillisecondsToTimestamp(end);
    q.set_period(static_cast<int32_t>(period_s));
    for (const char* stat : {"SampleCount", "Sum", "Minimum", "Maximum"})
      q.add_statistics(stat);
    v1::GetMetricStatisticsResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub->GetMetricStatistics(&ctx, q, &resp);
    if (!st.ok()) {
      ok = Fail("verify: GetMetricStatistics failed: " + st.error_message());
      continue;
    }
    double gcount = 0, gsum = 0, gmn = INFINITY, gmx = -INFINITY;
    for (const auto& d : resp.datapoints()) {
      gcount += d.sample_count();
      gsum += d.sum();
      gmn = std::min(gmn, d.minimum());
      gmx = std::max(gmx, d.maximum());
    }
    // Sums are added in a different order on each side: equal to 1e-9.
    const bool sum_ok =
        std::fabs(gsum - sum) <= 1e-9 * std::max(1.0, std::fabs(sum));
    if (gcount != count || !sum_ok || gmn != mn || gmx != mx) {
      ok = Fail(absl::StrCat(
          "verify: ", s.metric, " ", s.dims.empty() ? "" : s.dims[0].value,
          ": stored count ", gcount, " sum ", gsum, " min ", gmn, " max ", gmx,
          "; sent count ", count, " sum ", sum, " min ", mn, " max ", mx));
    }
    ++checked;
  }
  std::fprintf(stderr, "verify: %d series checked, %s\n", checked,
               ok ? "all match" : "MISMATCH");
  return ok;
}

// GetMetricStatistics load over random series and ranges of the loaded data.
void QueryLoad(const std::vector<LoadSeries>& series, const std::string& ns,
               Report* r) {
  const int workers = std::max(1, absl::GetFlag(FLAGS_concurrency));
  absl::Duration run_time = absl::GetFlag(FLAGS_run_time);
  if (run_time <= absl::ZeroDuration()) run_time = absl::Seconds(10);
  const auto t0 = SteadyClock::now();
  const auto deadline = t0 + absl::ToChronoNanoseconds(run_time);
  const double cpu0 = CpuSeconds();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto stub = v1::MetricsService::NewStub(
          NewChannel(absl::GetFlag(FLAGS_target), w));
      nimbus::tools::Rng rng(absl::GetFlag(FLAGS_seed) + w);
      std::vector<double> lat;
      int64_t errors = 0, queries = 0, empty = 0;
      const int batch = std::max(1, absl::GetFlag(FLAGS_query_batch));
      while (SteadyClock::now() < deadline) {
        const auto s0 = SteadyClock::now();
        grpc::Status st;
        for (int b = 0; b < batch; ++b) {
          const LoadSeries& s = series[rng.Uniform(0, series.size() - 1)];
          if (s.ts.empty()) continue;
          // One hour (or the whole range if shorter) at 5-minute periods.
          const int64_t first = s.ts.front(), last = s.ts.back();
          const int64_t span = std::min<int64_t>(3'600'000, last - first + 1);
          const int64_t start =
              first +
              rng.Uniform(0, std::max<int64_t>(0, last - first + 1 - span));
          v1::GetMetricStatisticsRequest q;
          q.set_namespace_(ns);
          SetIdentity(s, q.mutable_metric_name(), q.mutable_dimensions());
          *q.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(start);
          *q.mutable_end_time() =
              TimeUtil::MillisecondsToTimestamp(start + span);
          q.set_period(300);
          q.add_statistics("Average");
          q.add_statistics("Maximum");
          v1::GetMetricStatisticsResponse resp;
          grpc::ClientContext ctx;
          grpc::Status one = stub->GetMetricStatistics(&ctx, q, &resp);
          if (!one.ok()) st = one;
          if (one.ok() && resp.datapoints_size() == 0) ++empty;
        }
        lat.push_back(
            std::chrono::duration<double, std::milli>(SteadyClock::now() - s0)
                .count());
        ++queries;
        if (!st.ok() && errors++ == 0)
          Fail("query failed: " + st.error_message());
      }
      std::lock_guard<std::mutex> l(r->mu);
      r->latencies_ms.insert(r->latencies_ms.end(), lat.begin(), lat.end());
      r->points_sent += queries;  // queries, in query mode
      r->errors += errors;
      r->empty_results += empty;
    });
  }
  for (auto& t : threads) t.join();
  r->wall_seconds =
      std::chrono::duration<double>(SteadyClock::now() - t0).count();
  r->cpu_seconds = CpuSeconds() - cpu0;
}

std::string JsonReport(Report& r, const std::string& mode,
                       const std::string& rpc,
                       const v1::GetServerStatsResponse* server) {
  std::ostringstream o;
  const double rate = r.points_sent / std::max(r.wall_seconds, 1e-9);
  o << "{\n  \"mode\": \"" << mode << "\",\n";
  if (mode == "ingest") {
    o << "  \"rpc\": \"" << rpc << "\",\n"
      << "  \"points_sent\": " << r.points_sent << ",\n"
      << "  \"points_acknowledged\": " << r.points_acked << ",\n"
      << "  \"points_rejected\": " << r.points_rejected << ",\n"
      << "  \"rejected_by_reason\": {";
    bool first = true;
    for (auto& [k, v] : r.rejected_by_reason) {
      o << (first ? "" : ", ") << "\"" << k << "\": " << v;
      first = false;
    }
    // Throughput counts what the server acknowledged, not what was sent.
    o << "},\n  \"points_per_second\": "
      << r.points_acked / std::max(r.wall_seconds, 1e-9) << ",\n"
      << "  \"sent_points_per_second\": " << rate << ",\n";
  } else {
    o << "  \"queries\": " << r.points_sent
      << ",\n  \"queries_per_second\": " << rate
      << ",\n  \"empty_results\": " << r.empty_results << ",\n";
  }
  o << "  \"errors\": " << r.errors << ",\n"
    << "  \"requests\": " << r.latencies_ms.size() << ",\n"
    << "  \"wall_seconds\": " << r.wall_seconds << ",\n"
    << "  \"client_cpu_seconds\": " << r.cpu_seconds << ",\n"
    << "  \"latency_ms\": {\"p50\": " << Percentile(r.latencies_ms, 50)
    << ", \"p90\": " << Percentile(r.latencies_ms, 90)
    << ", \"p99\": " << Percentile(r.latencies_ms, 99)
    << ", \"p99.9\": " << Percentile(r.latencies_ms, 99.9)
    << ", \"max\": " << Percentile(r.latencies_ms, 100) << "}";
  if (server != nullptr) {
    const double bpp = server->points_accepted() > 0
                           ? static_cast<double>(server->bytes_on_disk()) /
                                 server->points_accepted()
                           : 0;
    o << ",\n  \"server\": {\"points_stored\": " << server->points_accepted()
      << ", \"series\": " << server->series_count()
      << ", \"bytes_on_disk\": " << server->bytes_on_disk()
      << ", \"bytes_per_point\": " << bpp
      << ", \"resident_bytes\": " << server->resident_bytes()
      << ", \"heap_bytes_in_use\": " << server->heap_bytes_in_use()
      << ", \"memtable_bytes\": " << server->memtable_bytes() << "}";
  }
  o << "\n}\n";
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Loads a Nimbus server with metric data or queries.");
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const std::string rpc = absl::GetFlag(FLAGS_rpc);
  const std::string ns = absl::GetFlag(FLAGS_namespace_name);
  if (absl::GetFlag(FLAGS_verify) &&
      absl::GetFlag(FLAGS_run_time) > absl::ZeroDuration() &&
      mode == "ingest") {
    return Fail("--verify needs the whole dataset sent: drop --run_time"), 2;
  }
  if (mode == "alarms") {
    nimbus::tools::AlarmLatencyOptions o;
    o.target = absl::GetFlag(FLAGS_target);
    o.namespace_name = ns;
    o.alarms = absl::GetFlag(FLAGS_series);
    o.concurrency = absl::GetFlag(FLAGS_concurrency);
    o.breach_share = absl::GetFlag(FLAGS_alarm_breach_share);
    o.rounds = absl::GetFlag(FLAGS_alarm_rounds);
    o.probes = absl::GetFlag(FLAGS_alarm_probes);
    o.json = absl::GetFlag(FLAGS_json);
    return nimbus::tools::RunAlarmLatency(o);
  }
  if (mode != "ingest" && mode != "query")
    return Fail("--mode must be ingest, query or alarms"), 2;
  if (rpc != "PutMetricData" && rpc != "PutMetricSeries" &&
      rpc != "StreamMetricSeries") {
    return Fail(
               "--rpc must be PutMetricData, PutMetricSeries or "
               "StreamMetricSeries"),
           2;
  }

  const std::string dataset = absl::GetFlag(FLAGS_write_dataset);
  std::string labels = absl::GetFlag(FLAGS_labels);
  if (labels.empty()) labels = dataset.empty() ? "host" : "realistic";
  if (labels != "host" && labels != "realistic")
    return Fail("--labels must be host or realistic"), 2;
  if (!dataset.empty() && !absl::GetFlag(FLAGS_replay).empty())
    return Fail("--write_dataset writes generated data: drop --replay"), 2;

  std::vector<LoadSeries> series;
  std::vector<std::pair<int, int>> order;
  if (!absl::GetFlag(FLAGS_replay).empty()) {
    if (!ReadReplay(absl::GetFlag(FLAGS_replay), &series, &order)) return 2;
  } else {
    const int64_t interval_ms =
        absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_interval));
    const int64_t duration_ms =
        absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_duration));
    if (interval_ms <= 0 || duration_ms <= 0)
      return Fail("--interval and --duration must be > 0"), 2;
    const int points =
        static_cast<int>(std::max<int64_t>(1, duration_ms / interval_ms));
    int64_t start_ms = NowMs() - duration_ms;
    if (!absl::GetFlag(FLAGS_start).empty()) {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, absl::GetFlag(FLAGS_start), &t,
                           &err)) {
        return Fail("--start: " + err), 2;
      }
      start_ms = absl::ToUnixMillis(t);
    }
    start_ms = start_ms / 1000 * 1000;
    series = Generate(absl::GetFlag(FLAGS_series), start_ms, interval_ms,
                      points, absl::GetFlag(FLAGS_seed), labels == "realistic");
    if (!dataset.empty()) {
      return WriteDataset(series, dataset,
                          absl::GetFlag(FLAGS_prom_lines_per_file))
                 ? 0
                 : 1;
    }
    // Time-major order: every series' first point, then every second one...
    for (int p = 0; p < points; ++p) {
      for (int i = 0; i < static_cast<int>(series.size()); ++i)
        order.push_back({i, p});
    }
  }

  Report report;
  bool ok = true;
  if (mode == "ingest") {
    const std::vector<Request> requests = BuildRequests(series, order, rpc, ns);
    Ingest(requests, rpc, &report);
    std::fprintf(stderr,
                 "%s: %lld points sent, %lld acknowledged, %lld rejected, %.3f "
                 "s, %.0f points/s, %lld errors\n",
                 rpc.c_str(), static_cast<long long>(report.points_sent),
                 static_cast<long long>(report.points_acked),
                 static_cast<long long>(report.points_rejected),
                 report.wall_seconds,
                 report.points_acked / std::max(report.wall_seconds, 1e-9),
                 static_cast<long long>(report.errors));
    ok = report.errors == 0;
    if (report.points_rejected > 0) {
      ok = Fail(absl::StrCat(report.points_rejected,
                             " points rejected (see --json for the reasons)"));
    }
    if (absl::GetFlag(FLAGS_verify)) {
      if (report.points_rejected > 0 ||
          report.points_acked != report.points_sent) {
        ok = Fail(
            "verify: not every point was acknowledged; nothing to compare");
      } else {
        ok = Verify(series, ns) && ok;
      }
    }
  } else {
    QueryLoad(series, ns, &report);
    std::fprintf(
        stderr,
        "GetMetricStatistics: %lld queries, %.0f queries/s, %lld errors, "
        "%lld series queries with no data\n",
        static_cast<long long>(report.points_sent),
        report.points_sent / std::max(report.wall_seconds, 1e-9),
        static_cast<long long>(report.errors),
        static_cast<long long>(report.empty_results));
    ok = report.errors == 0;
    if (report.empty_results > 0) {
      ok = Fail(
          "some queries found no data: was the data loaded with the "
          "same --series, --duration, --interval and --start?");
    }
  }

  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    v1::GetServerStatsResponse stats;
    auto stub =
        v1::MetricsService::NewStub(NewChannel(absl::GetFlag(FLAGS_target), 0));
    grpc::ClientContext ctx;
    const bool have = stub->GetServerStats(&ctx, {}, &stats).ok();
    const std::string out =
        JsonReport(report, mode, rpc, have ? &stats : nullptr);
    if (json_path == "-") {
      std::fputs(out.c_str(), stdout);
    } else {
      std::ofstream(json_path) << out;
    }
  }
  return ok ? 0 : 1;
}
