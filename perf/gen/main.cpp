// redline-gen: a DPDK traffic generator built on redline's own wire code.
//
//   redline-gen [EAL args] -- --tx DEV [--rx DEV] --dst-mac MAC --src-ip A --dst-ip B [options]
//
// Sends UDP, TCP or ICMP echo frames over N flows from one lcore, as fast as it can or at a set
// rate, receives on the RX port (the TX port for echo), answers ARP for its own addresses so a
// router can resolve it, and prints one result line:
//   result tx=... rx=... seconds=... tx_pps=... rx_pps=... loss_pct=... lat_p50_ns=... ...
// Loss counts stamped frames sent in the measured window that never came back; latency is
// from the TSC stamped into each frame to its arrival (both ends share the machine's TSC).
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "drivers/port.hpp"
#include "perf/gen/inprocess.hpp"
#include "perf/gen/lean_alloc.hpp"
#include "perf/gen/latency_histogram.hpp"
#include "perf/gen/traffic.hpp"
#include "stack/rss/toeplitz.hpp"
#include "stack/wire/arp.hpp"
#include "stack/wire/checksum.hpp"
#include "stack/wire/ethernet.hpp"
#include "stack/wire/icmp.hpp"
#include "stack/wire/ipv4.hpp"

using namespace redline;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  std::string tx_device, rx_device;
  gen::TrafficSpec traffic;
  std::optional<net::MacAddr> tx_mac;  // set our port MACs (vdevs that allow it)
  net::Ipv4Addr tx_ip, rx_ip;          // addresses we answer ARP for
  double seconds = 5;
  double warmup = 1;
  uint64_t pps = 0;                    // 0: as fast as possible
  uint64_t new_flows_per_s = 0;
  uint32_t burst = 32;
  uint16_t queues = 1;                 // queue pairs per port; TX rotates over them, RX polls all
  std::optional<std::string> inprocess; // "io", "macswap" or a redline config: the device runs in this process
  double hold = 0;                     // after the result, keep the ports up (draining) this long
  uint32_t max_queued = 256;           // in-process: frames waiting in the device's ring at most
  bool rss_steer = false;              // send each flow on the queue a NIC's symmetric RSS would pick
  bool unique_flows = false;           // every packet a new source (address, port): --unique-flows
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "redline-gen: %s\n"
               "usage: redline-gen [EAL] -- --tx DEV [--rx DEV] --dst-mac MAC --src-ip IP --dst-ip IP\n"
               "  --rx none sends only (measures the generator's own ceiling)\n"
               "  [--proto udp|tcp|icmp] [--size 64] [--flows 1024] [--pps 0] [--seconds 5] [--warmup 1]\n"
               "  [--new-flows-per-s 0] [--tx-ip IP] [--rx-ip IP] [--burst 32] [--mac MAC] [--queues 1]\n"
               "  [--flows-per-ip 60000]  source ports per source address before the next address\n"
               "  [--unique-flows on]     every packet from a new source address and port (NAT session setup)\n"
               "  [--rss-steer on]   put each flow on the queue symmetric Toeplitz RSS picks (ports without RSS)\n"
               "  [--inprocess io|macswap|CONFIG]  run the device in this process over ring pairs: testpmd's\n"
               "                     io or macswap forwarding (baselines) or redline with CONFIG (two ports;\n"
               "                     --tx/--rx/--dst-mac implied)\n"
               "  [--max-queued 256]  in-process: frames queued to the device at most, as a NIC RX ring's\n"
               "                     depth (more are not built; see perf/gen/inprocess.hpp)\n"
               "  [--hold S]         after printing the result keep the ports up, draining, for S seconds\n"
               "                     or until SIGINT/SIGTERM (stop a memif peer before this side goes)\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  bool have_dst_mac = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    std::string v = argv[++i];
    auto ip = [&] {
      auto p = net::Ipv4Addr::parse(v);
      if (!p) usage(("bad address " + v).c_str());
      return *p;
    };
    auto num = [&] { return std::stod(v); };
    if (a == "--tx") o.tx_device = v;
    else if (a == "--rx") o.rx_device = v;
    else if (a == "--dst-mac") {
      auto m = net::MacAddr::parse(v);
      if (!m) usage("bad --dst-mac");
      o.traffic.dst_mac = *m;
      have_dst_mac = true;
    } else if (a == "--mac") {
      o.tx_mac = net::MacAddr::parse(v);
      if (!o.tx_mac) usage("bad --mac");
    } else if (a == "--src-ip") o.traffic.src_ip = ip();
    else if (a == "--dst-ip") o.traffic.dst_ip = ip();
    else if (a == "--tx-ip") o.tx_ip = ip();
    else if (a == "--rx-ip") o.rx_ip = ip();
    else if (a == "--proto") {
      if (v == "udp") o.traffic.protocol = gen::Protocol::kUdp;
      else if (v == "tcp") o.traffic.protocol = gen::Protocol::kTcp;
      else if (v == "icmp") o.traffic.protocol = gen::Protocol::kIcmpEcho;
      else usage("--proto is udp, tcp or icmp");
    } else if (a == "--size") o.traffic.frame_size = uint32_t(num());
    else if (a == "--flows") o.traffic.flows = uint32_t(num());
    else if (a == "--flows-per-ip") o.traffic.flows_per_ip = uint32_t(num());
    else if (a == "--unique-flows") o.unique_flows = v == "1" || v == "on";
    else if (a == "--pps") o.pps = uint64_t(num());
    else if (a == "--seconds") o.seconds = num();
    else if (a == "--warmup") o.warmup = num();
    else if (a == "--new-flows-per-s") o.new_flows_per_s = uint64_t(num());
    else if (a == "--burst") o.burst = std::min(64u, std::max(1u, uint32_t(num())));
    else if (a == "--queues") o.queues = uint16_t(std::min(16.0, std::max(1.0, num())));
    else if (a == "--rss-steer") o.rss_steer = v == "1" || v == "on";
    else if (a == "--inprocess") o.inprocess = v;
    else if (a == "--hold") o.hold = num();
    else if (a == "--max-queued") o.max_queued = uint32_t(num());
    else usage(("unknown option " + a).c_str());
  }
  if (o.inprocess) {
    o.tx_device = gen::InProcessDut::kGenPort0;
    o.rx_device = gen::InProcessDut::kGenPort1;
    have_dst_mac = true;  // taken from the device once it runs
  }
  if (o.tx_device.empty() || !have_dst_mac || o.traffic.src_ip.is_unspecified() || o.traffic.dst_ip.is_unspecified())
    usage("--tx, --dst-mac, --src-ip and --dst-ip are required");
  if (o.tx_ip.is_unspecified()) o.tx_ip = o.traffic.src_ip;
  if (o.seconds <= 0 || o.seconds > 600 || o.warmup < 0 || o.warmup > 60) usage("--seconds is 0-600, --warmup 0-60");
  // Below one burst no burst would ever fit, and the run would send nothing.
  if (o.max_queued < o.burst) usage("--max-queued must be at least --burst (32 by default)");
  return o;
}

struct Port {
  uint16_t id = 0;
  net::MacAddr mac;
  net::Ipv4Addr ip;
  uint16_t queues = 1;
};

// Answers an ARP request for our address in place; returns true if `m` was consumed.
bool answer_arp(rte_mbuf* m, const Port& port) {
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  if (rte_pktmbuf_data_len(m) < wire::eth::kHeaderLen + wire::arp::kLen || wire::eth::type(f) != wire::eth::kTypeArp)
    return false;
  auto req = wire::arp::parse(f + wire::eth::kHeaderLen, rte_pktmbuf_data_len(m) - wire::eth::kHeaderLen);
  if (!req.repr || req.repr->operation != wire::arp::kOpRequest || req.repr->target_ip != port.ip) {
    rte_pktmbuf_free(m);
    return true;
  }
  wire::eth::write(f, req.repr->sender_mac, port.mac, wire::eth::kTypeArp);
  wire::arp::write(f + wire::eth::kHeaderLen,
                   {wire::arp::kOpReply, port.mac, port.ip, req.repr->sender_mac, req.repr->sender_ip});
  if (rte_eth_tx_burst(port.id, 0, &m, 1) != 1) rte_pktmbuf_free(m);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int consumed = rte_eal_init(argc, argv);
  if (consumed < 0) {
    std::fprintf(stderr, "redline-gen: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  int rest = argc - consumed - 1;
  Options opt = parse(rest > 0 ? rest : 0, argv + consumed + 1);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  rte_mempool* pool = rte_pktmbuf_pool_create("gen_pool", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
  if (!pool) {
    std::fprintf(stderr, "redline-gen: no mbuf pool: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  std::string error;
  std::unique_ptr<gen::InProcessDut> dut;
  if (opt.inprocess) {
    dut = gen::InProcessDut::start(*opt.inprocess, pool, &error);
    if (!dut) {
      std::fprintf(stderr, "redline-gen: in-process device: %s\n", error.c_str());
      return 1;
    }
    opt.traffic.dst_mac = dut->dst_mac();
  }
  rss::RetaMirror reta(1);
  auto open_port = [&](const std::string& dev, net::Ipv4Addr ip, std::optional<net::MacAddr> mac) -> std::optional<Port> {
    auto id = drivers::attach(dev, &error);
    if (!id) return std::nullopt;
    drivers::PortRequest req{dev, dev, mac, 1500, opt.queues, 1024, 1024};
    auto ready = drivers::configure_and_start(*id, req, pool, reta, &error);
    if (!ready) return std::nullopt;
    rte_eth_promiscuous_enable(*id);  // see every frame the device under test sends back
    return Port{*id, ready->mac, ip, ready->queues};
  };
  auto tx = open_port(opt.tx_device, opt.tx_ip, opt.tx_mac);
  if (!tx) {
    std::fprintf(stderr, "redline-gen: %s\n", error.c_str());
    return 1;
  }
  // "--rx none": send only (the generator's own ceiling); otherwise receive on --rx, or on --tx.
  const bool send_only = opt.rx_device == "none";
  std::optional<Port> rx = tx;
  if (!send_only && !opt.rx_device.empty() && opt.rx_device != opt.tx_device) {
    rx = open_port(opt.rx_device, opt.rx_ip, std::nullopt);
    if (!rx) {
      std::fprintf(stderr, "redline-gen: %s\n", error.c_str());
      return 1;
    }
  }
  opt.traffic.src_mac = tx->mac;
  // A device may give fewer queues than asked (a veth under AF_XDP has one).
  opt.queues = std::min(tx->queues, rx->queues);
  auto templates = gen::FlowTemplates::build(opt.traffic, &error);
  if (!templates) {
    std::fprintf(stderr, "redline-gen: %s\n", error.c_str());
    return 2;
  }

  // Flow order per TX queue: all flows on queue 0 without steering; with it, each flow on the
  // queue that the device under test's RSS (symmetric key, round-robin RETA) would choose.
  std::vector<std::vector<uint32_t>> flows_of_queue(opt.queues);
  {
    rss::Toeplitz toeplitz(rss::symmetric_key());
    rss::RetaMirror reta_q(opt.queues);
    for (uint32_t f = 0; f < templates->flows(); ++f) {
      const uint8_t* ip = templates->frame(f).data() + 14;
      uint8_t tuple[12];
      std::memcpy(tuple, ip + wire::ipv4::kSrc, 8);
      std::memcpy(tuple + 8, ip + 20, 4);
      bool ports = opt.traffic.protocol != gen::Protocol::kIcmpEcho;
      uint32_t q = opt.rss_steer ? reta_q.owner(toeplitz.hash(tuple, ports ? 12 : 8)) : f % opt.queues;
      flows_of_queue[q].push_back(f);
    }
  }
  std::vector<size_t> next_of_queue(opt.queues, 0);
  uint16_t queue = 0;

  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t start = rte_get_tsc_cycles();
  const uint64_t measure_from = start + uint64_t(opt.warmup * double(hz));
  const uint64_t stop_sending = measure_from + uint64_t(opt.seconds * double(hz));
  const uint64_t drain_until_extra = hz / 5;  // 200 ms for frames still in flight
  const bool icmp = opt.traffic.protocol == gen::Protocol::kIcmpEcho;
  const size_t len = templates->frame_len();
  const size_t stamp = templates->stamp_offset();
  const size_t l4 = stamp - (opt.traffic.protocol == gen::Protocol::kTcp ? 20 : 8);

  uint64_t seq = 0, sent = 0, sent_measured = 0, received_measured = 0, received_total = 0, alloc_fail = 0;
  uint64_t send_cycles = 0;
  uint64_t next_renew = start, renew_port = 0, unique_next = 0;
  gen::LatencyHistogram latency;
  rte_mbuf* burst[64];
  rte_mbuf* rxb[64];

  auto receive = [&](const Port& port, uint16_t queue, uint64_t now) {
    uint16_t n = rte_eth_rx_burst(port.id, queue, rxb, 64);
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = rxb[i];
      const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
      auto off = gen::stamp_offset_of(f, rte_pktmbuf_data_len(m));
      if (!off) {
        if (!answer_arp(m, port)) rte_pktmbuf_free(m);
        continue;
      }
      ++received_total;
      uint64_t sent_at;
      std::memcpy(&sent_at, f + *off, 8);
      if (sent_at >= measure_from && sent_at < stop_sending) {
        ++received_measured;
        latency.add((now - sent_at) * 1'000'000'000 / hz);
      }
      rte_pktmbuf_free(m);
    }
  };

  uint64_t now = start;
  while (!g_stop) {
    now = rte_get_tsc_cycles();
    if (now >= stop_sending + drain_until_extra) break;
    if (now < stop_sending) {
      uint32_t want = opt.burst;
      if (opt.pps) {
        // Pace by credit: packets owed since start at the requested rate.
        uint64_t owed = uint64_t(double(now - start) * double(opt.pps) / double(hz));
        want = owed > sent ? uint32_t(std::min<uint64_t>(opt.burst, owed - sent)) : 0;
      }
      if (opt.new_flows_per_s && now >= next_renew) {
        templates->renew(uint32_t(renew_port % templates->flows()), uint16_t(1024 + 60000 + renew_port % 5000));
        ++renew_port;
        next_renew += hz / opt.new_flows_per_s;
      }
      // In-process: a burst only when the device's queue has room for it (InProcessDut::queued).
      if (want && dut && dut->queued(0) + want > opt.max_queued) want = 0;
      if (want && gen::lean_alloc_bulk(pool, burst, want, uint16_t(len)) == 0) {
        uint64_t t0 = rte_get_tsc_cycles();
        do queue = uint16_t((queue + 1) % opt.queues); while (flows_of_queue[queue].empty());
        const std::vector<uint32_t>& flows = flows_of_queue[queue];
        size_t& next = next_of_queue[queue];
        for (uint32_t i = 0; i < want; ++i) {
          uint8_t* d = rte_pktmbuf_mtod(burst[i], uint8_t*);
          std::memcpy(d, templates->frame(flows[next]).data(), len);
          if (++next == flows.size()) next = 0;
          std::memcpy(d + stamp, &t0, 8);
          uint32_t magic = gen::kStampMagic;
          std::memcpy(d + stamp + 8, &magic, 4);
          uint32_t s32 = uint32_t(seq++);
          std::memcpy(d + stamp + 12, &s32, 4);
          if (opt.unique_flows) templates->write_unique_source(d, unique_next++);
          if (icmp) wire::store16(d + l4, wire::icmp::kChecksum, wire::internet_checksum(d + l4, len - l4));
        }
        uint16_t done = rte_eth_tx_burst(tx->id, queue, burst, uint16_t(want));
        for (uint32_t i = done; i < want; ++i) rte_pktmbuf_free(burst[i]);
        send_cycles += rte_get_tsc_cycles() - t0;
        sent += done;
        if (t0 >= measure_from) sent_measured += done;
      } else if (want) {
        ++alloc_fail;
      }
    }
    for (uint16_t q = 0; q < opt.queues && !send_only; ++q) {
      receive(*rx, q, now);
      if (rx->id != tx->id) receive(*tx, q, now);  // ARP on the TX side
    }
  }

  double seconds = opt.seconds;
  double loss = sent_measured ? 100.0 * (1.0 - double(received_measured) / double(sent_measured)) : 100.0;
  if (loss < 0) loss = 0;
  std::printf("result tx=%lu rx=%lu seconds=%.2f tx_pps=%.0f rx_pps=%.0f loss_pct=%.3f lat_p50_ns=%lu lat_p99_ns=%lu "
              "lat_p999_ns=%lu gen_tx_cycles_per_pkt=%.1f alloc_fail=%lu\n",
              sent_measured, received_measured, seconds, double(sent_measured) / seconds,
              double(received_measured) / seconds, loss, latency.quantile(0.5), latency.quantile(0.99),
              latency.quantile(0.999), sent ? double(send_cycles) / double(sent) : 0.0, alloc_fail);
  if (dut) std::printf("dut_cycles_per_pkt=%.1f\n", dut->stop());
  std::fflush(stdout);
  // DPDK 22.11's memif server can crash when its client disconnects while it polls: let the
  // caller stop the device under test first.
  for (uint64_t until = rte_get_tsc_cycles() + uint64_t(opt.hold * double(hz)); !g_stop && rte_get_tsc_cycles() < until;) {
    for (uint16_t q = 0; q < opt.queues; ++q) {
      uint16_t n = rte_eth_rx_burst(rx->id, q, rxb, 64);
      for (uint16_t i = 0; i < n; ++i) rte_pktmbuf_free(rxb[i]);
    }
    rte_delay_us_sleep(1000);
  }
  dut.reset();
  drivers::stop_and_close(tx->id);
  if (rx->id != tx->id) drivers::stop_and_close(rx->id);
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return 0;
}
