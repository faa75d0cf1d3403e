#include "dpdk_app/control/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace redline::control {

namespace {
std::string errno_text() { return std::strerror(errno); }

bool make_address(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof addr->sun_path) return false;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

// True if something answers on `path` (a running redline), false for a stale file.
bool in_use(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool answered = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return answered;
}
}  // namespace

std::unique_ptr<Server> Server::open(const std::string& path, const CommandTable& table, std::string* error) {
  sockaddr_un addr;
  if (!make_address(path, &addr)) return *error = "control socket path '" + path + "' is too long", nullptr;
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return *error = "cannot create " + dir.string() + " for the control socket: " + ec.message(), nullptr;
  if (std::filesystem::exists(path, ec)) {
    if (in_use(addr)) return *error = "control socket " + path + " is in use: is another redline running?", nullptr;
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return *error = "cannot create the control socket: " + errno_text(), nullptr;
  // 0600 from the start: no window in which another user could connect.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (bound != 0 || ::listen(fd, 16) != 0) {
    *error = "cannot listen on control socket " + path + ": " + errno_text();
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<Server>(new Server(fd, path, table));
}

Server::~Server() {
  for (Client& c : clients_) ::close(c.fd);
  ::close(fd_);
  ::unlink(path_.c_str());
}

void Server::accept_clients() {
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: no more waiting
    Client c;
    c.fd = fd;
    if (clients_.size() >= kMaxClients) {
      c.out = CommandTable::error("too many control clients (" + std::to_string(kMaxClients) + ")").dump() + "\n";
      c.closing = true;
    }
    clients_.push_back(std::move(c));
  }
}

void Server::read_from(Client& c) {
  char buf[16384];
  bool ended = false;  // the client closed its side: answer what it sent, then close
  for (;;) {
    ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      ended = true;
      break;
    }
    if (n < 0) break;
    c.in.append(buf, size_t(n));
    if (c.in.size() > CommandTable::kMaxRequest + 1 && c.in.find('\n') == std::string::npos) {
      c.out += CommandTable::error("request longer than " + std::to_string(CommandTable::kMaxRequest) + " bytes").dump() + "\n";
      c.in.clear();
      c.closing = true;
      return;
    }
  }
  size_t start = 0;
  for (size_t nl; (nl = c.in.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(c.in.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    c.out += table_.execute(line).dump() + "\n";
  }
  c.in.erase(0, start);
  if (ended) c.closing = true;
  if (c.out.size() > kMaxPendingReply) c.closing = true, c.out.clear();
}

void Server::write_to(Client& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c.out.clear(), c.closing = true;
      return;
    }
    c.out.erase(0, size_t(n));
  }
}

void Server::poll(int timeout_ms) {
  std::vector<pollfd> fds;
  fds.push_back({fd_, POLLIN, 0});
  for (const Client& c : clients_)
    fds.push_back({c.fd, short((c.closing ? 0 : POLLIN) | (c.out.empty() ? 0 : POLLOUT)), 0});
  if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
  for (size_t i = 0; i < clients_.size(); ++i) {
    Client& c = clients_[i];
    const short ev = fds[i + 1].revents;
    if (ev & (POLLIN | POLLHUP | POLLERR)) read_from(c);
    if (!c.out.empty()) write_to(c);
  }
  // Accepted after serving, so a reply to a new client waits for its POLLOUT.
  if (fds[0].revents & POLLIN) accept_clients();
  for (Client& c : clients_) if (!c.out.empty()) write_to(c);
  std::erase_if(clients_, [](const Client& c) {
    if (c.closing && c.out.empty()) {
      ::close(c.fd);
      return true;
    }
    return false;
  });
}

}  // namespace redline::control
