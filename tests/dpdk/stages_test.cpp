// The stage graph from the outside: a feature's toy stages registered on the hooks and for a
// local protocol, without touching the worker loop.
#include "stack/pipeline/builtin_stages.hpp"
#include "tests/dpdk/pipeline_rig.hpp"

using namespace redline;
using namespace redline::testing;
using net::Counter;
using pipeline::Burst;
using pipeline::NextId;

namespace {
// Pre-routing toy: counts what it sees, drops TTL 33, lets the rest through.
class ToyFilter final : public pipeline::Stage {
 public:
  const char* name() const override { return "toy-filter"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override {
    ++runs;
    for (uint32_t k = 0; k < n; ++k) {
      ++seen;
      const uint8_t* ip = rte_pktmbuf_mtod_offset(b.pkts[idx[k]], const uint8_t*, 14);
      if (wire::ipv4::ttl(ip) == 33) b.drop(idx[k], Counter::ipv4_not_forwarded);
      else b.to(idx[k], proceed);
    }
  }
  int runs = 0, seen = 0;
};

// Post-routing toy: records the egress port the route stage chose.
class ToyObserver final : public pipeline::Stage {
 public:
  const char* name() const override { return "toy-observer"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override {
    for (uint32_t k = 0; k < n; ++k) {
      out_ports.push_back(b.meta[idx[k]].out_port);
      b.to(idx[k], proceed);
    }
  }
  std::vector<uint16_t> out_ports;
};

// Local delivery of IP protocol 253 (RFC 3692 experimentation): consumes the packet.
class ToyProtocol final : public pipeline::Stage {
 public:
  const char* name() const override { return "toy-253"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override {
    for (uint32_t k = 0; k < n; ++k) {
      ++delivered;
      rte_pktmbuf_free(b.pkts[idx[k]]);
      b.to(idx[k], pipeline::kNextDone);
    }
  }
  int delivered = 0;
};

// Pre-routing toy that writes its mark in a shared log and lets packets through.
class ToyMarker final : public pipeline::Stage {
 public:
  ToyMarker(char mark, std::string* log) : mark_(mark), log_(log) {}
  const char* name() const override { return "toy-marker"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override {
    log_->push_back(mark_);
    for (uint32_t k = 0; k < n; ++k) b.to(idx[k], proceed);
  }

 private:
  char mark_;
  std::string* log_;
};

struct Toys {
  ToyFilter* filter = nullptr;
  ToyObserver* observer = nullptr;
  ToyProtocol* protocol = nullptr;
};

RigOptions with_toys(Toys* toys) {
  RigOptions o;
  o.tweak = [toys](pipeline::Shared& s) {
    s.features.push_back([toys](pipeline::StageGraph& g, pipeline::Worker&) {
      auto filter = std::make_unique<ToyFilter>();
      auto observer = std::make_unique<ToyObserver>();
      auto protocol = std::make_unique<ToyProtocol>();
      toys->filter = filter.get();
      toys->observer = observer.get();
      toys->protocol = protocol.get();
      g.add_hook(pipeline::Hook::kPreRouting, g.add(std::move(filter)));
      g.add_hook(pipeline::Hook::kPostRouting, g.add(std::move(observer)));
      g.set_local(253, g.add(std::move(protocol)));
    });
  };
  return o;
}
}  // namespace

TEST(Stages, FeatureHooksSeeForwardedPacketsOncePerBurst) {
  Toys toys;
  Rig rig(with_toys(&toys));
  rig.host_a_arps();
  rig.host_b_arps();
  const int runs_before = toys.filter->runs;
  for (int i = 0; i < 8; ++i)
    rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), i == 3 ? 33 : 64));
  rig.poll();
  EXPECT_EQ(toys.filter->runs - runs_before, 1) << "one call for the whole burst";
  EXPECT_EQ(toys.filter->seen, 8);
  EXPECT_EQ(rig.take(rig.b()).size(), 7u);
  EXPECT_EQ(rig.counter(Counter::ipv4_not_forwarded), 1u);
  ASSERT_EQ(toys.observer->out_ports.size(), 7u);
  for (uint16_t p : toys.observer->out_ports) EXPECT_EQ(p, 1);
}

// A load balancer's VIP match runs before the NAT whichever feature registers first (issue 23).
TEST(Stages, HooksRunByTheirOrderNotTheOrderAdded) {
  std::string log;
  RigOptions o;
  o.tweak = [&log](pipeline::Shared& s) {
    s.features.push_back([&log](pipeline::StageGraph& g, pipeline::Worker&) {
      g.add_hook(pipeline::Hook::kPreRouting, g.add(std::make_unique<ToyMarker>('z', &log)));
      g.add_hook(pipeline::Hook::kPreRouting, g.add(std::make_unique<ToyMarker>('n', &log)), pipeline::HookOrder::kNat);
      g.add_hook(pipeline::Hook::kPreRouting, g.add(std::make_unique<ToyMarker>('l', &log)),
                 pipeline::HookOrder::kLoadBalancer);
      g.add_hook(pipeline::Hook::kPreRouting, g.add(std::make_unique<ToyMarker>('m', &log)), pipeline::HookOrder::kNat);
    });
  };
  Rig rig(o);
  rig.host_a_arps();
  rig.host_b_arps();
  log.clear();
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.2.2"), 17, Frame(12, 0), 64));
  rig.poll();
  EXPECT_EQ(log, "lnmz") << "load balancer, the NATs in the order added, then the unordered one";
  EXPECT_EQ(rig.take(rig.b()).size(), 1u) << "the chain ends at the route stage";
  EXPECT_EQ(rig.worker().graph().hooks(pipeline::Hook::kPreRouting).size(), 4u);
}

TEST(Stages, PostRoutingHookSeesWhatRedlineSendsToo) {
  Toys toys;
  Rig rig(with_toys(&toys));
  rig.host_a_arps();
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 1, echo_request(1)));
  rig.poll();
  EXPECT_EQ(rig.take(rig.a()).size(), 1u);
  ASSERT_EQ(toys.observer->out_ports.size(), 1u);
  EXPECT_EQ(toys.observer->out_ports[0], 0);
}

TEST(Stages, LocalProtocolStageGetsItsDatagrams) {
  Toys toys;
  Rig rig(with_toys(&toys));
  rig.host_a_arps();
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 253, Frame(20, 1)));
  rig.inject(rig.a(), ipv4_frame(kMacA, kHostA, addr("10.0.1.2"), addr("10.0.1.1"), 254, Frame(20, 1)));
  rig.poll();
  EXPECT_EQ(toys.protocol->delivered, 1);
  EXPECT_EQ(rig.counter(Counter::ipv4_unsupported_protocol), 1u);  // 254: nobody registered it
}

TEST(Stages, GraphHasTheBuiltinsInOrder) {
  Rig rig;
  pipeline::Worker& w = rig.worker();
  const auto& b = w.stages();
  EXPECT_LT(b.classify, b.route);
  EXPECT_LT(b.route, b.local);
  EXPECT_LT(b.local_out, b.output);
  EXPECT_EQ(w.graph().entry(pipeline::Hook::kPreRouting), b.route);
  EXPECT_EQ(w.graph().entry(pipeline::Hook::kPostRouting), b.output);
  EXPECT_STREQ(w.graph().stage(b.output).name(), "output");
}
