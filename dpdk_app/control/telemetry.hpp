// redline's counters in DPDK telemetry, beside what ethdev and mempool already put there:
//
//   dpdk-telemetry.py -f <file-prefix>
//   --> /redline/counters            every counter, summed over workers
//   --> /redline/counters_by_core,1  worker 1's counters
//   --> /redline/ports               per port: ethdev stats, link
//   --> /redline/workers             per worker: busy cycles, rx packets (and tsc_hz)
//
// Problem: telemetry commands are plain C functions, registered for the life of the process
// (DPDK 22.11 has no way to unregister one, and registering a name twice lists it twice), and
// called on the telemetry thread, one per connected client, while the App that owns the
// counters may be set up and torn down several times (tests do). So the commands are
// registered once, and they reach the current App through one provider, set and cleared under
// a mutex: clearing waits for a command in progress, so the App can free its workers right
// after. With no provider a command answers null (`{"/redline/counters": null}`).
#pragma once

#include <functional>

#include "dpdk_app/control/snapshot.hpp"

namespace redline::app {

// Registers the /redline/ commands (first call only) and makes `provider` the source of their
// answers, replacing any earlier one. Works whether or not EAL runs the telemetry socket.
void register_telemetry(std::function<Snapshot()> provider);

// Clears the provider, waiting for any command that is using it. Idempotent.
void unregister_telemetry();

}  // namespace redline::app
