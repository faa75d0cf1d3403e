// The NAT stage's cold half: what to do with a packet no session knows (RFC 4787, RFC 5382,
// RFC 5508), making and ending sessions and mappings, ICMP errors, fragments, TCP tracking.
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <stdexcept>

#include "stack/nat/icmp_error.hpp"
#include "stack/nat/mss_clamp.hpp"
#include "stack/nat/nat_stage.hpp"
#include "stack/pipeline/log.hpp"
#include "stack/pipeline/ownership.hpp"
#include "stack/pipeline/worker.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"

namespace redline::nat {

static_assert(session::SessionOwner<NatStage, Session>, "the NAT is what its session engine asks of an owner");

using net::Counter;
using pipeline::kFlagFromRing;

namespace {
uint16_t be16(uint16_t host) { return net::to_be(host); }
uint32_t be32(net::Ipv4Addr a) { return net::to_be(a.value); }
// How often reassembly drops datagrams whose fragments timed out.
constexpr uint64_t kReassemblyExpiryNs = 100'000'000;
}  // namespace

NatStage::NatStage(pipeline::Worker& w, NatShared& nat) : WorkerStage(w), nat_(nat), workers_(w.shared().workers) {
  const NatRules& r = *nat.rules.load(std::memory_order_acquire);
  pipeline::Shared& s = w.shared();
  const uint32_t capacity = r.config().max_sessions;
  static std::atomic<uint32_t> serial{0};
  const std::string tag = std::to_string(w.id()) + "_" + std::to_string(serial.fetch_add(1));
  std::string error;
  const int socket = int(rte_socket_id());
  for (size_t p = 0; p < s.ports.size(); ++p)
    if (r.outside(uint16_t(p))) smallest_outside_mtu_ = std::min(smallest_outside_mtu_, s.ports[p].mtu);
  try {
    sessions_ = std::make_unique<Sessions>("nat_s" + tag, capacity, socket, w.timers(), w.counter_set(), *this,
                                           session::Counters{Counter::nat_sessions_created, Counter::nat_sessions_expired,
                                                             Counter::nat_sessions_flushed});
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("nat: ") + e.what());
  }
  // Other workers read the mapping table (holds_mapping), so its slots wait for a grace period
  // when there are other workers. What it takes, with the session engine's tables and the
  // mapping pool: `show nat` and the benchmarks' memory per session.
  rte_malloc_socket_stats before{}, after{};
  rte_malloc_get_socket_stats(socket, &before);
  mappings_ = pipeline::FlowTable::create("nat_m" + tag, capacity, socket, workers_ > 1 ? s.qsbr : nullptr, &error);
  if (!mappings_) throw std::runtime_error("nat: " + error);
  rte_malloc_get_socket_stats(socket, &after);
  memory_bytes_ = sessions_->memory_bytes() + (after.heap_allocsz_bytes - before.heap_allocsz_bytes) +
                  uint64_t(capacity) * sizeof(Mapping);
  mapping_pool_.resize(capacity);
  for (uint32_t i = capacity; i-- > 0;) {
    mapping_pool_[i].next_free = free_mapping_;
    free_mapping_ = i;
  }
  reassembly_ = pipeline::Reassembly::create(s.settings.reassembly_datagrams,
                                             s.tsc_hz / 1000 * s.settings.reassembly_timeout_ms, socket, &error);
  if (!reassembly_) throw std::runtime_error("nat: " + error);
  reassembly_period_ticks_ = std::max<uint64_t>(1, w.ns_to_ticks(kReassemblyExpiryNs));
  reassembly_timer_.set_callback(&NatStage::on_reassembly_timer, this);
  w.timers().schedule(reassembly_timer_, w.timers().now() + reassembly_period_ticks_);
  log::write(log::Level::kInfo, "nat: worker %u: tables for %u sessions take %.1f MiB (%lu bytes per session)", w.id(),
             capacity, double(memory_bytes_) / (1 << 20), (unsigned long)(memory_bytes_ / capacity));
  limits_ = r.config().limits;
  if (w.id() < nat.logs.size()) log_ = nat.logs[w.id()].get();
  if (nat.stages.size() < workers_) nat.stages.resize(workers_, nullptr);
  nat.stages[w.id()] = this;
}

NatStage::~NatStage() {
  if (nat_.stages.size() > w_.id() && nat_.stages[w_.id()] == this) nat_.stages[w_.id()] = nullptr;
  if (reassembly_timer_.pending()) w_.timers().cancel(reassembly_timer_);
}

NatStage::Shares& NatStage::shares_of(uint32_t ip_be) {
  for (Shares& sh : shares_)
    if (sh.ip_be == ip_be) return sh;
  // The ranges are fixed at start (a reload that changes them is refused), so the rules in
  // force give them.
  const NatConfig& c = nat_.rules.load(std::memory_order_acquire)->config();
  Shares& sh = shares_.emplace_back();
  sh.ip_be = ip_be;
  endpoint::LocalPorts& ports = w_.local_ports();
  // ICMP identifiers are not ports, but are handed out and steered the same way (RFC 5508 §3.1).
  sh.of = {&ports.share(ip_be, wire::ipv4::kProtoTcp, endpoint::Family::kNat, c.tcp_ports),
           &ports.share(ip_be, wire::ipv4::kProtoUdp, endpoint::Family::kNat, c.udp_ports),
           &ports.share(ip_be, wire::ipv4::kProtoIcmp, endpoint::Family::kNat, c.icmp_ids)};
  // Ports forwarded by DNAT rules are never given to a mapping (in whichever share holds them).
  for (const DnatRule& d : c.dnat)
    if (be32(d.external) == ip_be) reserve(sh, protocol_slot(d.protocol), d.external_port);
  return sh;
}

bool NatStage::reserve(Shares& sh, size_t slot, uint16_t port) {
  PortShare& ps = *sh.of[slot];
  if (!ps.contains(port)) return true;  // another worker's block (or outside the range): not ours to hold
  if (ps.mapping(port) == PortShare::kReserved) return true;
  if (!ps.take(port, PortShare::kReserved)) return false;
  sh.reserved[slot].push_back(port);
  return true;
}

void NatStage::resync_dnat(const NatRules& r) {
  rules_seen_ = &r;
  const NatConfig& c = r.config();
  for (Shares& sh : shares_) {
    for (size_t slot = 0; slot < 3; ++slot) {
      auto& held = sh.reserved[slot];
      std::erase_if(held, [&](uint16_t port) {
        for (const DnatRule& d : c.dnat)
          if (be32(d.external) == sh.ip_be && protocol_slot(d.protocol) == slot && d.external_port == port) return false;
        sh.of[slot]->release(port);  // no rule forwards it any more
        return true;
      });
    }
    for (const DnatRule& d : c.dnat)
      if (be32(d.external) == sh.ip_be && !reserve(sh, protocol_slot(d.protocol), d.external_port))
        REDLINE_LOG_LIMITED(log::Level::kWarning, 1,
                            "nat: worker %u: DNAT port %u (added by reload) is held by a dynamic mapping; it is "
                            "reserved for the rule when that mapping ends",
                            unsigned(w_.id()), unsigned(d.external_port));
  }
}

void NatStage::hand_to(Burst& b, uint8_t slot, uint32_t worker) {
  w_.count(Counter::nat_steered);
  b.meta[slot].owner = uint8_t(worker);
  b.to(slot, pipeline::kNextHandoff);
}

// Where an outbound packet of the inside would be routed: the outside port it leaves by, or -1
// when it stays inside or is for us (then it is not translated).
static int outside_port_for(const pipeline::Shared& s, const NatRules& r, uint32_t dst_be) {
  const uint32_t hop = s.routes->lookup(net::Ipv4Addr{net::to_be(dst_be)});
  if (hop == ip::RouteTable::kNoRoute) return -1;
  const ip::NextHop& h = s.routes->hop(hop);
  if (h.kind != ip::NextHop::Kind::kForward || !r.outside(h.port)) return -1;
  return h.port;
}

void NatStage::miss(Burst& b, uint8_t slot, const FiveTuple& key) {
  // An earlier packet of this burst may have made the session since the bulk lookup (a new
  // flow's first packets arrive together: traceroute's probes, a TCP SYN and its data).
  if (const auto hit = sessions_->find_made_since_bulk(key)) return translate(b, slot, *hit.entry, hit.dir);
  const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
  const pipeline::PacketMeta& pm = b.meta[slot];
  // From inside, and not a hairpinned packet on its second round (its source is already one of
  // our external addresses: translating it again would loop).
  if (r.inside(pm.in_port) && r.external_index(key.src_ip) < 0) {
    // A reply of a DNAT session: the session lives where its outside tuple hashes (nat_stage.hpp).
    // With no session there, it is a new flow of that endpoint, mapped here: never handed to a
    // worker holding a mapping for it, whose own DNAT check would hand it back.
    bool dnat_endpoint = false;
    if (const DnatRule* d = r.dnat_from(key.protocol, key.src_ip, key.src_port)) {
      const FiveTuple outside{be32(d->external), key.dst_ip, be16(d->external_port), key.dst_port, key.protocol, {0, 0, 0}};
      const uint32_t owner = owner_of_tuple(w_.shared(), outside);
      if (owner != w_.id()) return hand_to(b, slot, owner);
      dnat_endpoint = true;
    }
    if (const SnatRule* rule = r.snat_for(key.src_ip)) {
      const int target = r.external_index(key.dst_ip);
      if (target >= 0) {
        // To one of our external addresses from inside: a hairpin (RFC 4787 §6) for TCP and UDP;
        // an echo request is for redline itself.
        if (!r.config().hairpinning || key.protocol == wire::ipv4::kProtoIcmp) return b.to(slot, proceed);
        return outbound(b, slot, key, *rule, r.externals()[size_t(target)], dnat_endpoint);
      }
      const int out = outside_port_for(w_.shared(), r, key.dst_ip);
      if (out < 0) return b.to(slot, proceed);
      const int external = r.external_for(*rule, key.src_ip, uint16_t(out));
      if (external < 0) return b.to(slot, proceed);
      return outbound(b, slot, key, *rule, r.externals()[size_t(external)], dnat_endpoint);
    }
  }
  const int external = r.external_index(key.dst_ip);
  if (external >= 0) return inbound(b, slot, key, r.externals()[size_t(external)]);
  b.to(slot, proceed);
}

void NatStage::warm_mappings(const Burst& b, const uint8_t* slots, const FiveTuple* keys, uint32_t n, uint64_t hits) {
  const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
  FiveTuple mkeys[pipeline::FlowTable::kBulkMax];
  void* data[pipeline::FlowTable::kBulkMax];
  uint32_t count = 0;
  for (uint32_t j = 0; j < n; ++j) {
    if (hits >> j & 1) continue;
    const FiveTuple& key = keys[j];
    if (!r.inside(b.meta[slots[j]].in_port) || r.external_index(key.src_ip) >= 0) continue;
    const SnatRule* rule = r.snat_for(key.src_ip);
    if (!rule) continue;
    const int out = outside_port_for(w_.shared(), r, key.dst_ip);
    const int external = out < 0 ? -1 : r.external_for(*rule, key.src_ip, uint16_t(out));
    if (external < 0) continue;
    mkeys[count++] = {key.src_ip, r.externals()[size_t(external)], key.src_port, 0, key.protocol, {0, 0, 0}};
  }
  if (count > 1) mappings_->find_bulk(mkeys, count, data);
}

void NatStage::outbound(Burst& b, uint8_t slot, const FiveTuple& key, const SnatRule& rule, uint32_t external_ip,
                        bool stay) {
  const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
  // With per-host limits, every flow of an inside host is made on its home worker.
  if (limits_.on() && !stay) {
    const uint32_t home = home_of(key.src_ip);
    if (home != w_.id()) return hand_to(b, slot, home);
  }
  // RFC 4787 REQ-1, RFC 5382 REQ-1, RFC 5508 REQ-2: one mapping per inside endpoint and external
  // address, whatever the remote. Ours, another worker's (its sessions live there: hand the
  // packet over, unless `stay`), or new.
  const FiveTuple mkey{key.src_ip, external_ip, key.src_port, 0, key.protocol, {0, 0, 0}};
  uint32_t mi = kNoIndex;
  if (void* d = mappings_->find(mkey)) {
    mi = uint32_t(uintptr_t(d) - 1);
  } else if (!stay) {
    for (uint32_t k = 0; k < nat_.stages.size(); ++k)
      if (k != w_.id() && nat_.stages[k] && nat_.stages[k]->holds_mapping(mkey)) return hand_to(b, slot, k);
  }
  bool made = false;
  if (mi == kNoIndex) {
    // The replies will come from the remote to the external address and the port being chosen.
    const FiveTuple reply{key.dst_ip, external_ip, key.dst_port, 0, key.protocol, {0, 0, 0}};
    Counter why = Counter::nat_refused_table_full;
    mi = create_mapping(mkey, external_ip, reply, &why);
    if (mi == kNoIndex) {
      REDLINE_LOG_LIMITED(log::Level::kWarning, 1, "nat: new %s session refused: %s",
                          key.protocol == 6 ? "TCP" : key.protocol == 17 ? "UDP" : "ICMP",
                          why == Counter::nat_refused_no_port          ? "no free outside port in this worker's share"
                          : why == Counter::nat_refused_host_ports     ? "its inside host holds nat.limits.ports_per_host"
                                                                       : "mapping table full");
      return b.drop(slot, why);
    }
    made = true;
  }
  const Mapping& mp = mapping_pool_[mi];
  FiveTuple translated{mp.external_ip, key.dst_ip, mp.external_port, key.dst_port, key.protocol, {0, 0, 0}};
  if (key.protocol == wire::ipv4::kProtoIcmp) translated.dst_port = mp.external_port;
  uint8_t flags = kInitiatorInside;
  if (r.external_index(key.dst_ip) >= 0) flags |= kHairpin0;
  // At most one per packet of the burst; should a path ever add more, make what waits first
  // rather than write past the array.
  if (pending_.full()) [[unlikely]] create_pending(b);
  pending_.push({key, reversed(translated), mi, rule.mss_clamp, slot, flags, made});
}

void NatStage::create_pending(Burst& b) {
  // A hit among the answers is a tuple taken since the mapping's port was chosen (a DNAT
  // session on the same outside tuple): refused, never overwritten.
  pending_.make_all(
      *sessions_,
      [&](const PendingSession& p, bool taken) {
        Session* s = create_session(b, p.slot, p.key, reversed(p.answer), p.mapping, p.flags, p.mss_clamp, taken);
        if (s) translate(b, p.slot, *s, 0);
        return s;
      },
      [&](const PendingSession& p, Session* made) {
        if (made) translate(b, p.slot, *made, 0);
        else b.drop(p.slot, Counter::nat_refused_table_full);
      });
  // A mapping made for sessions that were all refused goes back (after the loop: another flow of
  // the same inside endpoint in this burst may have used it).
  for (uint32_t i = 0; i < pending_.size(); ++i)
    if (pending_[i].made_mapping && mapping_pool_[pending_[i].mapping].sessions == 0) release_mapping(pending_[i].mapping);
  pending_.clear();
}

void NatStage::inbound(Burst& b, uint8_t slot, const FiveTuple& key, uint32_t external_ip) {
  const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
  if (key.protocol == wire::ipv4::kProtoIcmp) {
    // Only echo replies answer a mapping; an echo request to our address is for redline.
    const uint8_t* l4 = rte_pktmbuf_mtod_offset(b.pkts[slot], const uint8_t*, b.meta[slot].l4_offset);
    if (l4[0] != wire::icmp::kEchoReply) return b.to(slot, proceed);
  }
  const bool hairpin = r.external_index(key.src_ip) >= 0;
  if (const DnatRule* d = r.dnat_to(key.protocol, key.dst_ip, key.dst_port)) {
    const uint32_t owner = owner_of_tuple(w_.shared(), key);
    if (owner != w_.id()) return hand_to(b, slot, owner);
    const FiveTuple translated{key.src_ip, be32(d->internal), key.src_port, be16(d->internal_port), key.protocol, {0, 0, 0}};
    Session* s = create_session(b, slot, key, translated, kNoIndex, hairpin ? kHairpin1 : 0, d->mss_clamp);
    if (s) translate(b, slot, *s, 0);
    return;
  }
  const PortRange& range = r.range(key.protocol);
  const uint16_t port = net::to_be(key.dst_port);
  if (!range.contains(port)) return b.to(slot, proceed);  // not the NAT's: redline's own
  const uint32_t owner = PortShare::owner_of(range, workers_, port);
  if (owner != w_.id()) return hand_to(b, slot, owner);
  const uint32_t mi = share(external_ip, key.protocol).mapping(port);
  if (mi == PortShare::kNone || mi == PortShare::kReserved) return b.drop(slot, Counter::nat_no_mapping);
  const Mapping& mp = mapping_pool_[mi];
  // RFC 4787 §5, REQ-8: address-dependent filtering lets in only remotes the inside endpoint
  // has sent to. Our own hosts, hairpinning through the NAT, are let in either way.
  if (!hairpin && r.config().filtering == Filtering::kAddressDependent) {
    bool known = false;
    for (uint32_t si = mp.first_session; si != kNoIndex && !known; si = sessions_->at(si).next_in_mapping)
      known = sessions_->at(si).remote_ip() == key.src_ip;
    if (!known) return b.drop(slot, Counter::nat_filtered);
  }
  FiveTuple translated{key.src_ip, mp.key.src_ip, key.src_port, mp.key.src_port, key.protocol, {0, 0, 0}};
  if (key.protocol == wire::ipv4::kProtoIcmp) translated.src_port = mp.key.src_port;
  Session* s = create_session(b, slot, key, translated, mi, hairpin ? kHairpin1 : 0, 0);
  if (s) translate(b, slot, *s, 0);
}

uint32_t NatStage::create_mapping(const FiveTuple& mkey, uint32_t external_ip, const FiveTuple& reply, Counter* why) {
  if (free_mapping_ == kNoIndex) return kNoIndex;
  const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
  const uint32_t mi = free_mapping_;
  Shares& shares = shares_of(external_ip);
  PortShare& sh = *shares.of[protocol_slot(mkey.protocol)];
  uint32_t host = kNoIndex, block = kNoIndex;
  if (limits_.on()) {
    host = host_of(mkey.src_ip);
    if (host == kNoIndex) return kNoIndex;
  }
  const uint16_t wanted_port = net::to_be(mkey.src_port);
  uint16_t port = 0;
  if (limits_.block_size) {
    port = block_port(host, shares, mkey.protocol, reply, mi, &block, why);
  } else if (host != kNoIndex && limits_.ports && hosts_[host].ports >= limits_.ports) {
    *why = Counter::nat_refused_host_ports;  // RFC 6888 REQ-3
  } else if (r.config().port_preservation && r.range(mkey.protocol).contains(wanted_port) && sh.take(wanted_port, mi)) {
    // Port preservation where the port is free (RFC 4787 §4.2.1 allows it; users expect it) and
    // in this worker's share.
    port = wanted_port;
  } else {
    // Otherwise a port whose replies reach this worker, or any free port if none steers: its
    // replies reach the worker whose block holds it (owner_of), which hands them here.
    const endpoint::Picked p = w_.local_ports().pick(sh, mi, reply, endpoint::Fallback::kAnyFree, [](uint16_t) { return true; });
    port = p.port;
    if (!port) *why = Counter::nat_refused_no_port;
  }
  if (!port) {
    if (host != kNoIndex) forget_if_idle(host);
    return kNoIndex;
  }
  Mapping& mp = mapping_pool_[mi];
  if (!mappings_->add(mkey, reinterpret_cast<void*>(uintptr_t(mi) + 1))) {
    sh.release(port);
    if (block != kNoIndex && --blocks_[block].used == 0) free_block(block);
    if (host != kNoIndex) forget_if_idle(host);
    return kNoIndex;
  }
  free_mapping_ = mp.next_free;
  mp.key = mkey;
  mp.external_ip = external_ip;
  mp.external_port = be16(port);
  mp.first_session = kNoIndex;
  mp.sessions = 0;
  mp.next_free = kNoIndex;
  mp.host = host;
  mp.block = block;
  if (host != kNoIndex) {
    ++hosts_[host].mappings;
    if (block == kNoIndex) ++hosts_[host].ports;
  }
  if (block == kNoIndex) log_event(LogEvent::kPortAllocated, mkey.protocol, mkey.src_ip, mkey.src_port, external_ip, port, port);
  mappings_in_use_.store(mappings_in_use_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return mi;
}

void NatStage::release_mapping(uint32_t mi) {
  Mapping& mp = mapping_pool_[mi];
  const uint16_t port = net::to_be(mp.external_port);
  share(mp.external_ip, mp.key.protocol).release(port);
  // A DNAT rule added by reload while this mapping held its port takes the port now.
  if (nat_.rules.load(std::memory_order_acquire)->dnat_to(mp.key.protocol, mp.external_ip, mp.external_port))
    for (Shares& sh : shares_)
      if (sh.ip_be == mp.external_ip) reserve(sh, protocol_slot(mp.key.protocol), port);
  mappings_->remove(mp.key);
  release_host_port(mp);
  mp.next_free = free_mapping_;
  free_mapping_ = mi;
  mappings_in_use_.store(mappings_in_use_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

void NatStage::refuse_session(Burst& b, uint8_t slot, const char* why, Counter counter) {
  REDLINE_LOG_LIMITED(log::Level::kWarning, 1, "nat: new session refused: %s", why);
  b.drop(slot, counter);
}

Session* NatStage::create_session(Burst& b, uint8_t slot, const FiveTuple& key, const FiveTuple& translated, uint32_t mi,
                                  uint8_t flags, uint16_t mss_clamp, bool answer_taken) {
  const FiveTuple answer = reversed(translated);
  // The answer's tuple can belong to another session only for a static (DNAT) one: a mapping's
  // port is its own (no other mapping and no DNAT rule has it), and a second session of one
  // mapping with the same answer would be this flow itself, found by the lookup. So only DNAT
  // sessions pay the lookup (a cache miss on each of two buckets). Refused either way, the
  // existing sessions untouched (two rules meeting on one outside tuple).
  if (answer_taken || (mi == kNoIndex && sessions_->find(answer))) {
    refuse_session(b, slot, "its reply tuple is taken");
    return nullptr;
  }
  if (sessions_->full()) {
    refuse_session(b, slot, "session table full (nat.max_sessions)");
    return nullptr;
  }
  // RFC 6888 REQ-4: sessions per inside host (DNAT sessions, forwarded by the operator's rules,
  // are not the host's to limit).
  const uint32_t host = mi == kNoIndex ? kNoIndex : mapping_pool_[mi].host;
  if (host != kNoIndex && limits_.sessions && hosts_[host].sessions >= limits_.sessions) {
    refuse_session(b, slot, "its inside host holds nat.limits.sessions_per_host", Counter::nat_refused_host_sessions);
    return nullptr;
  }
  const rte_mbuf* m = b.pkts[slot];
  const uint16_t l4_offset = b.meta[slot].l4_offset;
  Session* made = sessions_->insert(key, answer, w_.now_tick(), [&](Session& s) {
    s.rewrite[0] = make_rewrite(key, translated);
    s.rewrite[1] = make_rewrite(answer, reversed(key));
    s.stamp.flags = uint8_t(flags | (mss_clamp ? kMssClamp : 0));
    s.mss_clamp = mss_clamp;
    s.tcp = TcpTracking{};
    if (key.protocol == wire::ipv4::kProtoTcp) {
      // A session picked up mid-connection (after a restart, or a route change) counts as
      // established: RFC 5382 does not require the NAT to have seen the SYN.
      const uint8_t* l4 = rte_pktmbuf_mtod_offset(m, const uint8_t*, l4_offset);
      if ((l4[13] & (kTcpSyn | kTcpAck)) != kTcpSyn) s.tcp.state = TcpState::kEstablished;
    }
    s.mapping = mi;
    s.prev_in_mapping = kNoIndex;
    s.next_in_mapping = kNoIndex;
    if (mi != kNoIndex) {
      Mapping& mp = mapping_pool_[mi];
      const uint32_t si = sessions_->index_of(s);
      s.next_in_mapping = mp.first_session;
      if (mp.first_session != kNoIndex) sessions_->at(mp.first_session).prev_in_mapping = si;
      mp.first_session = si;
      ++mp.sessions;
      if (host != kNoIndex) ++hosts_[host].sessions;
    }
  });
  if (!made) refuse_session(b, slot, "its keys' buckets are full");
  return made;
}

void NatStage::on_release(Session& s) {
  if (s.mapping == kNoIndex) return;
  Mapping& mp = mapping_pool_[s.mapping];
  if (s.prev_in_mapping != kNoIndex) sessions_->at(s.prev_in_mapping).next_in_mapping = s.next_in_mapping;
  else mp.first_session = s.next_in_mapping;
  if (s.next_in_mapping != kNoIndex) sessions_->at(s.next_in_mapping).prev_in_mapping = s.prev_in_mapping;
  if (mp.host != kNoIndex) --hosts_[mp.host].sessions;
  if (--mp.sessions == 0) release_mapping(s.mapping);
  s.mapping = kNoIndex;
}

uint64_t NatStage::timeout_ticks(const Session& s) const {
  const Timeouts& t = nat_.rules.load(std::memory_order_acquire)->config().timeouts;
  uint64_t seconds = t.udp_s;
  if (s.protocol() == wire::ipv4::kProtoTcp) seconds = s.tcp.established() ? t.tcp_established_s : t.tcp_transitory_s;
  else if (s.protocol() == wire::ipv4::kProtoIcmp) seconds = t.icmp_s;
  return std::max<uint64_t>(1, w_.ns_to_ticks(seconds * 1'000'000'000ull));
}

// The mappings that end with the batch (their last session), looked up in bulk so their
// deletions find the buckets in cache.
void NatStage::before_release(std::span<Session* const> batch) {
  FiveTuple keys[pipeline::FlowTable::kBulkMax];
  void* data[pipeline::FlowTable::kBulkMax];
  for (const Session* s : batch)
    if (s->mapping != kNoIndex) rte_prefetch0(&mapping_pool_[s->mapping]);
  uint32_t n = 0;
  for (const Session* s : batch) {
    if (s->mapping == kNoIndex || mapping_pool_[s->mapping].sessions != 1) continue;
    keys[n++] = mapping_pool_[s->mapping].key;
    if (n == pipeline::FlowTable::kBulkMax) {
      mappings_->find_bulk(keys, n, data);
      n = 0;
    }
  }
  if (n) mappings_->find_bulk(keys, n, data);
}

void NatStage::on_reassembly_timer(timer::Timer& t, void* ctx) {
  NatStage& self = *static_cast<NatStage*>(ctx);
  if (uint32_t n = self.reassembly_->expire(self.w_.now_tsc())) self.w_.count(Counter::nat_fragment_failed, n);
  self.w_.timers().schedule(t, self.w_.now_tick() + self.reassembly_period_ticks_);
}

void NatStage::track_tcp(Session& s, unsigned dir, Burst& b, uint8_t slot) {
  rte_mbuf* m = b.pkts[slot];
  uint8_t* l4 = rte_pktmbuf_mtod_offset(m, uint8_t*, b.meta[slot].l4_offset);
  const uint8_t flags = l4[13];
  const bool was_established = s.tcp.established();
  s.tcp.on_segment(flags, dir == 0);
  if ((flags & kTcpSyn) && (s.flags() & kMssClamp)) {
    const size_t l4_len = rte_pktmbuf_data_len(m) - b.meta[slot].l4_offset;
    if (clamp_mss(l4, l4_len, s.mss_clamp)) w_.count(Counter::nat_mss_clamped);
  }
  // Leaving the established state shortens the idle timeout: re-arm so it applies now rather
  // than at the old, later expiry (entering it needs nothing: the lazy check extends).
  if (was_established && !s.tcp.established()) sessions_->rearm(s, w_.now_tick());
}

void NatStage::icmp_error(Burst& b, uint8_t slot) {
  rte_mbuf* m = b.pkts[slot];
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, b.meta[slot].l3_offset);
  const size_t total = wire::load16(ip, wire::ipv4::kTotalLength);
  if (rte_pktmbuf_data_len(m) < b.meta[slot].l3_offset + total) return b.to(slot, proceed);  // chained: leave it
  const auto q = parse_icmp_error(ip, total);
  if (!q) return b.to(slot, proceed);
  // RFC 5508 §4.2: the quoted datagram is one the NAT translated, as the far side saw it; the
  // same tuple reversed is what the session's packets carry on that side: one of its keys.
  const FiveTuple key = reversed(q->tuple);
  const auto hit = sessions_->find(key);
  if (!hit) {
    const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
    const int external = r.external_index(key.dst_ip);
    if (external >= 0) {  // from outside, about a datagram we sent from an external address
      uint32_t owner = w_.id();
      if (r.dnat_to(key.protocol, key.dst_ip, key.dst_port)) owner = owner_of_tuple(w_.shared(), key);
      else if (r.range(key.protocol).contains(net::to_be(key.dst_port)))
        owner = PortShare::owner_of(r.range(key.protocol), workers_, net::to_be(key.dst_port));
      if (owner != w_.id()) return hand_to(b, slot, owner);
      if (r.external_index(wire::load_raw32(ip + wire::ipv4::kDst)) >= 0) return b.drop(slot, Counter::nat_no_mapping);
    } else if (r.inside(b.meta[slot].in_port)) {  // from an inside host, about what it received
      if (const DnatRule* d = r.dnat_from(key.protocol, key.src_ip, key.src_port)) {
        const FiveTuple outside{be32(d->external), key.dst_ip, be16(d->external_port), key.dst_port, key.protocol, {0, 0, 0}};
        const uint32_t owner = owner_of_tuple(w_.shared(), outside);
        if (owner != w_.id()) return hand_to(b, slot, owner);
      } else if (const SnatRule* rule = r.snat_for(key.src_ip)) {
        const int out = outside_port_for(w_.shared(), r, key.dst_ip);
        const int external = out < 0 ? -1 : r.external_for(*rule, key.src_ip, uint16_t(out));
        if (external >= 0) {
          const FiveTuple mkey{key.src_ip, r.externals()[size_t(external)], key.src_port, 0, key.protocol, {0, 0, 0}};
          for (uint32_t k = 0; k < nat_.stages.size(); ++k)
            if (k != w_.id() && nat_.stages[k] && nat_.stages[k]->holds_mapping(mkey)) return hand_to(b, slot, k);
        }
      }
    }
    // No session: it must not leave by the outside untranslated.
    return other_protocol(b, slot);
  }
  const Session& s = *hit.entry;
  const FiveTuple quoted_new = reversed(s.rewrite[hit.dir].tuple(s.protocol()));
  const bool from_inside = bool(s.flags() & kInitiatorInside);
  rewrite_icmp_error(ip, total, *q, quoted_new, hit.dir == 0 ? from_inside : !from_inside);
  w_.count(Counter::nat_icmp_errors_translated);
  b.to(slot, proceed);
}

void NatStage::fragment(Burst& b, uint8_t slot) {
  rte_mbuf* m = b.pkts[slot];
  pipeline::PacketMeta& pm = b.meta[slot];
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, pm.l3_offset);
  const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
  const bool crossing = (r.inside(pm.in_port) && r.snat_for(wire::load_raw32(ip + wire::ipv4::kSrc))) ||
                        r.external_index(wire::load_raw32(ip + wire::ipv4::kDst)) >= 0;
  if (!crossing) return b.to(slot, proceed);
  // A later fragment has no ports to look a session up by: the datagram is reassembled and
  // translated whole (bounded in datagrams and time by the [ip] reassembly settings).
  w_.count(Counter::nat_fragments);
  const uint32_t frame_len = pm.l3_offset + wire::load16(ip, wire::ipv4::kTotalLength);
  if (rte_pktmbuf_pkt_len(m) > frame_len) rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_pkt_len(m) - frame_len));
  const auto res = reassembly_->add(m, pm.l3_offset, wire::ipv4::header_len(ip), w_.now_tsc());
  if (res.freed) w_.count(Counter::nat_fragment_failed, res.freed);
  b.to(slot, pipeline::kNextDone);
  if (!res.datagram) return;
  rte_mbuf* d = res.datagram;
  b.pkts[slot] = d;
  // Every rewrite patches headers in the first segment: a tiny first fragment may have left the
  // TCP header's end in the second.
  if (rte_pktmbuf_data_len(d) < pm.l3_offset + 60u + 20u && rte_pktmbuf_data_len(d) < rte_pktmbuf_pkt_len(d) &&
      rte_pktmbuf_linearize(d) != 0)
    return b.drop(slot, Counter::nat_fragment_failed);
  uint8_t* dip = rte_pktmbuf_mtod_offset(d, uint8_t*, pm.l3_offset);
  // rte_ip_frag leaves the header checksum zero; the rewrite patches it incrementally, so it
  // must be right first.
  wire::store16(dip, wire::ipv4::kChecksum, 0);
  wire::store16(dip, wire::ipv4::kChecksum, wire::internet_checksum(dip, wire::ipv4::header_len(dip)));
  pm.l4_offset = uint8_t(pm.l3_offset + wire::ipv4::header_len(dip));
  const uint8_t* l4 = dip + wire::ipv4::header_len(dip);
  FiveTuple key;
  if (!flow_key(dip, l4, uint32_t(rte_pktmbuf_data_len(d) - pm.l4_offset), &key)) return other_protocol(b, slot);
  if (const auto hit = sessions_->find(key)) return translate(b, slot, *hit.entry, hit.dir);
  miss(b, slot, key);
}

void NatStage::other_protocol(Burst& b, uint8_t slot) {
  // Nothing to map it by (another protocol, or a header cut short): it must not leave by the
  // outside with an inside source.
  const NatRules& r = *nat_.rules.load(std::memory_order_acquire);
  const uint8_t* ip = rte_pktmbuf_mtod_offset(b.pkts[slot], const uint8_t*, b.meta[slot].l3_offset);
  if (r.inside(b.meta[slot].in_port) && r.snat_for(wire::load_raw32(ip + wire::ipv4::kSrc)) &&
      (outside_port_for(w_.shared(), r, wire::load_raw32(ip + wire::ipv4::kDst)) >= 0 ||
       r.external_index(wire::load_raw32(ip + wire::ipv4::kDst)) >= 0))
    return b.drop(slot, Counter::nat_unsupported);
  b.to(slot, proceed);
}

}  // namespace redline::nat
