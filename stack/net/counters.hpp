// Every counter redline keeps, drops by reason among them, generated from one table so that a
// name, its enum and its printout can never drift apart. Each worker owns one CounterSet and
// is its only writer; the control thread reads them while workers run.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace redline::net {

// X(name, description)
#define REDLINE_COUNTERS(X)                                                                   \
  X(rx_packets, "packets taken from RX queues")                                              \
  X(busy_cycles, "TSC cycles of loop iterations that handled packets (cycles/packet)")       \
  X(tx_packets, "packets the TX queues accepted")                                            \
  X(tx_dropped, "drop: TX queue full")                                                       \
  X(handoff_out, "packets handed to the owning core")                                        \
  X(handoff_in, "packets received from another core")                                        \
  X(handoff_ring_full, "drop: handoff ring to the owning core full")                         \
  X(mbuf_alloc_failed, "drop: no mbuf to build a reply, request or fragment")                \
  X(mbuf_chain_unsupported, "drop: chained mbuf whose headers could not be made contiguous") \
  X(originated_overflow, "drop: more packets originated in one burst than a burst holds")     \
  X(pipeline_loop, "drop: packet still moving between stages after the per-burst limit")    \
  X(eth_too_short, "drop: frame shorter than an Ethernet header")                            \
  X(eth_for_others, "drop: destination MAC neither ours nor broadcast")                      \
  X(eth_unsupported_type, "drop: EtherType other than IPv4 and ARP")                         \
  X(arp_truncated, "drop: ARP shorter than 28 bytes")                                        \
  X(arp_bad_hardware, "drop: ARP hardware type/length not Ethernet/6")                       \
  X(arp_bad_protocol, "drop: ARP protocol type/length not IPv4/4")                           \
  X(arp_bad_operation, "drop: ARP operation neither request nor reply")                      \
  X(arp_for_others, "ARP whose target is not one of our addresses (merged, not answered)")   \
  X(arp_requests_received, "ARP requests for our addresses")                                 \
  X(arp_replies_sent, "ARP replies sent")                                                    \
  X(arp_requests_sent, "ARP requests sent (resolution, refresh, gratuitous)")                \
  X(arp_learned, "neighbor entries created or updated")                                      \
  X(arp_queued, "packets held while their next hop resolves")                                \
  X(arp_queue_full, "drop: resolution queue for a neighbor full")                            \
  X(arp_resolving_full, "drop: too many neighbors resolving at once (arp.max_resolving)")    \
  X(arp_ring_full, "drop: ring to the ARP owner core full")                                  \
  X(arp_unreachable, "drop: next hop recently failed to answer ARP (host unreachable sent)") \
  X(arp_probes_deferred, "ARP refresh probes held back to pace the TX queue")                \
  X(arp_resolve_failed, "drop: next hop did not answer ARP")                                 \
  X(arp_table_full, "drop: neighbor table full")                                             \
  X(ipv4_truncated, "drop: frame shorter than the IPv4 header")                              \
  X(ipv4_bad_version, "drop: IP version not 4")                                              \
  X(ipv4_bad_ihl, "drop: IHL below 5")                                                       \
  X(ipv4_bad_checksum, "drop: IPv4 header checksum wrong")                                   \
  X(ipv4_bad_total_length, "drop: total length below header or beyond frame")                \
  X(ipv4_bad_source, "drop: source address broadcast, multicast, loopback or ours")          \
  X(ipv4_bad_destination, "drop: destination loopback, 0.0.0.0 or class E")                 \
  X(ipv4_local, "datagrams addressed to us")                                                 \
  X(ipv4_forwarded, "datagrams forwarded")                                                   \
  X(ipv4_ttl_expired, "drop: TTL would reach 0 on forward")                                  \
  X(ipv4_no_route, "drop: no route to destination")                                          \
  X(ipv4_not_forwarded, "drop: broadcast or multicast not forwarded (RFC 1812 5.3.5)")       \
  X(ipv4_fragment_local, "fragments addressed to us, taken into reassembly")                 \
  X(ipv4_reassembled, "datagrams reassembled from fragments")                                \
  X(ipv4_reassembly_failed, "drop: fragment refused by reassembly (table full, bad, overlap)") \
  X(ipv4_reassembly_timeout, "fragments dropped when their datagram timed out")             \
  X(ipv4_fragmented, "datagrams fragmented to fit the egress MTU (RFC 1812 5.2.6)")          \
  X(ipv4_fragments_created, "fragments sent for fragmented datagrams")                       \
  X(ipv4_fragmentation_failed, "drop: datagram could not be fragmented (no mbufs)")          \
  X(ipv4_mtu_exceeded, "drop: larger than the egress MTU with DF set (frag. needed sent)")   \
  X(ipv4_unsupported_protocol, "drop: local protocol neither ICMP, UDP nor TCP")            \
  X(icmp_truncated, "drop: ICMP shorter than its header")                                    \
  X(icmp_bad_checksum, "drop: ICMP checksum wrong")                                          \
  X(icmp_echo_replied, "echo requests answered")                                             \
  X(icmp_ignored, "ICMP to us other than echo request (consumed)")                           \
  X(icmp_errors_sent, "ICMP errors sent")                                                    \
  X(icmp_rate_limited, "ICMP errors suppressed by the rate limit")                           \
  X(icmp_error_suppressed, "ICMP errors not sent by rule (RFC 1812 4.3.2.7)")                \
  X(udp_no_listener, "drop: UDP to us (port unreachable sent)")                              \
  X(impair_dropped, "impairment ([ports.impair]): frames lost on purpose")                   \
  X(impair_duplicated, "impairment: frames sent twice")                                        \
  X(impair_reordered, "impairment: frames held back so later ones overtake them")             \
  X(impair_delayed, "impairment: frames delayed")                                               \
  X(impair_corrupted, "impairment: frames with a bit flipped")                                 \
  X(impair_queue_full, "drop: impairment's delay queue full ([ports.impair] queue)")          \
  X(tcp_no_listener, "TCP segments to a port with no listener or connection (RST sent)")      \
  X(tcp_truncated, "drop: TCP segment shorter than its header")                              \
  X(tcp_bad_checksum, "drop: TCP checksum wrong")                                            \
  X(tcp_segs_in, "TCP segments taken by a connection or listener")                           \
  X(tcp_segs_out, "TCP segments sent")                                                       \
  X(tcp_tx_zero_copy, "TCP data segments sent from the buffer holding their payload")       \
  X(tcp_tx_copied, "TCP data segments whose payload was copied into a new mbuf")             \
  X(tcp_retransmits, "TCP segments sent again (timeout, fast retransmit, SACK holes)")       \
  X(tcp_timeouts, "TCP retransmission timer expiries")                                       \
  X(tcp_fast_retransmits, "TCP loss recoveries entered on duplicate ACKs or SACK")           \
  X(tcp_tail_probes, "TCP tail loss probes sent (RFC 8985 7)")                                 \
  X(tcp_rst_sent, "TCP resets sent")                                                         \
  X(tcp_rst_received, "TCP resets accepted")                                                 \
  X(tcp_challenge_acks, "TCP challenge ACKs sent (RFC 5961)")                                \
  X(tcp_challenge_acks_limited, "TCP challenge ACKs not sent: the worker's tcp.challenge_ack_rate spent (RFC 5961 7)") \
  X(tcp_invalid_acks_limited, "TCP ACKs to out-of-window or PAWS-rejected segments not sent (tcp.invalid_ack_interval_ms)") \
  X(tcp_rst_limited, "TCP resets to segments for no connection not sent: tcp.reset_rate spent") \
  X(tcp_out_of_window, "TCP segments outside the receive window (ACK sent, dropped)")        \
  X(tcp_paws_rejected, "TCP segments with an old timestamp (PAWS, RFC 7323 5)")             \
  X(tcp_ooo_queued, "TCP segments held out of order")                                        \
  X(tcp_rx_mem_dropped, "drop: TCP segment refused for want of receive memory (per connection or tcp.rx_mbufs; sent again)") \
  X(tcp_ooo_pruned, "TCP out-of-order buffers freed to relieve receive memory (SACKed data the peer sends again)") \
  X(tcp_tx_mem_refused, "TCP sends held back: the worker's tcp.tx_mbufs spent (on_writable once buffers return)") \
  X(tcp_rx_pressure, "TCP receive memory of a worker spent (tcp.rx_mbufs): every out-of-order queue pruned") \
  X(tcp_ooo_dropped, "drop: TCP out-of-order segment beyond the per-connection limit")       \
  X(tcp_tx_oversize, "drop: TCP segment larger than every port's MTU (refused before it was built)") \
  X(tcp_no_buffer, "TCP segments not sent for want of an mbuf or TX room (retried)")        \
  X(tcp_accepted, "TCP connections accepted (passive open completed)")                       \
  X(tcp_connected, "TCP connections opened by connect (active open completed)")              \
  X(tcp_connect_failed, "TCP connects refused at once (no route, no port, table full)")      \
  X(port_claim_refused, "local port claims refused at run time: another part holds the port (listen, bind, connect)") \
  X(tcp_closed, "TCP connections ended in order")                                            \
  X(tcp_reset, "TCP connections ended by a reset (received or sent)")                        \
  X(tcp_timed_out, "TCP connections ended by retransmission or keepalive timeout")          \
  X(tcp_backlog_full, "SYN to a listener whose SYN backlog is full (answered with a cookie, or dropped with tcp.syn_cookies off)")                   \
  X(tcp_syncookies_sent, "TCP SYN-ACKs sent with a SYN cookie (listener's backlog full)")   \
  X(tcp_syncookies_accepted, "TCP connections made from a valid SYN cookie")                \
  X(tcp_syncookies_failed, "TCP ACKs to a listener with cookies out that carried no valid cookie (RST sent)") \
  X(tcp_table_full, "drop: SYN refused, connection table full (tcp.max_connections)")       \
  X(tcp_time_wait_reused, "TCP TIME-WAIT connections replaced by a new SYN (RFC 6191)")      \
  X(tcp_time_wait_recycled, "TCP TIME-WAIT connections ended early (tcp.time_wait_max)")     \
  X(tcp_keepalive_probes, "TCP keepalive probes sent")                                       \
  X(tcp_icmp_errors, "ICMP errors that matched a TCP connection (unreachable, fragmentation needed)") \
  X(tcp_handoff, "TCP segments handed to the worker owning their connection")               \
  X(udp_delivered, "UDP datagrams delivered to a bound port")                                \
  X(udp_sent, "UDP datagrams sent")                                                          \
  X(udp_bad_checksum, "drop: UDP checksum wrong")                                            \
  X(udp_truncated, "drop: UDP shorter than its header or its length field")                  \
  X(kernel_to, "packets for our address passed to the kernel exception path")                \
  X(kernel_from, "packets the kernel sent on its exception path, routed by redline")          \
  X(kernel_dropped, "drop: exception path TAP full, or a frame from the kernel neither IPv4 nor ARP") \
  X(nat_sessions_created, "NAT sessions made")                                               \
  X(nat_sessions_expired, "NAT sessions ended by their idle timeout")                        \
  X(nat_sessions_flushed, "NAT sessions ended by the operator (redlinectl nat flush)")       \
  X(nat_refused_no_port, "drop: new NAT session refused, no free outside port")              \
  X(nat_refused_table_full, "drop: new NAT session refused, session or mapping table full")  \
  X(nat_refused_host_sessions, "drop: new NAT session refused, its inside host is at nat.limits.sessions_per_host") \
  X(nat_refused_host_ports, "drop: new NAT session refused, its inside host is at nat.limits.ports_per_host") \
  X(nat_port_blocks_allocated, "NAT port blocks given to inside hosts (nat.limits.port_block_size)") \
  X(nat_port_blocks_released, "NAT port blocks taken back from inside hosts (their last port freed)") \
  X(nat_log_dropped, "NAT allocation log records lost: the worker's log ring was full") \
  X(nat_translated_out, "packets translated inside to outside")                              \
  X(nat_translated_in, "packets translated outside to inside")                               \
  X(nat_icmp_errors_translated, "ICMP errors translated with their quoted datagram (RFC 5508)") \
  X(nat_hairpinned, "packets hairpinned from inside to inside through an external address") \
  X(nat_fragments, "fragments of datagrams crossing the NAT, taken into reassembly")        \
  X(nat_fragment_failed, "drop: fragments refused by NAT reassembly, or timed out")          \
  X(nat_filtered, "drop: unsolicited inbound packet (address-dependent filtering)")         \
  X(nat_no_mapping, "drop: inbound packet for an outside port with no mapping")             \
  X(nat_mss_clamped, "TCP SYNs whose MSS option was clamped")                                \
  X(nat_steered, "packets handed to the worker that holds their NAT session or mapping")    \
  X(nat_unsupported, "drop: packet leaving by the outside that the NAT cannot map (protocol, short header)")

enum class Counter : uint16_t {
#define REDLINE_COUNTER_ENUM(name, desc) name,
  REDLINE_COUNTERS(REDLINE_COUNTER_ENUM)
#undef REDLINE_COUNTER_ENUM
      kCount
};

constexpr size_t kCounterCount = size_t(Counter::kCount);

constexpr std::array<std::string_view, kCounterCount> kCounterNames = {
#define REDLINE_COUNTER_NAME(name, desc) #name,
    REDLINE_COUNTERS(REDLINE_COUNTER_NAME)
#undef REDLINE_COUNTER_NAME
};

constexpr std::array<std::string_view, kCounterCount> kCounterDescriptions = {
#define REDLINE_COUNTER_DESC(name, desc) desc,
    REDLINE_COUNTERS(REDLINE_COUNTER_DESC)
#undef REDLINE_COUNTER_DESC
};

// Single writer (the owning worker), any number of readers. Relaxed order suffices: readers
// want a recent value, not one ordered against other memory; load+store (not fetch_add)
// keeps the writer free of locked instructions.
class CounterSet {
 public:
  void add(Counter c, uint64_t n = 1) {
    auto& v = values_[size_t(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get(Counter c) const { return values_[size_t(c)].load(std::memory_order_relaxed); }
  uint64_t get(size_t i) const { return values_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kCounterCount> values_{};
};

}  // namespace redline::net
