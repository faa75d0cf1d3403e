// redline's TCP application API in one include, and how to use it.
//
// An application runs inside the worker that owns its connections: every callback below is
// called from that worker's loop, with nothing locked and nothing shared with other cores.
// Each worker has its own tcp::Host (TcpStage::host()); an application that serves on every
// worker installs itself on each (TcpShared::start is called once per worker, on that worker).
//
// A worked example, an echo server with back-pressure (stack/services/services.cpp has it and
// the other built-in services in full):
//
//   class Echo : public tcp::Listener, public tcp::Handler {
//    public:
//     // A handshake completed on our port: this object handles the connection.
//     tcp::Handler* on_accept(tcp::Connection& c) override {
//       c.set_nodelay(true);            // per-connection options: no Nagle, keepalive, buffers
//       return this;
//     }
//     // Bytes arrived: views into the mbufs they came in (no copy). Send back what the send
//     // buffer takes; consume only that, so the rest stays queued and the window closes
//     // towards a client that sends faster than it reads.
//     void on_data(tcp::Connection& c) override { pump(c); }
//     // The send buffer has room again after a send() that took less than offered.
//     void on_writable(tcp::Connection& c) override { pump(c); }
//     // The client sent FIN: close our side once everything it sent has gone back.
//     void on_peer_closed(tcp::Connection& c) override { pump(c); }
//     // Gone: in order (Error::kNone), or reset, refused, timed out, unreachable, aborted.
//     void on_closed(tcp::Connection&, tcp::Error) override {}
//
//    private:
//     void pump(tcp::Connection& c) {
//       size_t taken = 0;
//       c.read([&](std::span<const uint8_t> s) {
//         const size_t n = c.send(s.data(), s.size());
//         taken += n;
//         return n == s.size();       // stop at the first run the buffer could not take
//       });
//       c.consume(taken);
//       if (c.state() == tcp::State::kCloseWait && c.readable() == 0) c.close();
//     }
//   };
//
//   // On each worker (e.g. from TcpShared::start):
//   static Echo echo;                                // one per worker in real code
//   stage.host().listen(7, echo);                    // all of this worker's addresses
//   tcp::ConnOptions o;  o.keepalive = {true, 60, 10, 5};
//   stage.host().listen(8, echo, o, /*backlog=*/256);
//
//   // An active open: the local port is chosen so the replies reach this same worker.
//   class Client : public tcp::Handler {
//     void on_connected(tcp::Connection& c) override { c.send("GET / HTTP/1.0\r\n\r\n", 18); c.shutdown(); }
//     void on_data(tcp::Connection& c) override { c.consume(c.readable()); }
//     void on_closed(tcp::Connection&, tcp::Error e) override { /* e says how it ended */ }
//   };
//   static Client client;
//   if (!stage.host().connect({dst_ip, 80}, client)) { /* no route, no port, or table full */ }
//
// Errors are reported once, through on_closed; a connection must not be touched after it.
//
// Zero-copy sending ([tcp] zero_copy_send, on by default): segments leave in the buffers that
// hold their payload, the headers written in front of it, so:
//   - send() copies the application's bytes once, into one mbuf per segment, and no more;
//   - send_chunk() queues an mbuf the application filled, leaving it headroom (an rte_mbuf from
//     the worker's pool has 128 bytes; headers need at most 94): no copy at all. The application's
//     own memory goes the same way attached to an mbuf (rte_pktmbuf_attach_extbuf, data 94 bytes
//     or more into the buffer); its free callback runs once the bytes are acknowledged;
//   - send_received(from, n) queues the mbufs bytes arrived in (a proxy, or the echo above in
//     one line: c.send_received(c, c.readable())): no copy either way.
// A segment is copied after all when its mbuf is still referenced elsewhere (an earlier frame of
// it still on its way out); counters tcp_tx_zero_copy and tcp_tx_copied say how often.
#pragma once

#include "stack/tcp/connection.hpp"
#include "stack/tcp/host.hpp"
#include "stack/tcp/settings.hpp"
