// The control socket: a unix stream socket served by the control thread, never by a worker.
//
// Problem: many clients, some slow or hostile, and a control thread that must keep serving the
// rest (and never stall the workers). Choice: non-blocking sockets and poll(), one buffer in and
// one out per client; a request line beyond CommandTable::kMaxRequest, a client that does not
// read its replies, or more than kMaxClients clients get an error and are closed. A client that
// connects and says nothing costs one idle descriptor. The socket is mode 0600, so only root
// (redline's user) can connect.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dpdk_app/control/command_table.hpp"

namespace redline::control {

class Server {
 public:
  static constexpr size_t kMaxClients = 64;
  static constexpr size_t kMaxPendingReply = 4 << 20;  // a client that stops reading is dropped

  // Creates the socket's directory if missing; replaces a stale socket file, refuses one that
  // another process is serving.
  static std::unique_ptr<Server> open(const std::string& path, const CommandTable& table, std::string* error);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves whatever is ready, waiting at most `timeout_ms` for something to be.
  void poll(int timeout_ms);
  size_t clients() const { return clients_.size(); }
  const std::string& path() const { return path_; }

 private:
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    bool closing = false;  // close once `out` is written
  };
  Server(int fd, std::string path, const CommandTable& table) : fd_(fd), path_(std::move(path)), table_(table) {}
  void accept_clients();
  void read_from(Client& c);
  void write_to(Client& c);

  int fd_;
  std::string path_;
  const CommandTable& table_;
  std::vector<Client> clients_;
};

}  // namespace redline::control
