// UDP for redline's own addresses (RFC 768): bound ports per worker, checksum validation and
// generation, datagrams delivered with their source, and what nobody bound sent on to the
// no-listener stage (kernel exception path, else ICMP port unreachable, RFC 1122 §4.1.3.1).
// Fragmented datagrams arrive here whole: the local stage reassembled them (rte_ip_frag,
// bounded by [ip]) and handed them to the worker their ports name.
#pragma once

#include <span>
#include <vector>

#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/tcp/connection.hpp"

namespace redline::udp {

using tcp::Endpoint;

// One received datagram. `data` is its first segment's payload (all of it unless a reassembled
// datagram spans several mbufs: `len` is the whole length; copy_out reads across segments).
struct Datagram {
  Endpoint src, dst;
  std::span<const uint8_t> data;
  uint32_t len = 0;
  const rte_mbuf* m = nullptr;
  uint32_t payload_offset = 0;
  // Copies up to `max` bytes of the payload to `out`; returns the count.
  uint32_t copy_out(void* out, uint32_t max) const;
};

class UdpStage;

class Handler {
 public:
  virtual ~Handler() = default;
  // What the stage does with the datagram's mbuf afterwards.
  enum class Then { kFree, kEcho };
  // kEcho sends the datagram back to its source unchanged, in its own mbuf (no copy, fragments
  // and all: the output stage fragments it again where the MTU needs).
  virtual Then on_datagram(UdpStage& udp, const Datagram& d) = 0;
};

class UdpStage final : public pipeline::WorkerStage {
 public:
  // `no_listener`: where datagrams for unbound ports go.
  UdpStage(pipeline::Worker& w, pipeline::NextId no_listener) : WorkerStage(w), no_listener_(no_listener) {}
  const char* name() const override { return "udp"; }
  void run(pipeline::Burst& b, const uint8_t* idx, uint32_t n) override;

  // Binds `port` on every address of ours; false if bound already or another part of redline
  // holds it (endpoint/local_ports.hpp; counted as port_claim_refused).
  bool bind(uint16_t port, Handler& h);
  void unbind(uint16_t port);
  // Sends one datagram (at most one mbuf's worth: the output stage fragments beyond the MTU).
  // False when there is no route, no mbuf, or it is too large.
  bool send_to(Endpoint dst, uint16_t src_port, const void* data, size_t len);

 private:
  struct Binding {
    uint16_t port;
    Handler* h;
  };
  Handler* find(uint16_t port) const {
    for (const Binding& b : bindings_)
      if (b.port == port) return b.h;
    return nullptr;
  }
  void echo(pipeline::Burst& b, uint8_t slot);
  pipeline::NextId no_listener_;
  std::vector<Binding> bindings_;
  uint16_t ident_ = 0;
};

}  // namespace redline::udp
