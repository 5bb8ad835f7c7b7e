// coturn's `turnserver` as a real process on a free loopback port, for relay-only ICE in the media tests: one
// long-term-credential user, relaying on 127.0.0.1 only, with its own log and pid files in a temporary directory;
// stopped by PID.
//
//   wazo::test::TurnProcess turn;
//   ASSERT_TRUE(turn.running()) << turn.error();
//   ice server: {urls: turn.url(), username: turn.user(), credential: turn.password()}
#pragma once

#include <cstdint>
#include <string>

#include <sys/types.h>

#include "engine_process.hpp"  // TempDir

namespace wazo::test {

struct TurnOptions {
  std::string user = "wazo";
  std::string password = "wazopw";
  std::string realm = "wazo.test";
};

class TurnProcess {
 public:
  // Starts turnserver and waits (up to ~10 s) for its TCP listener to accept.
  explicit TurnProcess(TurnOptions options = {});
  ~TurnProcess();  // stop()
  TurnProcess(const TurnProcess&) = delete;
  TurnProcess& operator=(const TurnProcess&) = delete;

  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] const std::string& error() const { return error_; }  // why it did not start, with its log tail

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // "turn:127.0.0.1:PORT?transport=udp" (or tcp)
  [[nodiscard]] std::string url(const std::string& transport = "udp") const;
  [[nodiscard]] const std::string& user() const { return options_.user; }
  [[nodiscard]] const std::string& password() const { return options_.password; }
  [[nodiscard]] const std::string& realm() const { return options_.realm; }
  [[nodiscard]] std::uint16_t min_relay_port() const { return min_relay_port_; }
  [[nodiscard]] std::uint16_t max_relay_port() const { return max_relay_port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::string log() const;

  // SIGTERM to the PID, SIGKILL after 5 s; reaps; returns the wait status (-1 when it was not running).
  int stop();

  static bool available();
  static std::string unavailable_message();

 private:
  bool start_once(std::string& why);

  TurnOptions options_;
  TempDir dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t min_relay_port_ = 0;
  std::uint16_t max_relay_port_ = 0;
  std::string error_;
};

}  // namespace wazo::test
