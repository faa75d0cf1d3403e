// AF_XDP ports (DPDK's net_af_xdp): what the PMD needs from the system, checked or set up before
// it is probed, and what it ended up with, reported after it starts.
//
// The PMD itself opens an AF_XDP socket per queue on queues start_queue..+queue_count of the
// interface and loads (or shares, through libxdp's dispatcher) an XDP program that redirects
// them. What it leaves to its user, and what goes wrong silently otherwise:
//  - the interface must exist in redline's network namespace and have the queues asked for
//    (the PMD's own error is a bare -EINVAL);
//  - libxdp wants bpffs at /sys/fs/bpf for its dispatcher (without it a single program is loaded,
//    which another XDP user on the interface then cannot share);
//  - the interface's MTU is the kernel's, not the port's: frames beyond it never reach XDP;
//  - whether the kernel gave zero-copy or copy mode, and whether preferred busy polling took,
//    is visible only on the sockets: read back after start (sock_diag and getsockopt).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stack/net/types.hpp"

namespace redline::drivers {

struct AfXdpArgs {
  std::string iface;
  uint32_t start_queue = 0;
  uint32_t queue_count = 1;
  int busy_budget = -1;  // -1: the PMD's default
  bool force_copy = false;
};

// The device string's arguments when it names net_af_xdp ("net_af_xdp0,iface=veth0,..."),
// else nullopt.
std::optional<AfXdpArgs> af_xdp_args(const std::string& device);

// Checks and prepares the system for `a` before the PMD is probed: the interface exists and has
// the queues and no XDP program of someone else, its MTU is `mtu` and its MAC `mac` (set if not:
// the PMD takes the interface's MAC and cannot change it), bpffs is mounted at /sys/fs/bpf.
// Returns why not (empty when ready); `notes` gets what was done, for the log.
// What prepare_af_xdp changed on the interface, to give back at exit (restore_interface).
struct InterfaceState {
  std::string iface;
  int mtu = -1;                        // -1: not changed
  std::optional<net::MacAddr> mac;     // empty: not changed
};
std::string prepare_af_xdp(const AfXdpArgs& a, uint16_t mtu, const std::optional<net::MacAddr>& mac, std::string* notes,
                           InterfaceState* was);
void restore_interface(const InterfaceState& was);

// After the port started: "copy mode" or "zero-copy mode", and the busy-polling state of its
// sockets, as one phrase for the start-up log. Remembers the sockets as DPDK port `port_id`'s.
std::string describe_af_xdp(const AfXdpArgs& a, uint16_t port_id);

// The kernel's own counters for DPDK port `port_id`'s AF_XDP sockets (getsockopt XDP_STATISTICS,
// summed over its queues), named xsk_*: frames the kernel dropped for want of room in the RX
// ring or the fill ring, and descriptors it refused. None of them reach the PMD's statistics;
// `show ports` and the counters block list them with the port's xstats. Empty for other ports.
std::vector<std::pair<std::string, uint64_t>> af_xdp_kernel_stats(uint16_t port_id);

// Why probing `a` may have failed, to append to the PMD's error (interface busy, no queues...).
std::string af_xdp_probe_hint(const AfXdpArgs& a);

}  // namespace redline::drivers
