// Setting up the kernel side of a TAP redline created (the exception path): its address, up,
// and no IPv6 chatter. ioctl on redline's own network namespace, no `ip` process.
#pragma once

#include <string>

#include "stack/net/types.hpp"

namespace redline::drivers {

// Gives `iface` the address and prefix `a`, disables IPv6 on it, brings it up. Returns why not
// (empty on success).
std::string configure_kernel_interface(const std::string& iface, net::Ipv4Prefix a, uint16_t mtu);

}  // namespace redline::drivers
