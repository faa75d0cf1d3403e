// The stages redline's router is made of (stage_graph.hpp draws how they connect). Each is a
// class with per-core state where it needs some; the worker builds one of each per core.
#pragma once

#include <memory>

#include "stack/ip/route_table.hpp"
#include "stack/pipeline/reassembly.hpp"
#include "stack/pipeline/stage.hpp"

namespace redline::pipeline {

class Worker;

// A stage that works for one worker (every built-in one).
class WorkerStage : public Stage {
 public:
  explicit WorkerStage(Worker& w) : w_(w) {}

 protected:
  Worker& w_;
};

// Ethernet, IPv4 validity (RFC 1812 §5.2.2), martian sources (§5.3.7), the owning core.
class ClassifyStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "classify"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;

 private:
  [[gnu::cold]] NextId classify(Burst& b, uint8_t slot);
};

// ARP frames, to the ARP owner (arp_owner.hpp).
class ArpStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "arp"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
};

// Destination checks and longest-prefix match: local delivery, or forwarding proper (TTL, DF and
// the egress MTU, the next hop) on to the post-routing hooks.
class RouteStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "route"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;

 private:
  // False when the packet was dropped (its next is set). `ip` is its header, `h` the hop of
  // `route`. Inline: it runs for every forwarded packet.
  [[gnu::always_inline]] inline bool forward(Burst& b, uint8_t slot, uint8_t* ip, const ip::NextHop& h, uint32_t route);
};

// Datagrams for our own addresses: reassembled when fragmented (RFC 791 §3.2, RFC 1122
// §3.3.2), then delivered to the stage of their protocol.
class LocalStage final : public WorkerStage {
 public:
  LocalStage(Worker& w, std::unique_ptr<Reassembly> reassembly) : WorkerStage(w), reassembly_(std::move(reassembly)) {}
  const char* name() const override { return "local"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
  Reassembly& reassembly() { return *reassembly_; }

 private:
  [[gnu::cold]] bool reassemble(Burst& b, uint8_t slot);
  std::unique_ptr<Reassembly> reassembly_;
};

// ICMP for our addresses: echo (RFC 792, RFC 1122 §3.2.2.6).
class IcmpStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "icmp"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
};

// A transport with nothing listening yet: UDP gets port unreachable (RFC 1122 §4.1.3.1), TCP
// is counted (the TCP issue answers with RST).
class NoListenerStage final : public WorkerStage {
 public:
  NoListenerStage(Worker& w, uint8_t protocol) : WorkerStage(w), protocol_(protocol) {}
  const char* name() const override { return protocol_ == 17 ? "udp" : "tcp"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;

 private:
  uint8_t protocol_;
};

// The route of what redline itself sends (replies, errors).
class LocalOutStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "local-out"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
};

// Neighbor lookup, Ethernet header, fragmentation where needed, TX queue; unknown neighbors
// go to the ARP owner's resolution queue.
class OutputStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "output"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
};

// Counts each packet by its reason and frees the lot in one call.
class DropStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "drop"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
};

// To the owning core: one bulk enqueue per destination core per burst.
class HandoffStage final : public WorkerStage {
 public:
  using WorkerStage::WorkerStage;
  const char* name() const override { return "handoff"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
};

}  // namespace redline::pipeline
