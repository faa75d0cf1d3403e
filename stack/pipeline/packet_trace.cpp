#include "stack/pipeline/packet_trace.hpp"

#include <rte_mbuf.h>

#include <cstdio>
#include <cstring>

#include "stack/net/counters.hpp"
#include "stack/pipeline/shared.hpp"
#include "stack/wire/bytes.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/ipv4.hpp"

namespace redline::pipeline {

bool Tracer::begin(Burst& b) {
  carried_ = false;
  bool any = false;
  const int32_t port = control_.port.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < b.n; ++i) {
    slot_record_[i] = -1;
    const bool carried = b.meta[i].flags & kFlagTraced;  // traced by the core that handed it here
    if (!carried) {
      if ((b.meta[i].flags & kFlagOriginated) || (port >= 0 && b.meta[i].in_port != port)) continue;
      // Take one from the budget, unless another worker took the last.
      int64_t left = control_.remaining.load(std::memory_order_relaxed);
      while (left > 0 && !control_.remaining.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
      }
      if (left <= 0) continue;
    }
    TraceRecord r;
    r.number = ++numbered_;
    r.in_port = b.meta[i].in_port;
    r.verdict = "in flight";
    if (carried) r.steps.push_back({"(handoff)", "handed over by another worker, which traced it so far"});
    if (records_.size() < kMaxRecords) {
      slot_record_[i] = int32_t(records_.size());
      records_.push_back(std::move(r));
    } else {
      slot_record_[i] = int32_t(next_);
      records_[next_] = std::move(r);
      next_ = (next_ + 1) % kMaxRecords;
    }
    any = true;
  }
  for (uint32_t i = b.n; i < kBurstSlots; ++i) slot_record_[i] = -1;
  return any;
}

void Tracer::enter(const Burst& b, uint8_t slot, const char* stage) {
  TraceRecord& r = records_[size_t(slot_record_[slot])];
  std::string headers = describe_headers(b.pkts[slot]);
  if (std::string_view(stage).starts_with("output")) {  // where routing sent it
    char routed[64];
    std::snprintf(routed, sizeof routed, " (out port %u, next hop %s)", b.meta[slot].out_port,
                  b.meta[slot].next_hop.to_string().c_str());
    headers += routed;
  }
  r.steps.push_back({stage, std::move(headers)});
}

void Tracer::leave(Burst& b, uint8_t slot) {
  TraceRecord& r = records_[size_t(slot_record_[slot])];
  const NextId next = b.next[slot];
  if (next == kNextDone) {
    r.verdict = "done";
    slot_record_[slot] = -1;
  } else if (next == kNextDrop) {
    r.verdict = "drop: " + std::string(net::kCounterNames[size_t(b.meta[slot].drop)]);
    slot_record_[slot] = -1;
  } else if (next == kNextHandoff) {
    r.verdict = "handoff to worker " + std::to_string(b.meta[slot].owner) + " (traced on there)";
    b.meta[slot].in_port |= kInPortTraced;  // carried to the owner in the mbuf (handoff stage)
    slot_record_[slot] = -1;
  }
}

void Tracer::end() {
  for (int32_t& s : slot_record_) s = -1;
}

namespace {
std::string mac_at(const uint8_t* p) {
  net::MacAddr m;
  std::memcpy(m.bytes.data(), p, m.bytes.size());
  return m.to_string();
}
}  // namespace

std::string describe_headers(const rte_mbuf* m) {
  const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len < wire::eth::kHeaderLen) return "(shorter than an Ethernet header)";
  char out[200];
  int n = std::snprintf(out, sizeof out, "%s > %s", mac_at(f + 6).c_str(), mac_at(f).c_str());
  const uint16_t type = wire::load16(f, 12);
  if (type != wire::eth::kTypeIpv4 || len < wire::eth::kHeaderLen + wire::ipv4::kMinHeaderLen) {
    std::snprintf(out + n, sizeof out - size_t(n), " type 0x%04x len %u", type, rte_pktmbuf_pkt_len(m));
    return out;
  }
  const uint8_t* ip = f + wire::eth::kHeaderLen;
  const uint8_t protocol = ip[wire::ipv4::kProtocol];
  n += std::snprintf(out + n, sizeof out - size_t(n), " %s > %s", wire::ipv4::src(ip).to_string().c_str(),
                     wire::ipv4::dst(ip).to_string().c_str());
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  const bool first = (wire::load16(ip, wire::ipv4::kFlagsFragment) & wire::ipv4::kFragmentOffsetMask) == 0;
  if ((protocol == wire::ipv4::kProtoTcp || protocol == wire::ipv4::kProtoUdp) && first &&
      len >= wire::eth::kHeaderLen + ihl + 4)
    n += std::snprintf(out + n, sizeof out - size_t(n), " %s %u > %u", protocol == wire::ipv4::kProtoTcp ? "tcp" : "udp",
                       wire::load16(ip + ihl, 0), wire::load16(ip + ihl, 2));
  else if (protocol == wire::ipv4::kProtoIcmp && first && len >= wire::eth::kHeaderLen + ihl + 8)
    n += std::snprintf(out + n, sizeof out - size_t(n), " icmp type %u id %u", ip[ihl], wire::load16(ip + ihl, 4));
  else
    n += std::snprintf(out + n, sizeof out - size_t(n), " proto %u", protocol);
  std::snprintf(out + n, sizeof out - size_t(n), " ttl %u len %u", ip[wire::ipv4::kTtl], wire::load16(ip, wire::ipv4::kTotalLength));
  return out;
}

}  // namespace redline::pipeline
