// The TCP state a NAT session follows, from the flags it sees, and which idle timeout applies
// (RFC 5382 §5, REQ-5).
//
// A NAT sees both directions but is no endpoint: it needs only to tell an established
// connection (idle timeout >= 2 h 4 min) from a transitory one (opening, closing, reset: >= 4
// min), and to let a quickly reused 4-tuple start again (a new SYN after FIN or RST: the
// endpoints' TIME-WAIT rules, RFC 9293 §3.6.1 and RFC 6191, decide whether that is safe; the
// NAT must not refuse it). Sequence numbers are not checked: that is the endpoints' job, and a
// NAT that drops what it thinks out of window breaks window scaling it cannot see.
#pragma once

#include <cstdint>

namespace redline::nat {

enum class TcpState : uint8_t {
  kSynSent,      // the initiator's SYN seen, no answer yet                    transitory
  kSynReceived,  // the answer's SYN (SYN-ACK) seen                             transitory
  kEstablished,  // the initiator acknowledged the answer                       established
  kFinOne,       // one side sent FIN (half-closed: may still carry data)       established
  kFinBoth,      // both sides sent FIN: closing, then TIME-WAIT                transitory
  kReset,        // RST seen                                                    transitory
};

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpAck = 0x10;
// Flags that can change the state; a segment with none of them leaves it as it is (the fast path
// checks this mask and skips the tracker).
constexpr uint8_t kTcpStateFlags = kTcpFin | kTcpSyn | kTcpRst;

struct TcpTracking {
  TcpState state = TcpState::kSynSent;
  uint8_t fin_from = 0;  // bit 0: the initiator sent FIN, bit 1: the answerer did

  // A segment with `flags`, from the initiator (`from_initiator`) or the answerer. Returns
  // true if it starts the connection over (a new SYN on a closed 4-tuple).
  bool on_segment(uint8_t flags, bool from_initiator) {
    if (flags & kTcpRst) {
      state = TcpState::kReset;
      return false;
    }
    if ((flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
      // RFC 5382 REQ-1/§3: a new SYN on a 4-tuple that closed (FIN both ways, RST) reuses the
      // session: the mapping stays, the state starts over.
      if (state == TcpState::kFinBoth || state == TcpState::kReset) {
        state = TcpState::kSynSent;
        fin_from = 0;
        return true;
      }
      return false;
    }
    if ((flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck)) {
      if (state == TcpState::kSynSent && !from_initiator) state = TcpState::kSynReceived;
      return false;
    }
    if ((flags & kTcpAck) && state == TcpState::kSynReceived && from_initiator) state = TcpState::kEstablished;
    if (flags & kTcpFin) {
      fin_from |= from_initiator ? 1 : 2;
      if (state == TcpState::kSynSent || state == TcpState::kSynReceived || state == TcpState::kEstablished ||
          state == TcpState::kFinOne)
        state = fin_from == 3 ? TcpState::kFinBoth : TcpState::kFinOne;
    }
    return false;
  }
  bool established() const { return state == TcpState::kEstablished || state == TcpState::kFinOne; }
};

}  // namespace redline::nat
