#include "turn_process.hpp"

#include "server_process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace wazo::test {

namespace {

using namespace std::chrono_literals;

constexpr const char* kTurnserver = "/usr/bin/turnserver";
constexpr int kRelayPorts = 200;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

bool can_bind(int type, std::uint16_t port) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in addr = loopback(port);
  const bool ok = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// A loopback port free for both TCP and UDP (TURN listens on both).
std::uint16_t free_tcp_udp_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    std::uint16_t port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    if (port != 0 && can_bind(SOCK_DGRAM, port)) return port;
  }
  return 0;
}

}  // namespace

bool TurnProcess::available() { return access(kTurnserver, X_OK) == 0; }

std::string TurnProcess::unavailable_message() {
  return std::string("coturn is not installed: ") + kTurnserver + " is needed; install the Debian package coturn";
}

TurnProcess::TurnProcess(TurnOptions options) : options_(std::move(options)) {
  error_ = why_not_startable(!dir_.path().empty(), available(), unavailable_message());
  if (!error_.empty()) return;
  std::string why;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (start_once(why)) return;
  }
  error_ = why;
}

TurnProcess::~TurnProcess() { stop(); }

std::string TurnProcess::url(const std::string& transport) const {
  return "turn:127.0.0.1:" + std::to_string(port_) + "?transport=" + transport;
}

std::string TurnProcess::log() const { return read_whole_file(dir_.file("turnserver.log")); }

bool TurnProcess::start_once(std::string& why) {
  port_ = free_tcp_udp_port();
  if (port_ == 0) {
    why = "no free loopback port";
    return false;
  }
  // A random relay range, so that two servers (or parallel test runs) rarely share one.
  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                   static_cast<unsigned>(getpid()));
  min_relay_port_ = static_cast<std::uint16_t>(20000 + (rng() % 200) * kRelayPorts);
  max_relay_port_ = static_cast<std::uint16_t>(min_relay_port_ + kRelayPorts - 1);

  const std::string log_path = dir_.file("turnserver.log");
  ServerStart start;
  start.name = "turnserver";
  start.args = {kTurnserver,
                "-n",  // no configuration file: only these options
                "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port=" + std::to_string(port_),
                "--min-port=" + std::to_string(min_relay_port_), "--max-port=" + std::to_string(max_relay_port_),
                "--lt-cred-mech", "--user=" + options_.user + ":" + options_.password, "--realm=" + options_.realm,
                // Peers on 127.x are refused by default; every peer of these tests is there.
                "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780",
                "--no-stun-backward-compatibility", "--userdb=" + dir_.file("turndb"),
                "--pidfile=" + dir_.file("turnserver.pid"), "--log-file=" + log_path, "--simple-log"};
  start.output = dir_.file("turnserver.out");
  start.ready = [port = port_](pid_t) { return loopback_port_accepts(port); };
  start.waiting_for = "listen on 127.0.0.1:" + std::to_string(port_);
  start.extra_log = [log_path] { return read_whole_file(log_path); };
  pid_ = start_server(std::move(start), why);
  return pid_ > 0;
}

int TurnProcess::stop() { return stop_server(pid_); }

}  // namespace wazo::test
