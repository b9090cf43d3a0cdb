// The alarm latency run of nimbus-loadgen (--mode=alarms): from the arrival
// of a breaching point to the transition a client sees, on a real server
// with its real clock.
//
// It puts N alarms (one per series Host=<run>host-<i>: Average over
// 10-second periods, N = M = 1, threshold 80; alarm names and series unique
// to the run, loadgen-<unix seconds>-...), then runs
// rounds 20 s apart: in each, one point per series, sent at an offset into
// a period. In a breach round a share of the hosts send 95, and in the
// round after they send 40 again: that share of the alarms goes to ALARM
// together, then back to OK (the first round takes every alarm from
// INSUFFICIENT_DATA to OK). A sample of those alarms (the probes) is
// polled with DescribeAlarms every 5 ms from the start of the round's
// sending; a probe's latency is from the acknowledgement of the request
// that carried its point to the first DescribeAlarms that shows its new
// state (late by up to a poll and its round trip; the state a client can
// read is the persisted one: the engine applies a transition to memory only
// after its write). The offsets vary (1, 4, 7, 9 s), so that the wait for
// the tick (the period's end) does; "after the tick" is the time from the
// period's end to the state seen. A round whose points were not all sent by
// the tick says so.
#ifndef NIMBUS_TOOLS_ALARM_LATENCY_H_
#define NIMBUS_TOOLS_ALARM_LATENCY_H_

#include <string>

namespace nimbus::tools {

struct AlarmLatencyOptions {
  std::string target;
  std::string namespace_name;
  int alarms = 1000;
  int concurrency = 4;
  double breach_share = 0.1;  // of the alarms, transitioning together
  int rounds = 3;             // breach rounds, each followed by a recovery
  int probes = 50;            // polled alarms, at most 100
  std::string json;           // report path; "-" for stdout
};

// Runs it; the report goes to stderr (and to options.json). Returns the
// process exit code: 0, 1 if a probe was not seen to transition or a call
// failed, 2 for bad options.
int RunAlarmLatency(const AlarmLatencyOptions& options);

}  // namespace nimbus::tools

#endif  // NIMBUS_TOOLS_ALARM_LATENCY_H_
