#include "drivers/rss_plan.hpp"

#include <algorithm>
#include <cstdio>

namespace redline::drivers {

namespace {
std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// The checks that do not depend on the other ports.
std::string basic_refusal(const RssCaps& caps, uint16_t queues) {
  if (queues < 2) return "one queue: nothing to spread";
  if ((caps.flow_type_rss_offloads & kWantedRss) == 0) return "the device hashes no IPv4 packet type";
  if (caps.hash_key_size < kMinKeyLen)
    return "hash key of " + std::to_string(caps.hash_key_size) + " bytes, " + std::to_string(kMinKeyLen) +
           " needed";
  if (caps.reta_size == 0) return "no redirection table: the device's spread is unknown";
  return {};
}
}  // namespace

std::string rss_refusal(const RssCaps& caps, uint16_t queues, uint64_t rss_hf, uint32_t mirror_size) {
  if (std::string why = basic_refusal(caps, queues); !why.empty()) return why;
  if (rss_hf == 0) return "no hash type asked";
  if (uint64_t missing = rss_hf & ~caps.flow_type_rss_offloads; missing != 0)
    return "the device cannot hash types " + hex(missing);
  if (!rss::nic_reta_repeats_mirror(caps.reta_size, mirror_size))
    return "RETA of " + std::to_string(caps.reta_size) + " entries is not a multiple of the " +
           std::to_string(mirror_size) + "-entry mirror";
  return {};
}

std::string rss_hf_mismatch(uint64_t asked_rss_hf, uint64_t actual_rss_hf) {
  uint64_t asked = asked_rss_hf & kIpv4RssBits, actual = actual_rss_hf & kIpv4RssBits;
  if (asked == actual) return {};
  return "the device reports hash types " + hex(actual) + ", not the " + hex(asked) + " asked";
}

RssPlan plan_rss(const std::vector<RssCaps>& ports, uint16_t queues) {
  RssPlan plan;
  plan.software.resize(ports.size());
  plan.rss_hf.resize(ports.size());
  // 1. Ports able to spread at all, and the port fields all of them can hash.
  bool tcp_ports = true, udp_ports = true, any = false;
  for (size_t i = 0; i < ports.size(); ++i) {
    plan.software[i] = basic_refusal(ports[i], queues);
    if (!plan.software[i].empty()) continue;
    tcp_ports &= (ports[i].flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP) != 0;
    udp_ports &= (ports[i].flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_UDP) != 0;
    any = true;
  }
  // 2. Each port's hash types: what it offers of what we want, less port hashing not common to
  // all. Ports refused above keep theirs too: with several queues they still spread the receive
  // work, untrusted.
  const uint64_t allowed = kWantedRss & ~(tcp_ports ? 0 : RTE_ETH_RSS_NONFRAG_IPV4_TCP) &
                           ~(udp_ports ? 0 : RTE_ETH_RSS_NONFRAG_IPV4_UDP);
  for (size_t i = 0; i < ports.size(); ++i) {
    plan.rss_hf[i] = ports[i].flow_type_rss_offloads & allowed;
    if (plan.software[i].empty() && plan.rss_hf[i] == 0)
      plan.software[i] = "hashes only port fields that other RSS ports cannot hash";
  }
  // 3. The mirror: the smallest RETA; ports whose RETA does not repeat it are left out.
  uint32_t smallest = 0;
  for (size_t i = 0; i < ports.size(); ++i)
    if (plan.software[i].empty())
      smallest = smallest == 0 ? ports[i].reta_size : std::min<uint32_t>(smallest, ports[i].reta_size);
  if (!any || smallest == 0) return plan;  // no port spreads: default mirror, default fields
  plan.reta_size = smallest;
  plan.fields = rss::HashFields{tcp_ports, udp_ports};
  for (size_t i = 0; i < ports.size(); ++i)
    if (plan.software[i].empty()) plan.software[i] = rss_refusal(ports[i], queues, plan.rss_hf[i], smallest);
  return plan;
}

}  // namespace redline::drivers
