#include "drivers/kernel_interface.hpp"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace redline::drivers {

std::string configure_kernel_interface(const std::string& iface, net::Ipv4Prefix a, uint16_t mtu) {
  if (iface.size() >= IFNAMSIZ) return "interface name too long";
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  auto req = [&] {
    ifreq r{};
    std::memcpy(r.ifr_name, iface.c_str(), iface.size());
    return r;
  };
  auto in = [](uint32_t host_order) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(host_order);
    sockaddr out{};
    std::memcpy(&out, &sa, sizeof sa);
    return out;
  };
  std::string error;
  ifreq r = req();
  r.ifr_addr = in(a.addr.value);
  if (ioctl(fd, SIOCSIFADDR, &r) != 0) error = std::string("cannot set its address: ") + std::strerror(errno);
  r = req();
  r.ifr_netmask = in(a.mask());
  if (error.empty() && ioctl(fd, SIOCSIFNETMASK, &r) != 0) error = std::string("cannot set its netmask: ") + std::strerror(errno);
  r = req();
  r.ifr_mtu = mtu;
  if (error.empty() && ioctl(fd, SIOCSIFMTU, &r) != 0) error = std::string("cannot set its MTU: ") + std::strerror(errno);
  // IPv6 router solicitations and MLD would only be dropped on the way out: keep them unsent.
  std::ofstream(std::string("/proc/sys/net/ipv6/conf/") + iface + "/disable_ipv6") << "1\n";
  r = req();
  if (error.empty() && ioctl(fd, SIOCGIFFLAGS, &r) == 0) {
    r.ifr_flags = short(r.ifr_flags | IFF_UP);
    if (ioctl(fd, SIOCSIFFLAGS, &r) != 0) error = std::string("cannot bring it up: ") + std::strerror(errno);
  }
  close(fd);
  return error;
}

}  // namespace redline::drivers
