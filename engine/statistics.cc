#include "engine/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/quantile_sketch.h"
#include "engine/rollup.h"
#include "storage/keys.h"
#include "storage/status_macros.h"

namespace nimbus::engine {
namespace {

// A value and how many samples have it (1 for a raw point; an exact
// statistic set's count, which may be fractional).
using Weighted = WeightedValue;

// The p-th percentile by nearest rank over weighted values: the smallest
// value whose cumulative weight reaches p% of the total. NaN if empty.
double NearestRank(std::vector<Weighted>& values, double p) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  double total = 0;
  for (const Weighted& w : values) total += w.weight;
  const double target = std::max(p / 100.0 * total, 0.0);
  double cumulative = 0;
  for (const Weighted& w : values) {
    cumulative += w.weight;
    if (cumulative >= target && w.weight > 0) return w.value;
  }
  return values.back().value;
}

}  // namespace

absl::StatusOr<std::vector<StatisticsDatapoint>> StatisticsExecutor::Run(
    const StatisticsQuery& q, int64_t now_ms, int64_t watermark_ms) {
  if (q.period_ms <= 0) {
    return absl::InvalidArgumentError("period: must be positive");
  }
  if (q.end_ms <= q.start_ms) {
    return absl::InvalidArgumentError("end_time: must be after start_time");
  }
  for (int64_t t : {q.start_ms, q.end_ms, q.requested_start_ms, q.period_ms}) {
    if (t < -kMaxQueryTimeMs || t > kMaxQueryTimeMs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "start_time/end_time/period: ", t, " ms is beyond +-2^53 ms"));
    }
  }
  const bool want_values = !q.percentiles.empty() || !q.extended.empty();
  const QueryPlan plan = PlanStatisticsQuery(
      now_ms, q.start_ms, q.end_ms, q.period_ms, want_values, watermark_ms,
      reach_, q.requested_start_ms == 0 ? q.start_ms : q.requested_start_ms);
  if (plan.empty) return std::vector<StatisticsDatapoint>();
  // Percentiles are exact over raw values, and come from sketches where
  // rollups serve (then raw values of the newest periods join the sketch).
  const bool sketches = want_values && plan.tier >= 0;
  struct Acc {
    double count = 0, sum = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    std::vector<Weighted> values;  // exact percentiles
    QuantileSketch sketch;         // approximate percentiles
    bool inexact = false;  // a statistic set that percentiles cannot use
    int unit = -1;         // index into `units`
    bool mixed_units = false;
  };
  // Periods by index from the start: a vector when there are few (the usual
  // case; an index costs nothing), a map otherwise. Unsigned arithmetic: the
  // range may span more than INT64_MAX.
  const uint64_t periods = (static_cast<uint64_t>(q.end_ms) -
                            static_cast<uint64_t>(q.start_ms) - 1) /
                               static_cast<uint64_t>(q.period_ms) +
                           1;
  constexpr uint64_t kMaxDense = 4096;
  std::vector<Acc> dense(periods <= kMaxDense ? periods : 0);
  absl::flat_hash_map<uint64_t, Acc> sparse;
  std::vector<std::string> units;  // of the series read, in order
  int unit = -1;                   // of the series being read
  // The period holding ts, with count, sum, minimum and maximum added.
  auto add = [&](int64_t ts, double count, double sum, double mn,
                 double mx) -> Acc* {
    if (ts < q.start_ms || ts >= q.end_ms) return nullptr;
    const uint64_t k =
        (static_cast<uint64_t>(ts) - static_cast<uint64_t>(q.start_ms)) /
        static_cast<uint64_t>(q.period_ms);
    Acc& a = dense.empty() ? sparse[k] : dense[k];
    a.count += count;
    a.sum += sum;
    a.min = std::min(a.min, mn);
    a.max = std::max(a.max, mx);
    if (a.unit < 0) {
      a.unit = unit;
    } else if (a.unit != unit && units[a.unit] != units[unit]) {
      a.mixed_units = true;
    }
    return &a;
  };
  auto sample = [&](int64_t ts, double v) {
    Acc* a = add(ts, 1, v, v, v);
    if (a == nullptr || !want_values) return;
    if (sketches) {
      a->sketch.Add(v);
    } else {
      a->values.push_back({v, 1});
    }
  };
  auto set = [&](int64_t ts, double count, double sum, double mn, double mx) {
    Acc* a = add(ts, count, sum, mn, mx);
    if (a == nullptr || !want_values) return;
    // A set whose samples are all equal joins percentiles with its count as
    // weight; any other leaves the period without percentiles, as in
    // CloudWatch (docs/semantics.md).
    if (!IsExactSet(count, sum, mn, mx)) {
      a->inexact = true;
    } else if (sketches) {
      a->sketch.Add(mn, count);
    } else {
      a->values.push_back({mn, count});
    }
  };
  int64_t block_hour = 0;            // of the rollup block being read
  std::vector<int64_t> dirty_hours;  // of the series being read, ascending
  for (Series* s : index_.Match(q.key)) {
    units.push_back(s->Key().unit);
    unit = static_cast<int>(units.size()) - 1;
    if (plan.tier >= 0 && plan.rollup_end_ms > q.start_ms) {
      // Hours with late points not rolled up again yet are read raw, so a
      // query never misses an acknowledged point. Marks are read before the
      // blocks: a pass writes its blocks before it deletes the marks.
      dirty_hours = dirty_.Hours(s->id, q.start_ms, plan.rollup_end_ms);
      auto it = store_.NewIterator(kTierColumns[plan.tier]);
      const int64_t tier_ms = kTierPeriodsMs[plan.tier];
      auto record = [&](int index, PeriodStatistics& r) {
        const int64_t start = block_hour + index * tier_ms;
        if (start < q.start_ms || start >= plan.rollup_end_ms) return;
        Acc* a = add(start, r.count, r.sum, r.minimum, r.maximum);
        if (a == nullptr || !sketches) return;
        if (r.percentiles_known) {
          a->sketch.Merge(r.sketch);
        } else {
          a->inexact = true;
        }
      };
      for (it->Seek(
               storage::EncodeRollupKey(s->id, FloorTo(q.start_ms, kHourMs)));
           it->Valid(); it->Next()) {
        uint64_t id;
        if (!storage::DecodeRollupKey(it->key(), &id, &block_hour) ||
            id != s->id || block_hour >= plan.rollup_end_ms) {
          break;
        }
        if (std::binary_search(dirty_hours.begin(), dirty_hours.end(),
                               block_hour)) {
          continue;
        }
        NIMBUS_RETURN_IF_ERROR(DecodeRollupBlock(
            it->value(), kTierSlots[plan.tier], sketches, record));
      }
      NIMBUS_RETURN_IF_ERROR(it->status());
      for (int64_t hour : dirty_hours) {
        NIMBUS_RETURN_IF_ERROR(reader_.Read(
            s, std::max(q.start_ms, hour),
            std::min(plan.rollup_end_ms, hour + kHourMs), sample, set));
      }
    }
    if (plan.rollup_end_ms < q.end_ms) {
      NIMBUS_RETURN_IF_ERROR(reader_.Read(
          s, std::max(q.start_ms, plan.rollup_end_ms), q.end_ms, sample, set));
    }
  }
  std::vector<uint64_t> keys;
  if (dense.empty()) {
    keys.reserve(sparse.size());
    for (auto& [k, a] : sparse) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
  } else {
    for (uint64_t k = 0; k < dense.size(); ++k) {
      if (dense[k].count > 0) keys.push_back(k);
    }
  }
  std::vector<StatisticsDatapoint> out;
  out.reserve(keys.size());
  std::vector<Weighted> buckets;
  for (uint64_t k : keys) {
    Acc& a = dense.empty() ? sparse[k] : dense[k];
    if (a.count <= 0) continue;
    StatisticsDatapoint d;
    d.start_ms = static_cast<int64_t>(static_cast<uint64_t>(q.start_ms) +
                                      k * static_cast<uint64_t>(q.period_ms));
    d.sample_count = a.count;
    d.sum = a.sum;
    d.minimum = a.min;
    d.maximum = a.max;
    d.unit = a.mixed_units ? "None" : units[a.unit];
    constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    if (sketches) {
      buckets.clear();
      if (!q.extended.empty()) a.sketch.AppendBuckets(&buckets);
      for (double p : q.percentiles) {
        // Within the period's exact minimum and maximum: a folded low
        // bucket's value may lie outside them.
        d.percentiles.push_back(
            a.inexact ? kNaN
                      : std::clamp(a.sketch.Quantile(p / 100), a.min, a.max));
      }
      for (const ExtendedStatistic& e : q.extended) {
        d.extended.push_back(a.inexact ? kNaN
                                       : EvaluateExtendedStatistic(e, buckets));
      }
    } else {
      std::sort(a.values.begin(), a.values.end(),
                [](const Weighted& x, const Weighted& y) {
                  return x.value < y.value;
                });
      for (double p : q.percentiles) {
        d.percentiles.push_back(a.inexact ? kNaN : NearestRank(a.values, p));
      }
      for (const ExtendedStatistic& e : q.extended) {
        d.extended.push_back(
            a.inexact ? kNaN : EvaluateExtendedStatistic(e, a.values));
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace nimbus::engine
