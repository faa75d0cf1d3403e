// The NAT stage: a pre-routing hook (stage_graph.hpp) that translates every packet of a known
// session, in both directions, and makes new sessions in cold code.
//
// Where sessions live (per-core tables, no cross-core access on the fast path):
//  - A mapping and every session using it live on the worker whose block of the outside port
//    space holds its port (port_share.hpp). The port of a new mapping is chosen so the replies'
//    RSS hash lands on the worker making it (port_steering.hpp): the first flow of an inside
//    endpoint, the common case, is handled on one core in both directions with no handoff.
//    Inbound packets for a port that arrive elsewhere (a later flow of the same mapping to
//    another remote, ICMP replies, ports without RSS) go to the block's worker by handoff: the
//    port names it, no lookup needed. An outbound packet of an inside endpoint whose mapping
//    another worker holds is handed there after a lock-free look into each worker's mapping
//    table (cold: only packets that miss the local session table).
//  - A DNAT (static port forward) session lives on the worker its outside tuple hashes to: its
//    first packet arrives there, and the replies, which cannot be steered (neither port is
//    ours to choose), are handed there, the owner computed from the tuple.
// Fragments of datagrams crossing the NAT are reassembled first (rte_ip_frag, bounded), then
// translated whole; the output stage fragments again where the egress MTU needs it.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "stack/nat/nat_shared.hpp"
#include "stack/endpoint/port_share.hpp"
#include "stack/nat/session.hpp"
#include "stack/nat/session_view.hpp"
#include "stack/pipeline/builtin_stages.hpp"
#include "stack/pipeline/flow_table.hpp"
#include "stack/pipeline/reassembly.hpp"
#include "stack/pipeline/shared.hpp"
#include "stack/session/session_table.hpp"

namespace redline::nat {

using pipeline::Burst;
using pipeline::NextId;

class NatStage final : public pipeline::WorkerStage {
 public:
  // Throws std::runtime_error when a table cannot be made (the worker then fails to start).
  NatStage(pipeline::Worker& w, NatShared& nat);
  ~NatStage() override;
  const char* name() const override { return "nat"; }
  void run(Burst& b, const uint8_t* idx, uint32_t n) override;
  // Its own id, for packets it sends round again (hairpins). Set once registered.
  void set_id(NextId id) { self_ = id; }

  // --- read by other workers and the control thread (lock-free) ---
  bool holds_mapping(const FiveTuple& mapping_key) const { return mappings_->find(mapping_key) != nullptr; }
  uint32_t sessions() const { return sessions_->in_use(); }
  uint32_t mappings() const { return mappings_in_use_.load(std::memory_order_relaxed); }
  // Bytes this worker's tables and pools take (fixed at start: sized for max_sessions).
  uint64_t memory_bytes() const { return memory_bytes_; }
  uint32_t capacity() const { return sessions_->capacity(); }

  // --- run on this worker's core, by the control thread's jobs (nat_listing.cpp) ---
  struct SessionRow {
    SessionEnds ends;
    uint8_t protocol;
    uint8_t flags;
    TcpState tcp_state;
    double idle_s;     // since its last packet
    double expires_s;  // until it ends if no packet comes
  };
  struct SessionScan {
    std::vector<SessionRow> rows;  // what matched (listing only)
    uint32_t flushed = 0;          // what matched and was ended (flush only)
    uint32_t next = 0;             // the pool index the next slice starts at; capacity() when done
  };
  // Looks at up to `budget` pool entries from `from`: lists at most `max_rows` live sessions that
  // `filter` selects, or (`flush`) ends them all, as expiry would (their mappings go with the last
  // session). Bounded so the worker stalls for microseconds, not for a million sessions.
  SessionScan scan_sessions(uint32_t from, uint32_t budget, const SessionFilter& filter, uint32_t max_rows, bool flush);

  // --- what the session engine asks of its owner (session_table.hpp: SessionOwner) ---
  uint64_t timeout_ticks(const Session& s) const;
  void on_release(Session& s);  // the session leaves its mapping; the mapping ends with its last
  void before_release(std::span<Session* const> batch);  // the mappings about to end, warmed

 private:
  // --- cold paths (nat_sessions.cpp) ---
  [[gnu::cold]] void miss(Burst& b, uint8_t slot, const FiveTuple& key);
  // Bulk lookup of the mappings the burst's new inside flows will look for (nat_sessions.cpp).
  [[gnu::cold]] void warm_mappings(const Burst& b, const uint8_t* slots, const FiveTuple* keys, uint32_t n, uint64_t hits);
  // `stay`: make the mapping here even if another worker holds one (a DNAT endpoint's own flows).
  [[gnu::cold]] void outbound(Burst& b, uint8_t slot, const FiveTuple& key, const SnatRule& rule, uint32_t external_ip,
                              bool stay);
  [[gnu::cold]] void inbound(Burst& b, uint8_t slot, const FiveTuple& key, uint32_t external_ip);
  [[gnu::cold]] void icmp_error(Burst& b, uint8_t slot);
  [[gnu::cold]] void fragment(Burst& b, uint8_t slot);
  [[gnu::cold]] void other_protocol(Burst& b, uint8_t slot);
  [[gnu::cold]] void track_tcp(Session& s, unsigned dir, Burst& b, uint8_t slot);
  // Makes a session for the packet whose tuple is `key` (the initiator's), rewritten to
  // `translated`; refuses (counted drop) when the table is full. Returns null if refused.
  // `answer_taken`: the caller looked the answer's tuple up already and found it.
  Session* create_session(Burst& b, uint8_t slot, const FiveTuple& key, const FiveTuple& translated, uint32_t mapping,
                          uint8_t flags, uint16_t mss_clamp, bool answer_taken = false);
  void refuse_session(Burst& b, uint8_t slot, const char* why, net::Counter counter = net::Counter::nat_refused_table_full);
  // The sessions outbound() left for the end of the burst, made and their packets translated
  // (nat_sessions.cpp).
  [[gnu::cold]] void create_pending(Burst& b);
  // A mapping for inside endpoint `key` on external address `external_ip`; `reply` is the tuple
  // the first session's replies will carry (its port chosen here). kNoIndex if refused, `*why`
  // the refusal's counter.
  uint32_t create_mapping(const FiveTuple& key, uint32_t external_ip, const FiveTuple& reply, net::Counter* why);
  void release_mapping(uint32_t index);
  // Rewrites a packet of session `s` matching key[dir] and sets its next; 1 if it went out
  // (inside to outside), 0 in, -1 if it was dropped instead (too big, DF set). translate() does
  // the same and counts it (the cold paths' form).
  int rewrite(Burst& b, uint8_t slot, Session& s, unsigned dir);
  // An outbound datagram with DF set beyond its egress MTU: answered "fragmentation needed"
  // untranslated and dropped (true), else false.
  [[gnu::cold]] bool too_big(Burst& b, uint8_t slot);
  void translate(Burst& b, uint8_t slot, Session& s, unsigned dir);
  void hand_to(Burst& b, uint8_t slot, uint32_t worker);
  static void on_reassembly_timer(timer::Timer& t, void* ctx);
  // This worker's share of the ports of external address `ip_be` (made on first use: a reload
  // may add addresses).
  PortShare& share(uint32_t ip_be, uint8_t protocol) { return *shares_of(ip_be).of[protocol_slot(protocol)]; }
  static size_t protocol_slot(uint8_t protocol) { return protocol == 6 ? 0 : protocol == 17 ? 1 : 2; }

  NatShared& nat_;
  NextId self_ = pipeline::kNextDrop;
  uint32_t workers_;
  using Sessions = session::SessionTable<Session, NatStage>;
  std::unique_ptr<Sessions> sessions_;
  std::unique_ptr<pipeline::FlowTable> mappings_;
  std::vector<Mapping> mapping_pool_;
  uint32_t free_mapping_ = kNoIndex;
  std::atomic<uint32_t> mappings_in_use_{0};
  struct Shares {
    uint32_t ip_be;
    std::array<PortShare*, 3> of;  // tcp, udp, icmp: this worker's shares in its port registry
    std::array<std::vector<uint16_t>, 3> reserved;  // ports of `of` held for DNAT rules
    // Port blocks on: the host holding each block of `of` (an index into blocks_, or kNoIndex),
    // made on first use; where the search for a free one goes on from.
    std::array<std::vector<uint32_t>, 3> block_owner;
    std::array<uint32_t, 3> block_cursor{0, 0, 0};
  };
  Shares& shares_of(uint32_t ip_be);
  // Holds `port` of `sh` for a DNAT rule if it is free; false if a mapping has it (it is held
  // for the rule when that mapping ends: release_mapping).
  static bool reserve(Shares& sh, size_t slot, uint16_t port);
  // A reload changed the rules (rules_seen_): DNAT ports no rule claims any more are given back
  // to the shares, new rules' ports reserved (reload's defect: a dynamic mapping could take a
  // port a rule added by reload forwards).
  [[gnu::cold]] void resync_dnat(const NatRules& r);
  const NatRules* rules_seen_ = nullptr;
  std::vector<Shares> shares_;

  // --- RFC 6888 limits per inside host and port blocks (nat_hosts.cpp): with [nat.limits] ---
  // An inside host's counts, on its home worker.
  struct Host {
    uint32_t ip_be = 0;
    uint32_t sessions = 0;
    uint32_t ports = 0;  // outside ports it holds: its mappings' (blocks off) or its blocks' whole
    uint32_t mappings = 0;
    uint32_t first_block = kNoIndex;  // its blocks, linked by PortBlock::next
  };
  struct PortBlock {
    uint32_t external_ip = 0;  // network byte order
    uint16_t first = 0;        // host order
    uint16_t used = 0;         // its ports held by mappings
    uint8_t protocol = 0;
    uint32_t host = kNoIndex;
    uint32_t next = kNoIndex;
  };
  // The worker that serves inside host `ip_be` while limits are on: a hash of the address, as
  // VPP's NAT44-EI hands flows to workers. Its counts then live on one core, exact, with no
  // state shared between cores; the price is a handoff for packets RSS brings elsewhere.
  uint32_t home_of(uint32_t ip_be) const;
  // Its entry, made if new; kNoIndex if the table is full (as many hosts as sessions).
  uint32_t host_of(uint32_t ip_be);
  void forget_if_idle(uint32_t host);
  // A port for mapping `mi` of `host` from its blocks of `sh`'s address (a new block if it may
  // have one more): 0 if refused, `*why` the counter, else `*block` says which.
  uint16_t block_port(uint32_t host, Shares& sh, uint8_t protocol, const FiveTuple& reply, uint32_t mi, uint32_t* block,
                      net::Counter* why);
  uint32_t allocate_block(uint32_t host, Shares& sh, uint8_t protocol);
  void free_block(uint32_t block);
  // Mapping `mp` ends: its port's block (given back when its last port is) and its host's counts.
  void release_host_port(const Mapping& mp);
  void log_event(LogEvent e, uint8_t protocol, uint32_t inside_ip, uint16_t inside_port_be, uint32_t outside_ip,
                 uint16_t first_port, uint16_t last_port);
  HostLimits limits_;  // fixed at start (a reload that changes them is refused)
  std::unordered_map<uint32_t, uint32_t> host_index_;  // inside address -> hosts_ (cold paths only)
  std::vector<Host> hosts_;
  std::vector<uint32_t> free_hosts_;
  std::vector<PortBlock> blocks_;
  std::vector<uint32_t> free_blocks_;
  LogRing* log_ = nullptr;  // [nat.log] on: this worker's ring
  std::unique_ptr<pipeline::Reassembly> reassembly_;
  timer::Timer reassembly_timer_;
  uint64_t reassembly_period_ticks_ = 1;
  uint64_t memory_bytes_ = 0;
  // New outbound sessions of this burst, made together at its end (session_table.hpp).
  struct PendingSession {
    FiveTuple key;
    FiveTuple answer;  // the tuple its replies carry: reversed, what `key` is translated to
    uint32_t mapping;
    uint16_t mss_clamp;
    uint8_t slot;
    uint8_t flags;
    bool made_mapping;  // outbound() made the mapping for it: released if no session uses it
  };
  session::DeferredSessions<PendingSession, pipeline::kBurstSlots> pending_;
  uint16_t smallest_outside_mtu_ = 0xffff;
};

// Registers the NAT with the workers to be built from `s`: each gets a NatStage on its
// pre-routing hook. `nat` must outlive them.
void add_nat_feature(pipeline::Shared& s, NatShared& nat);

}  // namespace redline::nat
