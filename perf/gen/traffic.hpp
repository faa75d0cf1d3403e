// What redline-gen sends: prebuilt frames, one per flow, stamped with a sequence number and a
// TSC timestamp in the payload so the receiving side can measure loss and latency.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stack/net/types.hpp"

namespace redline::gen {

enum class Protocol { kUdp, kTcp, kIcmpEcho };

struct TrafficSpec {
  Protocol protocol = Protocol::kUdp;
  uint32_t frame_size = 64;  // on the wire, FCS included (64 -> 60 bytes handed to the NIC)
  uint32_t flows = 1024;
  net::MacAddr src_mac;
  net::MacAddr dst_mac;
  net::Ipv4Addr src_ip;
  net::Ipv4Addr dst_ip;
  uint16_t dst_port = 9;
  // Flows differ in source port, `flows_per_ip` per source address, then in the address. A NAT
  // pool pairs each inside address with one outside address (RFC 4787 REQ-2): fewer ports per
  // address spread a million flows over enough addresses for the pool's port space.
  uint32_t flows_per_ip = 60000;
};

// Stamp carried after the L4 header: TSC at send, magic, sequence.
constexpr uint32_t kStampMagic = 0x524c4731;  // "RLG1"
constexpr size_t kStampLen = 16;

class FlowTemplates {
 public:
  // Fails (returns nullopt, sets error) if the frame is too small to carry a stamp.
  static std::optional<FlowTemplates> build(const TrafficSpec& spec, std::string* error);

  const std::vector<uint8_t>& frame(uint32_t flow) const { return frames_[flow]; }
  uint32_t flows() const { return uint32_t(frames_.size()); }
  size_t frame_len() const { return frame_len_; }
  size_t stamp_offset() const { return stamp_offset_; }
  // Gives flow `flow` a new source port (a new connection to the device under test).
  void renew(uint32_t flow, uint16_t src_port);
  // Writes source address and port number `n` (of 250 addresses, varying fastest, x 60000
  // ports from the spec's source address) into a frame built from these templates: every packet a flow not seen
  // for 15 M packets (--unique-flows). Leaves checksums alone (UDP checksums are zero).
  void write_unique_source(uint8_t* frame, uint64_t n) const;

 private:
  std::vector<std::vector<uint8_t>> frames_;
  size_t frame_len_ = 0;
  size_t stamp_offset_ = 0;
  size_t l4_offset_ = 0;
  Protocol protocol_ = Protocol::kUdp;
};

// Where a received frame's stamp would be, given its protocol; nullopt if it carries none.
std::optional<size_t> stamp_offset_of(const uint8_t* frame, size_t len);

}  // namespace redline::gen
