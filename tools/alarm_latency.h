// The alarm latency run of nimbus-loadgen (--mode=alarms): from the arrival
// of a breaching point to the transition a client sees, on a real server
// with its real clock.
//
// It puts N alarms (one per series Host=host-<i>: Average over 10-second
// periods, N = M = 1, threshold 80), then every 10 s sends one point per
// series. In a breach round a share of the hosts send 95, and in the round
// after they send 40 again: that share of the alarms goes to ALARM
// together, then back to OK. A sample of those alarms (the probes) is
// polled with DescribeAlarms every 5 ms; a probe's latency is from the
// acknowledgement of the request that carried its point to the first
// DescribeAlarms that shows its new state (the state a client can read is
// the persisted one: the engine applies a transition to memory only after
// its write). Each round's points arrive at another offset into their
// period, so that the wait for the tick (the period's end) varies; "after
// the tick" is the time from the period's end to the state seen.
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
