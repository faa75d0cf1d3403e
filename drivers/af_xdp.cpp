#include "drivers/af_xdp.hpp"

#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/rtnetlink.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/xdp_diag.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

namespace redline::drivers {

namespace {
constexpr long kBpfFsMagic = 0xcafe4a11;  // BPF_FS_MAGIC (linux/magic.h)
constexpr const char* kBpfFs = "/sys/fs/bpf";

// A datagram socket for interface ioctls, closed on scope exit.
struct IoctlSocket {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~IoctlSocket() {
    if (fd >= 0) close(fd);
  }
};

bool ifreq_for(const std::string& iface, ifreq* r) {
  if (iface.empty() || iface.size() >= IFNAMSIZ) return false;
  std::memset(r, 0, sizeof *r);
  std::memcpy(r->ifr_name, iface.c_str(), iface.size());
  return true;
}

// The interface's queue count as ethtool sees it (combined or RX channels), or 0 if it will not
// say (then the PMD is left to find out).
uint32_t queues_of(const std::string& iface) {
  IoctlSocket s;
  ifreq r;
  if (s.fd < 0 || !ifreq_for(iface, &r)) return 0;
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  r.ifr_data = reinterpret_cast<char*>(&ch);
  if (ioctl(s.fd, SIOCETHTOOL, &r) != 0) return 0;
  return std::max(ch.combined_count, ch.rx_count);
}
}  // namespace

namespace {
// The id of the XDP program attached to interface `ifindex`, 0 if none, nullopt if netlink will
// not say (RTM_GETLINK, IFLA_XDP: linux/if_link.h).
std::optional<uint32_t> xdp_program_on(uint32_t ifindex) {
  const int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) return std::nullopt;
  struct {
    nlmsghdr h;
    ifinfomsg i;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.i.ifi_family = AF_UNSPEC;
  req.i.ifi_index = int(ifindex);
  std::optional<uint32_t> out;
  std::vector<char> buf(65536);
  if (send(nl, &req, sizeof req, 0) == ssize_t(sizeof req)) {
    const ssize_t got = recv(nl, buf.data(), buf.size(), 0);
    int n = int(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); got > 0 && NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != RTM_NEWLINK) continue;
      out = 0;
      int len = int(IFLA_PAYLOAD(h));
      for (auto* a = IFLA_RTA(static_cast<ifinfomsg*>(NLMSG_DATA(h))); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type != IFLA_XDP) continue;
        int inner = int(RTA_PAYLOAD(a));
        for (auto* x = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(x, inner); x = RTA_NEXT(x, inner))
          if (x->rta_type == IFLA_XDP_PROG_ID && RTA_PAYLOAD(x) >= 4) std::memcpy(&*out, RTA_DATA(x), 4);
          // Programs in several modes report no single id: attached is enough to refuse.
          else if (x->rta_type == IFLA_XDP_ATTACHED && RTA_PAYLOAD(x) >= 1 && *static_cast<uint8_t*>(RTA_DATA(x)) &&
                   *out == 0)
            *out = ~0u;
      }
    }
  }
  close(nl);
  return out;
}
}  // namespace

std::optional<AfXdpArgs> af_xdp_args(const std::string& device) {
  if (device.rfind("net_af_xdp", 0) != 0) return std::nullopt;
  AfXdpArgs a;
  size_t at = device.find(',');
  while (at != std::string::npos) {
    const size_t next = device.find(',', at + 1);
    const std::string kv = device.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    const size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    try {
      if (k == "iface") a.iface = v;
      else if (k == "start_queue") a.start_queue = uint32_t(std::stoul(v));
      else if (k == "queue_count") a.queue_count = uint32_t(std::stoul(v));
      else if (k == "busy_budget") a.busy_budget = std::stoi(v);
      else if (k == "force_copy") a.force_copy = v == "1";
    } catch (const std::exception&) {
      // Left for the PMD to refuse with its own message.
    }
    at = next;
  }
  return a;
}

void restore_interface(const InterfaceState& was) {
  IoctlSocket s;
  ifreq r;
  if (s.fd < 0) return;
  if (was.mtu >= 0 && ifreq_for(was.iface, &r)) {
    r.ifr_mtu = was.mtu;
    ioctl(s.fd, SIOCSIFMTU, &r);
  }
  if (was.mac && ifreq_for(was.iface, &r) && ioctl(s.fd, SIOCGIFHWADDR, &r) == 0) {
    std::memcpy(r.ifr_hwaddr.sa_data, was.mac->bytes.data(), 6);
    ioctl(s.fd, SIOCSIFHWADDR, &r);
  }
}

std::string prepare_af_xdp(const AfXdpArgs& a, uint16_t mtu, const std::optional<net::MacAddr>& mac, std::string* notes,
                           InterfaceState* was) {
  was->iface = a.iface;
  if (a.iface.empty()) return "net_af_xdp needs iface=NAME";
  const uint32_t ifindex = if_nametoindex(a.iface.c_str());
  if (ifindex == 0) return "interface '" + a.iface + "' does not exist (in redline's network namespace)";
  // Someone else's XDP program (another redline, an AF_XDP user, a firewall): the PMD would fail
  // and, closing, detach it. Refused before the PMD touches the interface.
  if (const auto prog = xdp_program_on(ifindex); prog && *prog)
    return "interface '" + a.iface + "' is in use: XDP program " + (*prog == ~0u ? std::string("(several modes)") : "id " + std::to_string(*prog)) +
           " is attached (another AF_XDP user or XDP program; `ip link set dev " + a.iface + " xdp off` frees it)";
  const uint32_t q = queues_of(a.iface);
  if (q && a.start_queue + a.queue_count > q)
    return "interface '" + a.iface + "' has " + std::to_string(q) + " queue(s); start_queue " +
           std::to_string(a.start_queue) + " + queue_count " + std::to_string(a.queue_count) +
           " needs more (a veth takes numrxqueues/numtxqueues at creation; a NIC: ethtool -L)";
  // The XDP program passes what arrives on a queue without a socket to the kernel: say so loudly
  // (sharing a NIC with the kernel by queue is legitimate, silently losing traffic is not).
  if (q && (a.start_queue != 0 || a.queue_count < q))
    *notes += "WARNING: redline takes queues " + std::to_string(a.start_queue) + "-" +
              std::to_string(a.start_queue + a.queue_count - 1) + " of " + std::to_string(q) +
              ": what the NIC puts on the others goes to the kernel, not redline (queue_count=" + std::to_string(q) +
              " or `ethtool -L " + a.iface + " combined " + std::to_string(a.queue_count) + "`); ";
  // The kernel delivers to XDP only frames within the interface's MTU.
  IoctlSocket s;
  ifreq r;
  if (s.fd >= 0 && ifreq_for(a.iface, &r) && ioctl(s.fd, SIOCGIFMTU, &r) == 0 && r.ifr_mtu != mtu) {
    const int before = r.ifr_mtu;
    r.ifr_mtu = mtu;
    if (ioctl(s.fd, SIOCSIFMTU, &r) != 0)
      return "cannot set interface '" + a.iface + "' MTU to " + std::to_string(mtu) + ": " + std::strerror(errno);
    was->mtu = before;
    *notes += "MTU " + std::to_string(before) + " -> " + std::to_string(mtu) + " (given back at exit); ";
  }
  // Loading XDP programs and registering the UMEM count against RLIMIT_MEMLOCK on kernels that
  // do not account BPF memory to the cgroup; 8 MiB (a common default) fails the dispatcher's
  // load with a bare EPERM.
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0) {
    rlimit now{};
    getrlimit(RLIMIT_MEMLOCK, &now);
    *notes += "RLIMIT_MEMLOCK stays " + std::to_string(now.rlim_cur >> 20) + " MiB (" + std::strerror(errno) + "); ";
  }
  if (mac && s.fd >= 0 && ifreq_for(a.iface, &r) && ioctl(s.fd, SIOCGIFHWADDR, &r) == 0 &&
      std::memcmp(r.ifr_hwaddr.sa_data, mac->bytes.data(), 6) != 0) {
    net::MacAddr before;
    std::memcpy(before.bytes.data(), r.ifr_hwaddr.sa_data, 6);
    std::memcpy(r.ifr_hwaddr.sa_data, mac->bytes.data(), 6);
    if (ioctl(s.fd, SIOCSIFHWADDR, &r) != 0)
      return "cannot set interface '" + a.iface + "' MAC to " + mac->to_string() + ": " + std::strerror(errno);
    was->mac = before;
    *notes += "MAC " + before.to_string() + " -> " + mac->to_string() + " (given back at exit); ";
  }
  // libxdp's dispatcher (several XDP programs on one interface) pins its state in bpffs.
  struct statfs fs {};
  if (statfs(kBpfFs, &fs) != 0 || fs.f_type != kBpfFsMagic) {
    mkdir(kBpfFs, 0700);
    if (mount("bpf", kBpfFs, "bpf", 0, "mode=0700") == 0)
      *notes += std::string("mounted bpffs at ") + kBpfFs + "; ";
    else
      *notes += std::string("no bpffs at ") + kBpfFs + " (mount: " + std::strerror(errno) +
                "): libxdp loads a single XDP program, not shareable; ";
  }
  return {};
}

namespace {
// AF_XDP sockets of this network namespace on `ifindex`: inode -> queue and zero-copy flag, by
// sock_diag (linux/xdp_diag.h).
struct XskInfo {
  uint32_t queue = 0;
  bool zero_copy = false;
};
std::map<uint32_t, XskInfo> xsk_sockets(uint32_t ifindex) {
  std::map<uint32_t, XskInfo> out;
  const int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return out;
  struct {
    nlmsghdr h;
    xdp_diag_req r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = AF_XDP;
  req.r.xdiag_show = XDP_SHOW_INFO | XDP_SHOW_UMEM;
  if (send(nl, &req, sizeof req, 0) != ssize_t(sizeof req)) {
    close(nl);
    return out;
  }
  std::vector<char> buf(32768);
  for (bool done = false; !done;) {
    ssize_t got = recv(nl, buf.data(), buf.size(), 0);
    if (got <= 0) break;
    int n = int(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        break;
      }
      const auto* msg = static_cast<const xdp_diag_msg*>(NLMSG_DATA(h));
      XskInfo info;
      bool ours = false;
      int len = int(h->nlmsg_len) - int(NLMSG_LENGTH(sizeof *msg));
      for (auto* at = reinterpret_cast<const nlattr*>(msg + 1);
           len >= int(sizeof(nlattr)) && at->nla_len >= sizeof(nlattr) && int(at->nla_len) <= len;
           len -= NLA_ALIGN(at->nla_len), at = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(at) + NLA_ALIGN(at->nla_len))) {
        const void* data = reinterpret_cast<const char*>(at) + NLA_HDRLEN;
        if (at->nla_type == XDP_DIAG_INFO) {
          const auto* i = static_cast<const xdp_diag_info*>(data);
          ours = i->ifindex == ifindex;
          info.queue = i->queue_id;
        } else if (at->nla_type == XDP_DIAG_UMEM) {
          info.zero_copy = static_cast<const xdp_diag_umem*>(data)->flags & XDP_DU_F_ZEROCOPY;
        }
      }
      if (ours) out[msg->xdiag_ino] = info;
    }
  }
  close(nl);
  return out;
}

// This process's AF_XDP sockets, by descriptor: inode -> zero-copy and preferred busy polling
// (getsockopt XDP_OPTIONS and SO_PREFER_BUSY_POLL; the PMD keeps the descriptors to itself).
struct XskFd {
  int fd = -1;
  bool zero_copy = false;
  bool busy_polling = false;
};
std::map<uint32_t, XskFd> own_xsk_fds() {
  std::map<uint32_t, XskFd> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char target[64];
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    const std::string link(target, size_t(n));
    if (link.rfind("socket:[", 0) != 0) continue;
    const int fd = std::atoi(e->d_name);
    int domain = 0;
    socklen_t l = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) != 0 || domain != AF_XDP) continue;
    XskFd x;
    x.fd = fd;
    xdp_options opts{};
    l = sizeof opts;
    if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &l) == 0) x.zero_copy = opts.flags & XDP_OPTIONS_ZEROCOPY;
    int v = 0;
    l = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &v, &l) == 0) x.busy_polling = v != 0;
    out[uint32_t(std::strtoul(link.c_str() + 8, nullptr, 10))] = x;
  }
  closedir(d);
  return out;
}

// Each AF_XDP port's sockets (inodes), by DPDK port id: set at start, read by the control thread.
std::map<uint16_t, std::vector<uint32_t>>& port_sockets() {
  static std::map<uint16_t, std::vector<uint32_t>> m;
  return m;
}
}  // namespace

std::string describe_af_xdp(const AfXdpArgs& a, uint16_t port_id) {
  // Ports start one after another: the sockets no earlier port took are this port's.
  // sock_diag (where the kernel has xsk_diag) confirms the interface.
  auto taken = [](uint32_t ino) {
    for (const auto& [port, inos] : port_sockets())
      if (std::find(inos.begin(), inos.end(), ino) != inos.end()) return true;
    return false;
  };
  const auto by_diag = xsk_sockets(if_nametoindex(a.iface.c_str()));
  uint32_t count = 0, zc = 0, busy = 0;
  for (const auto& [ino, x] : own_xsk_fds()) {
    if (taken(ino) || (!by_diag.empty() && !by_diag.count(ino))) continue;
    port_sockets()[port_id].push_back(ino);
    ++count;
    zc += x.zero_copy;
    busy += x.busy_polling;
  }
  if (count == 0) return "mode unknown (no AF_XDP socket of this port found)";
  std::string out = zc == count ? "zero-copy mode" : zc == 0 ? "copy mode" : "mixed copy/zero-copy mode";
  out += ", " + std::to_string(count) + " socket(s), preferred busy polling " +
         (busy == count ? "on"
          : busy == 0  ? (a.busy_budget == 0 ? "off (busy_budget=0)" : "off (the kernel or driver refused it: plain polling)")
                       : "on some");
  return out;
}

std::vector<std::pair<std::string, uint64_t>> af_xdp_kernel_stats(uint16_t port_id) {
  const auto it = port_sockets().find(port_id);
  if (it == port_sockets().end()) return {};
  xdp_statistics sum{};
  for (const auto& [ino, x] : own_xsk_fds()) {
    if (std::find(it->second.begin(), it->second.end(), ino) == it->second.end()) continue;
    xdp_statistics st{};
    socklen_t l = sizeof st;
    if (getsockopt(x.fd, SOL_XDP, XDP_STATISTICS, &st, &l) != 0) continue;
    sum.rx_dropped += st.rx_dropped;
    sum.rx_invalid_descs += st.rx_invalid_descs;
    sum.tx_invalid_descs += st.tx_invalid_descs;
    sum.rx_ring_full += st.rx_ring_full;
    sum.rx_fill_ring_empty_descs += st.rx_fill_ring_empty_descs;
  }
  return {{"xsk_rx_dropped", sum.rx_dropped},
          {"xsk_rx_ring_full", sum.rx_ring_full},
          {"xsk_rx_fill_ring_empty", sum.rx_fill_ring_empty_descs},
          {"xsk_rx_invalid_descs", sum.rx_invalid_descs},
          {"xsk_tx_invalid_descs", sum.tx_invalid_descs}};
}

std::string af_xdp_probe_hint(const AfXdpArgs& a) {
  return " (is interface '" + a.iface + "' in use by another AF_XDP socket or XDP program? `ip -d link show " + a.iface +
         "` shows an attached program; queues " + std::to_string(a.start_queue) + ".." +
         std::to_string(a.start_queue + a.queue_count - 1) + ")";
}

}  // namespace redline::drivers
