// TCP in a worker: the local-delivery stage for protocol 6 and everything that ties the pure
// engine (host.hpp) to mbufs, the route table, the TX path and the worker's timer wheel.
//
// Receive: a burst's segments are checked (length, data offset, checksum in software unless the
// NIC vouched for it), their connections looked up in one rte_hash bulk lookup, and each segment
// handed to the engine with its payload as a view into the mbuf: an in-order segment's mbuf is
// queued as it is (zero copy) and freed once the application consumed its bytes.
// Send (zero copy, Settings::zero_copy_send): a segment whose payload is one mbuf of the send
// queue (send() fills one per segment; send_received queues the mbufs data arrived in) goes out
// in that mbuf, the headers written in its headroom, with one more reference so that the send
// queue keeps it for retransmission. That is safe only while nothing else reads the headroom:
// when the mbuf has other references (an earlier frame of it still on a TX queue, another
// queue's view), the payload is copied into a new mbuf instead, as it is when zero copy is off.
// Counted as tcp_tx_zero_copy / tcp_tx_copied. MBUF_FAST_FREE, which assumes every mbuf freed
// on TX has one reference, is then off on every port (dpdk_app/app.cpp). Every segment is
// routed like each packet redline originates (local-out, post-routing hooks, output).
// Ownership: connections live on the worker their 4-tuple's symmetric RSS hash names; segments
// that arrive elsewhere were handed here by classify; connect() picks local ports whose replies
// hash here (Env::take_local_port, from the worker's port registry), so they need no handoff.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/flow_table.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/tcp/api.hpp"
#include "stack/tcp/host.hpp"

namespace redline::tcp {

// The engine's surroundings in redline: mbufs from the worker's pool, routes, TX.
class MbufEnv final : public Env {
 public:
  // `ephemeral`: the local ports connect takes (Settings::ephemeral_low/high).
  MbufEnv(pipeline::Worker& w, endpoint::PortRange ephemeral);
  bool send(const SegmentOut& s) override;
  Chunk alloc() override;
  void retain(void* owner) override;
  void release(void* owner) override;
  Endpoint route(uint32_t remote_ip, uint16_t* mss) override;
  uint16_t take_local_port(uint32_t local_ip, Endpoint remote, const std::function<bool(uint16_t)>& usable) override;
  void release_local_port(uint32_t local_ip, uint16_t port) override;
  bool may_listen(uint16_t port) override;
  void count(net::Counter c, uint64_t n) override { w_.count(c, n); }
  uint32_t rx_buffer_size() const override;

 private:
  // The mbuf holding s's payload, made into the frame (headers, `headers` bytes, to be written
  // in front of the payload), or null when it cannot be sent in place.
  rte_mbuf* frame_in_place(const SegmentOut& s, uint16_t headers);
  pipeline::Worker& w_;
  endpoint::PortRange ephemeral_;
  uint32_t max_mtu_ = 0;  // the largest port MTU: no segment's IP datagram is longer
  uint16_t ident_ = 0;
};

// The connection table: a per-worker rte_hash (FlowTable). Only its worker reads it: listings
// are made by the worker itself (TcpStage::dump), so slots are recycled at once, without RCU.
class FlowIndex final : public ConnIndex {
 public:
  explicit FlowIndex(std::unique_ptr<pipeline::FlowTable> t) : t_(std::move(t)) {}
  Connection* find(const net::FiveTuple& k) const override { return static_cast<Connection*>(t_->find(k)); }
  bool add(const net::FiveTuple& k, Connection* c) override { return t_->add(k, c); }
  void remove(const net::FiveTuple& k) override { t_->remove(k); }
  pipeline::FlowTable& table() { return *t_; }

 private:
  std::unique_ptr<pipeline::FlowTable> t_;
};

class TcpStage;

// What every worker's TCP shares: settings, the ISN secret, and each worker's stage for the
// control thread.
struct TcpShared {
  Settings settings;
  uint64_t isn_key[2] = {0, 0};
  std::vector<TcpStage*> stages;  // by worker; set as workers are built
  // Called once per worker on its own core at its first iteration (services listen, clients
  // connect); may be empty.
  std::function<void(TcpStage&)> start;
};

class TcpStage final : public pipeline::WorkerStage, public pipeline::IterationHook, public pipeline::IcmpErrorSink {
 public:
  TcpStage(pipeline::Worker& w, TcpShared& shared);
  ~TcpStage() override;
  const char* name() const override { return "tcp"; }
  void run(pipeline::Burst& b, const uint8_t* idx, uint32_t n) override;
  uint32_t on_iteration() override;
  bool on_icmp_error(const uint8_t* icmp, size_t len) override;

  Host& host() { return *host_; }
  pipeline::Worker& worker() { return w_; }
  // Keeps `owned` alive as long as the stage (services' objects).
  void keep(std::shared_ptr<void> owned) { owned_.push_back(std::move(owned)); }

  // --- the control thread ---
  uint32_t connections() const { return connections_.load(std::memory_order_relaxed); }
  uint32_t time_wait() const { return time_wait_.load(std::memory_order_relaxed); }
  // Asks the worker for a listing of its connections (one line each); the worker answers at its
  // next iteration. False if it did not within `timeout_ms`.
  bool dump(std::string* out, uint32_t timeout_ms);

 private:
  TcpShared& shared_;
  MbufEnv env_;
  std::unique_ptr<FlowIndex> index_;
  std::unique_ptr<Host> host_;
  std::vector<std::shared_ptr<void>> owned_;
  bool started_ = false;
  std::atomic<uint32_t> connections_{0}, time_wait_{0};
};

// Registers TCP with the workers to be built from `s`: each gets a TcpStage for protocol 6.
void add_tcp_feature(pipeline::Shared& s, TcpShared& tcp);

// One line about `c`, as `show connections` prints it.
std::string describe(const Connection& c);

}  // namespace redline::tcp
