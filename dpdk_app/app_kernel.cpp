// The kernel exception path's part of the appliance: a TAP per port that asks for one
// ([ports.kernel]), with the port's MAC, address and MTU on its kernel side.
#include "drivers/kernel_interface.hpp"
#include "drivers/port.hpp"
#include "dpdk_app/app.hpp"

namespace redline::app {

bool App::open_kernel_paths(const Config& config, uint32_t workers, std::string* error) {
  pipeline::Shared& s = *shared_;
  s.kernel.clear();
  s.kernel.resize(s.ports.size());
  for (size_t i = 0; i < config.ports.size(); ++i) {
    const PortConfig& pc = config.ports[i];
    if (!pc.kernel) continue;
    const pipeline::PortInfo& port = s.ports[i];
    auto fail = [&](const std::string& why) {
      *error = "ports[" + std::to_string(i) + "].kernel: " + why;
      return false;
    };
    std::string why;
    auto rules = ip::PassRules::parse(pc.kernel->pass, &why);
    if (!rules) return fail(why);
    // The TAP's kernel side takes the port's MAC, so frames for the port's address are already
    // addressed to it.
    const std::string device = "net_tap_rlk" + std::to_string(i) + ",iface=" + pc.kernel->interface + ",mac=" + port.mac.to_string();
    auto id = drivers::attach(device, error);
    if (!id) return fail(*error);
    // Kept from here on, so shutdown closes the TAP even if the rest of its setup fails.
    s.kernel[i] = std::make_unique<pipeline::KernelPath>();
    pipeline::KernelPath* path = s.kernel[i].get();
    path->dpdk_id = *id;
    drivers::PortRequest req{pc.name + "-kernel", device, port.mac, pc.mtu, uint16_t(workers), 256, 256, 0};
    auto ready = drivers::configure_and_start(*id, req, s.pool, s.reta, error);
    if (!ready) return fail(*error);
    if (ready->queues < workers)
      return fail("the TAP offers " + std::to_string(ready->queues) + " queues, " + std::to_string(workers) +
                  " workers need one each");
    path->queues = ready->queues;
    // Any locally administered unicast MAC serves: only the kernel sees it, as every neighbor's.
    path->peer_mac = net::MacAddr{{0x02, 0x72, 0x6c, 0x6b, uint8_t(i), 0x01}};
    path->rules = std::move(*rules);
    if (std::string e = drivers::configure_kernel_interface(pc.kernel->interface, pc.address, pc.mtu); !e.empty())
      return fail("interface '" + pc.kernel->interface + "': " + e);
    std::printf("port %s: kernel exception path on %s (%s), passing %zu rule(s)\n", pc.name.c_str(),
                pc.kernel->interface.c_str(), pc.address.to_string().c_str(), pc.kernel->pass.size());
  }
  // No port with a path: the workers skip the polling altogether.
  bool any = false;
  for (auto& k : s.kernel) any |= k != nullptr;
  if (!any) s.kernel.clear();
  return true;
}

}  // namespace redline::app
