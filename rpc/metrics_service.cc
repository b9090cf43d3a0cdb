#include "rpc/metrics_service.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/metric_data.h"
#include "engine/query_plan.h"
#include "grpcpp/support/byte_buffer.h"
#include "rpc/datum_wire.h"
#include "rpc/malloc_stats.h"
#include "rpc/proto_time.h"
#include "rpc/status_convert.h"

namespace nimbus::rpc {
namespace {

using engine::Rejection;
using engine::RejectReason;
namespace v1 = ::nimbus::v1;

constexpr size_t kMaxDatapoints = 1440;
constexpr int kMaxListDimensionFilters = 10;

grpc::Status InvalidArgument(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

std::vector<engine::Dimension> ToDimensions(
    const google::protobuf::RepeatedPtrField<v1::Dimension>& dims) {
  std::vector<engine::Dimension> out;
  out.reserve(dims.size());
  for (const auto& d : dims) out.push_back({d.name(), d.value()});
  return out;
}

// The response lists at most this many rejections (a 16 MB PutMetricSeries
// of bad points would otherwise answer with a far larger list), and counts
// them all.
constexpr int kMaxListedRejections = 1000;

void AddRejection(v1::PutMetricDataResponse* resp, int index, int point_index,
                  const Rejection& r, int64_t points = 1) {
  resp->set_rejected_points(resp->rejected_points() + points);
  if (resp->rejected_size() >= kMaxListedRejections) return;
  auto* x = resp->add_rejected();
  x->set_index(index);
  x->set_point_index(point_index);
  x->set_reason(std::string(engine::RejectReasonName(r.reason)));
  x->set_message(r.message);
}

// Validates the identity fields; on success fills *key.
std::optional<Rejection> ValidateIdentity(
    absl::string_view metric_name,
    const google::protobuf::RepeatedPtrField<v1::Dimension>& dims,
    absl::string_view unit, int32_t* resolution, engine::SeriesKey* key) {
  if (auto r = engine::ValidateMetricName(metric_name)) return r;
  key->metric_name = std::string(metric_name);
  key->dimensions = ToDimensions(dims);
  if (auto r = engine::ValidateDimensions(&key->dimensions)) return r;
  key->unit = std::string(unit);
  if (auto r = engine::ValidateUnit(&key->unit)) return r;
  if (auto r = engine::ValidateStorageResolution(resolution)) return r;
  return std::nullopt;
}

// Collects writes by series so one series appears once per request.
// Holds at most `capacity` series, so that the index's keys (views of each
// write's encoded key) never move.
class WriteSet {
 public:
  explicit WriteSet(size_t capacity) {
    writes_.reserve(capacity);
    index_.reserve(capacity);
  }

  engine::SeriesWrite& For(engine::SeriesKey&& key) {
    std::string enc = key.Encode();
    auto f = index_.find(enc);
    if (f != index_.end()) return writes_[f->second];
    writes_.push_back({std::move(key), {}, {}, std::move(enc)});
    index_.emplace(writes_.back().encoded_key, writes_.size() - 1);
    return writes_.back();
  }
  std::vector<engine::SeriesWrite>& writes() { return writes_; }

 private:
  absl::flat_hash_map<absl::string_view, size_t> index_;
  std::vector<engine::SeriesWrite> writes_;
};

// The start_time and end_time of a read request, in milliseconds; an
// INVALID_ARGUMENT status that names the field when one is missing, out of
// range, or the range is empty.
template <typename Request>
grpc::Status ReadTimeRange(const Request& req, int64_t* start_ms,
                           int64_t* end_ms) {
  if (!req.has_start_time() || !req.has_end_time()) {
    return InvalidArgument("start_time and end_time: both are required");
  }
  auto start = ToMillis(req.start_time());
  auto end = ToMillis(req.end_time());
  if (!start || !end) {
    return InvalidArgument("start_time/end_time: outside the valid range");
  }
  if (*end <= *start) {
    return InvalidArgument("end_time: must be after start_time");
  }
  *start_ms = *start;
  *end_ms = *end;
  return grpc::Status::OK;
}

// The statistic's name in CloudWatch's spelling, or nullopt.
std::optional<engine::Statistic> ParseStatistic(absl::string_view s) {
  if (s == "SampleCount") return engine::Statistic::kSampleCount;
  if (s == "Average") return engine::Statistic::kAverage;
  if (s == "Sum") return engine::Statistic::kSum;
  if (s == "Minimum") return engine::Statistic::kMinimum;
  if (s == "Maximum") return engine::Statistic::kMaximum;
  return std::nullopt;
}

}  // namespace

void MetricsService::CountRejection(RejectReason reason, int64_t points) {
  rejected_[static_cast<int>(reason)].fetch_add(points,
                                                std::memory_order_relaxed);
}

MetricsService::MetricsService(engine::Engine& engine, engine::Clock& clock,
                               size_t max_queued_bytes)
    : engine_(engine), clock_(clock), max_queued_bytes_(max_queued_bytes) {}

MetricsService::~MetricsService() = default;

namespace {

grpc::Status TooLarge(size_t bytes) {
  return InvalidArgument(absl::StrCat(
      "request: ", bytes, " bytes exceeds the limit of ",
      engine::kMaxRequestBytes, " bytes (1 MB) for PutMetricData"));
}

}  // namespace

namespace {

// What a PutMetricData call reuses from the calls before it (PutCall): the
// request's bytes (when gRPC gave them in pieces), its decoded form, and the
// batch's buffers. After the first requests a datum costs no allocation.
struct DatumScratch {
  void Clear() {
    wire.clear();
    slices.clear();
    keys.clear();
    samples.clear();
    sets.clear();
    runs.clear();
    batch.runs.clear();
    ids.clear();
    hashes.clear();
    found.clear();
  }

  // A call keeps what its buffers grew to, except after a request far
  // larger than usual (a 1 MB request of many values): then it lets go.
  void ShrinkIfLarge() {
    constexpr size_t kKeep = size_t{256} << 10;
    auto shrink = [](auto& v) {
      if (v.capacity() * sizeof(v[0]) > kKeep) {
        std::remove_reference_t<decltype(v)>().swap(v);
      }
    };
    shrink(wire);
    shrink(keys);
    shrink(samples);
    shrink(sets);
    shrink(runs);
    shrink(batch.runs);
    shrink(ids);
    shrink(hashes);
    shrink(found);
    shrink(request.datums);
    shrink(request.dims);
    shrink(request.values);
    shrink(request.counts);
  }

  // Offsets into keys, samples and sets: the vectors may still grow while
  // the runs are collected. A run of a series found by its identity has no
  // key.
  struct RunAt {
    size_t key_begin, key_end;
    size_t sample_begin, sample_end;
    size_t set_begin, set_end;
    engine::Series* series;
    uint64_t identity_hash;
    size_t datum;  // whose identity identity_hash is the hash of
  };

  std::string wire;
  std::vector<grpc::Slice> slices;
  PutMetricDataView request;
  std::string keys;  // the runs' encoded keys, back to back
  std::vector<engine::Sample> samples;
  std::vector<engine::StatisticSet> sets;
  std::vector<RunAt> runs;
  engine::IngestBatch batch;
  // Per datum: its identity as sent, that identity's hash, and its series
  // if the engine has seen the identity before.
  std::vector<engine::IdentityView> ids;
  std::vector<uint64_t> hashes;
  std::vector<engine::Series*> found;
};

}  // namespace

// One PutMetricData call from its bytes to its write's acknowledgement, and
// the buffers it reuses: calls are recycled (ReleaseCall), so after the
// first ones a datum costs no allocation.
struct MetricsService::PutCall {
  DatumScratch x;
  engine::CommitWriter writer;
  v1::PutMetricDataResponse response;
  int64_t accepted = 0;
  grpc::ServerUnaryReactor* reactor = nullptr;
  grpc::ByteBuffer* resp = nullptr;
  size_t bytes = 0;  // counted in queued_bytes_
};

std::unique_ptr<MetricsService::PutCall> MetricsService::AcquireCall() {
  {
    absl::MutexLock l(&calls_mu_);
    if (!free_calls_.empty()) {
      std::unique_ptr<PutCall> c = std::move(free_calls_.back());
      free_calls_.pop_back();
      return c;
    }
  }
  return std::make_unique<PutCall>();
}

void MetricsService::ReleaseCall(std::unique_ptr<PutCall> c) {
  c->x.Clear();  // drops the request's slices too
  c->x.ShrinkIfLarge();
  c->response.Clear();
  c->accepted = 0;
  // Beyond what concurrent calls need, calls are freed (a burst of many
  // queued calls does not stay resident).
  constexpr size_t kKeepCalls = 16;
  absl::MutexLock l(&calls_mu_);
  if (free_calls_.size() < kKeepCalls) free_calls_.push_back(std::move(c));
}

grpc::ServerUnaryReactor* MetricsService::PutMetricData(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req,
    grpc::ByteBuffer* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The limit applies to the bytes received (gRPC has counted them): no
  // need to measure the parsed request, nor to decode one that is refused.
  const size_t bytes = req->Length();
  if (bytes > engine::kMaxRequestBytes) {
    reactor->Finish(TooLarge(bytes));
    return reactor;
  }
  // Requests hold their bytes until acknowledged; past the bound the server
  // answers at once rather than let them pile up in the commit queue.
  const size_t queued =
      queued_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (queued > max_queued_bytes_) {
    queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    reactor->Finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("server busy: ", queued - bytes,
                     " bytes of PutMetricData requests are being written (at "
                     "most ",
                     max_queued_bytes_, "); retry with backoff")));
    return reactor;
  }
  // Served here, on gRPC's thread: decoded, validated and queued for its
  // group commit, which acknowledges it from whichever thread applies the
  // group (engine/commit_queue.h); this thread does not wait for another
  // request's commit.
  std::unique_ptr<PutCall> call = AcquireCall();
  call->reactor = reactor;
  call->resp = resp;
  call->bytes = bytes;
  grpc::Status status = Decode(*req, call.get());
  if (!status.ok() || call->x.batch.runs.empty()) {
    Complete(std::move(call), std::move(status));
    return reactor;
  }
  // A call whose client gave up (deadline, cancellation, shutdown) while
  // it was decoded is not written: the client saw an error and may send it
  // again.
  if (ctx->IsCancelled()) {
    Complete(std::move(call),
             grpc::Status(grpc::StatusCode::CANCELLED,
                          "the call ended before it was written"));
    return reactor;
  }
  PutCall* c = call.release();
  engine_.WriteAsync(c->x.batch, &c->writer, [this, c](absl::Status s) {
    Complete(std::unique_ptr<PutCall>(c),
             s.ok() ? grpc::Status::OK : ToGrpcStatus(s));
  });
  return reactor;
}

void MetricsService::Complete(std::unique_ptr<PutCall> c, grpc::Status status) {
  if (status.ok()) {
    c->response.set_accepted_points(c->accepted);
    const std::string out = c->response.SerializeAsString();
    grpc::Slice slice(out);
    *c->resp = grpc::ByteBuffer(&slice, 1);
  }
  grpc::ServerUnaryReactor* reactor = c->reactor;
  queued_bytes_.fetch_sub(c->bytes, std::memory_order_relaxed);
  ReleaseCall(std::move(c));
  reactor->Finish(status);
}

grpc::Status MetricsService::Decode(const grpc::ByteBuffer& req, PutCall* c) {
  DatumScratch& x = c->x;
  if (grpc::Status s = req.Dump(&x.slices); !s.ok()) return s;
  const char* data = nullptr;
  size_t size = 0;
  if (x.slices.size() == 1) {
    data = reinterpret_cast<const char*>(x.slices[0].begin());
    size = x.slices[0].size();
  } else {
    for (const grpc::Slice& slice : x.slices) {
      x.wire.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    data = x.wire.data();
    size = x.wire.size();
  }
  if (!DecodePutMetricDataRequest(absl::string_view(data, size), &x.request)) {
    return InvalidArgument(
        "request: not a valid nimbus.v1.PutMetricDataRequest message");
  }
  return PutDatums(x.request, c);
}

grpc::Status MetricsService::PutDatums(PutMetricDataView& req, PutCall* c) {
  v1::PutMetricDataResponse* const resp = &c->response;
  if (absl::Status s =
          engine::ValidateNamespace(req.namespace_name, "namespace");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (req.datums.empty()) {
    return InvalidArgument("metric_data: at least one datum is required");
  }
  if (req.datums.size() > engine::kMaxDatumsPerRequest) {
    return InvalidArgument(
        absl::StrCat("metric_data: ", req.datums.size(), " datums, at most ",
                     engine::kMaxDatumsPerRequest, " per request"));
  }
  DatumScratch& x = c->x;
  const absl::string_view ns = req.namespace_name;
  const int64_t now = clock_.NowMs();
  // Series whose identity the engine has seen in exactly these bytes: one
  // lookup for the request, before the identities are validated (and their
  // dimensions sorted) in place. A datum whose name and dimension fields
  // are not one leading run of bytes (DatumView::identity_fields) is not
  // looked up: its hash is 0 (IngestBatch::Run::identity_hash's "none").
  const size_t n = req.datums.size();
  x.ids.resize(n);
  x.hashes.resize(n);
  x.found.resize(n);
  for (size_t di = 0; di < n; ++di) {
    const DatumView& d = req.datums[di];
    x.ids[di] = {ns, d.identity_fields, d.unit};
    x.hashes[di] = d.identity_fields.empty()
                       ? 0
                       : absl::Hash<engine::IdentityView>{}(x.ids[di]) | 1;
  }
  engine_.FindSeries(x.ids, x.hashes, x.found.data());
  int64_t accepted = 0;
  for (size_t di = 0; di < n; ++di) {
    const DatumView& d = req.datums[di];
    const int i = static_cast<int>(di);
    auto reject = [&](const Rejection& r) {
      AddRejection(resp, i, -1, r);
      CountRejection(r.reason, 1);
    };
    // Identity, checked on views of the request, unless the engine has a
    // series for it: then it passed these checks before.
    engine::Series* const found = x.found[di];
    const absl::Span<engine::DimensionView> dims =
        absl::MakeSpan(req.dims).subspan(d.dims_begin, d.dims_size());
    absl::string_view unit = d.unit;
    if (found == nullptr) {
      if (auto r = engine::ValidateMetricName(d.metric_name)) {
        reject(*r);
        continue;
      }
      if (auto r = engine::ValidateDimensionViews(dims)) {
        reject(*r);
        continue;
      }
      if (auto r = engine::ValidateUnitView(&unit)) {
        reject(*r);
        continue;
      }
    }
    int32_t resolution = d.storage_resolution;
    if (auto r = engine::ValidateStorageResolution(&resolution)) {
      reject(*r);
      continue;
    }
    int64_t ts = now;
    if (d.has_timestamp) {
      auto ms = ToMillis(d.timestamp_seconds, d.timestamp_nanos);
      if (!ms) {
        reject({RejectReason::kTimestampTooOld,
                "timestamp: outside the range of google.protobuf.Timestamp"});
        continue;
      }
      ts = *ms;
    }
    if (auto r = engine::ValidateTimestamp(ts, now)) {
      reject(*r);
      continue;
    }
    const size_t n_values = d.values_size();
    const size_t n_counts = d.counts_size();
    const int kinds = (d.has_value ? 1 : 0) + (n_values > 0 ? 1 : 0) +
                      (d.has_statistic_values ? 1 : 0);
    if (kinds == 0) {
      reject({RejectReason::kNoValue,
              "value: one of value, values or statistic_values is required"});
      continue;
    }
    if (kinds > 1) {
      reject({RejectReason::kConflictingValues,
              "value: give only one of value, values or statistic_values"});
      continue;
    }
    // The datum's points go to the ends of samples and sets; a rejection
    // takes them back.
    const size_t sample_begin = x.samples.size();
    const size_t set_begin = x.sets.size();
    std::optional<Rejection> bad;
    if (d.has_value) {
      bad = engine::ValidateValue(d.value, "value");
      x.samples.push_back({ts, d.value});
    } else if (n_values > 0) {
      const double* values = req.values.data() + d.values_begin;
      const double* counts = req.counts.data() + d.counts_begin;
      if (n_values > engine::kMaxValuesPerDatum) {
        bad = Rejection{RejectReason::kTooManyValues,
                        absl::StrCat("values: ", n_values, " given, at most ",
                                     engine::kMaxValuesPerDatum)};
      } else if (n_counts != 0 && n_counts != n_values) {
        bad = Rejection{
            RejectReason::kValuesCountsMismatch,
            absl::StrCat("counts: ", n_counts, " given for ", n_values,
                         " values; give none or one per value")};
      }
      for (size_t k = 0; !bad && k < n_values; ++k) {
        const double v = values[k];
        if (!engine::IsAcceptedValue(v)) {
          bad = engine::ValidateValue(v, absl::StrCat("values[", k, "]"));
          break;
        }
        const double c = n_counts ? counts[k] : 1.0;
        if (!std::isfinite(c) || c < 0) {
          bad = Rejection{RejectReason::kInvalidCount,
                          absl::StrCat("counts[", k,
                                       "]: must be a finite "
                                       "number >= 0, got ",
                                       c)};
          break;
        }
        if (c == 1) {
          x.samples.push_back({ts, v});
        } else if (c > 0) {
          if (!engine::IsAcceptedValue(v * c)) {
            bad = Rejection{
                RejectReason::kInvalidCount,
                engine::ValidateValue(
                    v * c, absl::StrCat("values[", k, "] x counts[", k, "]"))
                    ->message};
            break;
          }
          x.sets.push_back({ts, c, v * c, v, v});
        }
      }
    } else {
      for (auto [name, v] :
           {std::pair{"statistic_values.sample_count", d.sample_count},
            std::pair{"statistic_values.sum", d.sum},
            std::pair{"statistic_values.minimum", d.minimum},
            std::pair{"statistic_values.maximum", d.maximum}}) {
        if ((bad = engine::ValidateValue(v, name))) break;
      }
      if (!bad && !(d.sample_count > 0)) {
        bad = Rejection{RejectReason::kInvalidStatisticSet,
                        "statistic_values.sample_count: must be > 0"};
      } else if (!bad && d.minimum > d.maximum) {
        bad = Rejection{RejectReason::kInvalidStatisticSet,
                        "statistic_values: minimum must not exceed maximum"};
      }
      if (!bad) {
        x.sets.push_back({ts, d.sample_count, d.sum, d.minimum, d.maximum});
      }
    }
    if (bad) {
      x.samples.resize(sample_begin);
      x.sets.resize(set_begin);
      reject(*bad);
      continue;
    }
    accepted += static_cast<int64_t>(x.samples.size() - sample_begin +
                                     x.sets.size() - set_begin);
    // A datum of the same series as the one before extends its run.
    if (found != nullptr) {
      if (!x.runs.empty() && x.runs.back().series == found) {
        x.runs.back().sample_end = x.samples.size();
        x.runs.back().set_end = x.sets.size();
        continue;
      }
      const size_t at = x.keys.size();
      x.runs.push_back({at, at, sample_begin, x.samples.size(), set_begin,
                        x.sets.size(), found, 0, di});
      continue;
    }
    const size_t key_begin = x.keys.size();
    engine::AppendSeriesKeyEncoding(ns, d.metric_name, unit, dims, &x.keys);
    const size_t key_end = x.keys.size();
    if (!x.runs.empty() && x.runs.back().series == nullptr) {
      DatumScratch::RunAt& last = x.runs.back();
      const absl::string_view keys = x.keys;
      if (keys.substr(last.key_begin, last.key_end - last.key_begin) ==
          keys.substr(key_begin, key_end - key_begin)) {
        x.keys.resize(key_begin);
        last.sample_end = x.samples.size();
        last.set_end = x.sets.size();
        continue;
      }
    }
    x.runs.push_back({key_begin, key_end, sample_begin, x.samples.size(),
                      set_begin, x.sets.size(), nullptr, x.hashes[di], di});
  }
  if (!x.runs.empty()) {
    x.batch.runs.resize(x.runs.size());
    for (size_t r = 0; r < x.runs.size(); ++r) {
      const DatumScratch::RunAt& at = x.runs[r];
      engine::IngestBatch::Run& run = x.batch.runs[r];
      run.key = absl::string_view(x.keys).substr(at.key_begin,
                                                 at.key_end - at.key_begin);
      run.samples = x.samples.data() + at.sample_begin;
      run.sample_count = at.sample_end - at.sample_begin;
      run.sets = x.sets.data() + at.set_begin;
      run.set_count = at.set_end - at.set_begin;
      run.series = at.series;
      run.identity_hash = at.identity_hash;
      run.identity = x.ids[at.datum];
    }
  }
  c->accepted = accepted;
  return grpc::Status::OK;
}

grpc::Status MetricsService::PutSeries(const v1::PutMetricSeriesRequest& req,
                                       v1::PutMetricDataResponse* resp) {
  if (req.series_size() == 0) {
    return InvalidArgument("series: at least one series is required");
  }
  const int64_t now = clock_.NowMs();
  WriteSet set(static_cast<size_t>(req.series_size()));
  int64_t accepted = 0;
  for (int i = 0; i < req.series_size(); ++i) {
    const v1::SeriesPoints& sp = req.series(i);
    auto reject_all = [&](const Rejection& r) {
      const int64_t points = std::max(sp.values_size(), 1);
      AddRejection(resp, i, -1, r, points);
      CountRejection(r.reason, points);
    };
    if (absl::Status s = engine::ValidateNamespace(
            sp.namespace_(), absl::StrCat("series[", i, "].namespace"));
        !s.ok()) {
      reject_all({RejectReason::kInvalidNamespace, std::string(s.message())});
      continue;
    }
    engine::SeriesKey key;
    key.namespace_name = sp.namespace_();
    int32_t resolution = sp.storage_resolution();
    if (auto r = ValidateIdentity(sp.metric_name(), sp.dimensions(), sp.unit(),
                                  &resolution, &key)) {
      reject_all(*r);
      continue;
    }
    if (sp.timestamps_ms_size() != sp.values_size()) {
      reject_all({RejectReason::kTimestampsValuesMismatch,
                  absl::StrCat("timestamps_ms: ", sp.timestamps_ms_size(),
                               " entries but values has ", sp.values_size(),
                               "; they must be equal")});
      continue;
    }
    engine::SeriesWrite* w = nullptr;
    for (int k = 0; k < sp.values_size(); ++k) {
      std::optional<Rejection> bad =
          engine::ValidateTimestamp(sp.timestamps_ms(k), now);
      if (!bad) bad = engine::ValidateValue(sp.values(k), "values");
      if (bad) {
        AddRejection(resp, i, k, *bad);
        CountRejection(bad->reason, 1);
        continue;
      }
      if (w == nullptr) w = &set.For(engine::SeriesKey(key));
      w->samples.push_back({sp.timestamps_ms(k), sp.values(k)});
      ++accepted;
    }
  }
  if (!set.writes().empty()) {
    if (absl::Status s = engine_.Write(set.writes()); !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  resp->set_accepted_points(accepted);
  return grpc::Status::OK;
}

grpc::Status MetricsService::PutMetricSeries(
    grpc::ServerContext*, const v1::PutMetricSeriesRequest* req,
    v1::PutMetricDataResponse* resp) {
  return PutSeries(*req, resp);
}

grpc::Status MetricsService::StreamMetricSeries(
    grpc::ServerContext*,
    grpc::ServerReaderWriter<v1::PutMetricDataResponse,
                             v1::PutMetricSeriesRequest>* stream) {
  v1::PutMetricSeriesRequest req;
  while (stream->Read(&req)) {
    v1::PutMetricDataResponse resp;
    grpc::Status s = PutSeries(req, &resp);
    if (!s.ok()) return s;  // ends the stream; earlier messages were acked
    if (!stream->Write(resp)) break;
  }
  return grpc::Status::OK;
}

grpc::Status MetricsService::ListMetrics(grpc::ServerContext*,
                                         const v1::ListMetricsRequest* req,
                                         v1::ListMetricsResponse* resp) {
  engine::ListQuery q;
  if (!req->namespace_().empty()) {
    if (absl::Status s =
            engine::ValidateNamespace(req->namespace_(), "namespace");
        !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  q.namespace_name = req->namespace_();
  q.metric_name = req->metric_name();
  if (req->dimensions_size() > kMaxListDimensionFilters) {
    return InvalidArgument(absl::StrCat("dimensions: ", req->dimensions_size(),
                                        " filters, at most ",
                                        kMaxListDimensionFilters));
  }
  for (const auto& f : req->dimensions()) {
    if (f.name().empty()) {
      return InvalidArgument("dimensions: a filter needs a name");
    }
    engine::ListQuery::Filter filter{f.name(), std::nullopt};
    if (f.has_value()) filter.value = f.value();
    q.dimensions.push_back(std::move(filter));
  }
  if (!req->recently_active().empty()) {
    if (req->recently_active() != "PT3H") {
      return InvalidArgument(
          absl::StrCat("recently_active: must be \"PT3H\" or empty, got \"",
                       req->recently_active(), "\""));
    }
    q.recently_active = true;
  }
  q.next_token = req->next_token();
  auto r = engine_.ListSeries(q);
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (const engine::SeriesKey& k : r->series) {
    auto* m = resp->add_metrics();
    m->set_namespace_(k.namespace_name);
    m->set_metric_name(k.metric_name);
    m->set_unit(k.unit);
    for (const auto& d : k.dimensions) {
      auto* x = m->add_dimensions();
      x->set_name(d.name);
      x->set_value(d.value);
    }
  }
  resp->set_next_token(r->next_token);
  return grpc::Status::OK;
}

grpc::Status MetricsService::GetMetricStatistics(
    grpc::ServerContext*, const v1::GetMetricStatisticsRequest* req,
    v1::GetMetricStatisticsResponse* resp) {
  if (absl::Status s =
          engine::ValidateNamespace(req->namespace_(), "namespace");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  engine::StatisticsQuery q;
  q.key.namespace_name = req->namespace_();
  int32_t resolution = 60;
  std::string unit = req->unit();
  if (auto r =
          ValidateIdentity(req->metric_name(), req->dimensions(),
                           unit.empty() ? "None" : unit, &resolution, &q.key)) {
    return InvalidArgument(r->message);
  }
  if (unit.empty()) q.key.unit.clear();  // any unit
  int64_t start_ms = 0, end_ms = 0;
  if (grpc::Status s = ReadTimeRange(*req, &start_ms, &end_ms); !s.ok()) {
    return s;
  }
  const int32_t period = req->period();
  if (!(period == 1 || period == 5 || period == 10 || period == 20 ||
        period == 30 || (period > 0 && period % 60 == 0))) {
    return InvalidArgument(absl::StrCat(
        "period: must be 1, 5, 10, 20, 30 or a multiple of 60 seconds, got ",
        period));
  }
  q.start_ms =
      engine::RoundStartTime(clock_.NowMs(), start_ms, int64_t{period} * 1000);
  q.requested_start_ms = start_ms;
  q.end_ms = end_ms;
  q.period_ms = int64_t{period} * 1000;
  const int64_t periods =
      (q.end_ms - q.start_ms + q.period_ms - 1) / q.period_ms;
  if (periods > static_cast<int64_t>(kMaxDatapoints)) {
    return InvalidArgument(absl::StrCat(
        "period: the range holds ", periods, " periods of ", period,
        " s; at most ", kMaxDatapoints,
        " datapoints per call (use a longer period or a shorter range)"));
  }
  const int nstats = req->statistics_size();
  const int nperc = req->extended_statistics_size();
  if ((nstats == 0) == (nperc == 0)) {
    return InvalidArgument(
        "statistics/extended_statistics: give exactly one of the two lists");
  }
  if (nstats > 5) {
    return InvalidArgument("statistics: at most 5");
  }
  if (nperc > 10) {
    return InvalidArgument("extended_statistics: at most 10");
  }
  std::vector<engine::Statistic> stats;
  for (int i = 0; i < nstats; ++i) {
    auto s = ParseStatistic(req->statistics(i));
    if (!s) {
      return InvalidArgument(absl::StrCat(
          "statistics[", i, "]: '", req->statistics(i),
          "' is not one of SampleCount, Average, Sum, Minimum, Maximum"));
    }
    stats.push_back(*s);
  }
  for (int i = 0; i < nperc; ++i) {
    auto e = engine::ParseExtendedStatistic(req->extended_statistics(i));
    if (!e.ok()) {
      return InvalidArgument(
          absl::StrCat("extended_statistics[", i, "]: ", e.status().message()));
    }
    q.extended.push_back(*e);
  }
  auto points = engine_.GetStatistics(q);
  if (!points.ok()) return ToGrpcStatus(points.status());
  resp->set_label(req->metric_name());
  for (const auto& p : *points) {
    auto* d = resp->add_datapoints();
    ToTimestamp(p.start_ms, d->mutable_timestamp());
    d->set_unit(p.unit);
    for (engine::Statistic s : stats) {
      switch (s) {
        case engine::Statistic::kSampleCount:
          d->set_sample_count(p.sample_count);
          break;
        case engine::Statistic::kAverage:
          d->set_average(p.sum / p.sample_count);
          break;
        case engine::Statistic::kSum:
          d->set_sum(p.sum);
          break;
        case engine::Statistic::kMinimum:
          d->set_minimum(p.minimum);
          break;
        case engine::Statistic::kMaximum:
          d->set_maximum(p.maximum);
          break;
      }
    }
    for (int i = 0; i < nperc; ++i) {
      if (!std::isnan(p.extended[i])) {
        (*d->mutable_extended_statistics())[req->extended_statistics(i)] =
            p.extended[i];
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status ToEngineQueries(
    const google::protobuf::RepeatedPtrField<v1::MetricDataQuery>& queries,
    absl::string_view name, std::vector<engine::MetricDataQuery>* out) {
  for (int i = 0; i < queries.size(); ++i) {
    const v1::MetricDataQuery& q = queries[i];
    const std::string field = absl::StrCat(name, "[", i, "].");
    engine::MetricDataQuery& e = out->emplace_back();
    e.id = q.id();
    e.expression = q.expression();
    e.label = q.label();
    e.return_data = !q.has_return_data() || q.return_data();
    if (q.period() < 0) {
      return InvalidArgument(absl::StrCat(field, "period: must be positive"));
    }
    e.period_ms = int64_t{q.period()} * 1000;
    if (!q.has_metric_stat()) continue;
    const v1::MetricStat& ms = q.metric_stat();
    const v1::Metric& m = ms.metric();
    if (absl::Status s = engine::ValidateNamespace(
            m.namespace_(),
            absl::StrCat(field, "metric_stat.metric.namespace"));
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    if (!m.unit().empty() && !ms.unit().empty() && m.unit() != ms.unit()) {
      return InvalidArgument(
          absl::StrCat(field, "metric_stat.unit: \"", ms.unit(),
                       "\" differs from metric.unit \"", m.unit(), "\""));
    }
    const std::string unit = ms.unit().empty() ? m.unit() : ms.unit();
    engine::MetricStat stat;
    stat.key.namespace_name = m.namespace_();
    int32_t resolution = 60;
    if (auto bad = ValidateIdentity(m.metric_name(), m.dimensions(),
                                    unit.empty() ? "None" : unit, &resolution,
                                    &stat.key)) {
      return InvalidArgument(
          absl::StrCat(field, "metric_stat.metric.", bad->message));
    }
    if (unit.empty()) stat.key.unit.clear();  // any unit
    if (ms.period() <= 0) {
      return InvalidArgument(absl::StrCat(
          field,
          "metric_stat.period: must be 1, 5, 10, 20, 30 or a multiple "
          "of 60 seconds, got ",
          ms.period()));
    }
    stat.period_ms = int64_t{ms.period()} * 1000;
    stat.stat = ms.stat();
    e.metric_stat = std::move(stat);
  }
  return grpc::Status::OK;
}

grpc::Status MetricsService::GetMetricData(grpc::ServerContext*,
                                           const v1::GetMetricDataRequest* req,
                                           v1::GetMetricDataResponse* resp) {
  engine::MetricDataRequest r;
  if (grpc::Status s = ReadTimeRange(*req, &r.start_ms, &r.end_ms); !s.ok()) {
    return s;
  }
  if (req->scan_by() == "TimestampAscending") {
    r.ascending = true;
  } else if (!req->scan_by().empty() &&
             req->scan_by() != "TimestampDescending") {
    return InvalidArgument(absl::StrCat(
        "scan_by: must be TimestampDescending or TimestampAscending, got \"",
        req->scan_by(), "\""));
  }
  r.max_datapoints = req->max_datapoints();
  r.next_token = req->next_token();
  if (req->metric_data_queries_size() >
      static_cast<int>(engine::kMaxMetricDataQueries)) {
    return InvalidArgument(absl::StrCat(
        "metric_data_queries: at most ", engine::kMaxMetricDataQueries,
        " queries, got ", req->metric_data_queries_size()));
  }
  if (grpc::Status s = ToEngineQueries(req->metric_data_queries(),
                                       "metric_data_queries", &r.queries);
      !s.ok()) {
    return s;
  }
  auto out = engine::GetMetricData(engine_, clock_, r);
  if (!out.ok()) return ToGrpcStatus(out.status());
  for (const engine::MetricDataResult& x : out->results) {
    v1::MetricDataResult* y = resp->add_metric_data_results();
    y->set_id(x.id);
    y->set_label(x.label);
    for (size_t k = 0; k < x.values.size(); ++k) {
      ToTimestamp(x.timestamps_ms[k], y->add_timestamps());
      y->add_values(x.values[k]);
    }
    y->set_status_code(x.status ==
                               engine::MetricDataResult::StatusCode::kComplete
                           ? "Complete"
                           : "PartialData");
  }
  resp->set_next_token(out->next_token);
  return grpc::Status::OK;
}

grpc::Status MetricsService::GetServerStats(grpc::ServerContext*,
                                            const v1::GetServerStatsRequest*,
                                            v1::GetServerStatsResponse* resp) {
  const engine::EngineStats s = engine_.Stats();
  resp->set_points_accepted(s.points_accepted);
  resp->set_series_count(s.series_count);
  resp->set_bytes_on_disk(s.bytes_on_disk);
  resp->set_chunks_sealed(s.chunks_sealed);
  resp->set_chunks_merged(s.chunks_merged);
  resp->set_head_points(s.head_points);
  resp->set_memtable_bytes(s.memtable_bytes);
  ToTimestamp(s.rollup_watermark_ms, resp->mutable_rollup_watermark());
  resp->set_rollup_passes(s.rollups.passes);
  resp->set_rollup_points_read(s.rollups.raw_points_read);
  resp->set_rollup_hours_redone(s.rollups.dirty_hours_redone);
  resp->set_rollup_series_failed(s.rollups.series_failed);
  resp->set_rollup_stale_marks_dropped(s.rollups.stale_marks_dropped);
  resp->set_seal_failures(s.seal_failures);
  resp->set_sweep_failures(s.sweep_failures);
  resp->set_rollup_failures(s.rollup_failures);
  resp->set_writes_throttled(s.writes_throttled);
  resp->set_rollup_dirty_hours_pending(s.dirty_hours_pending);
  resp->set_rollup_dirty_records_written(s.dirty_records_written);
  resp->set_rollup_dirty_pairs_written(s.dirty_pairs_written);
  resp->set_rollup_hours_deferred(s.rollups.dirty_hours_deferred);
  resp->set_heap_bytes_in_use(HeapBytesInUse());
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    long size = 0, resident = 0;
    if (std::fscanf(f, "%ld %ld", &size, &resident) == 2) {
      resp->set_resident_bytes(static_cast<int64_t>(resident) *
                               sysconf(_SC_PAGESIZE));
    }
    std::fclose(f);
  }
  int64_t total = 0;
  for (int r = 0; r < engine::kRejectReasonCount; ++r) {
    const int64_t n = rejected_[r].load(std::memory_order_relaxed);
    if (n == 0) continue;
    total += n;
    (*resp->mutable_rejected_by_reason())[std::string(
        engine::RejectReasonName(static_cast<RejectReason>(r)))] = n;
  }
  resp->set_points_rejected(total);
  return grpc::Status::OK;
}

}  // namespace nimbus::rpc
