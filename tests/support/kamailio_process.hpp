// Starts Kamailio 5.6 as a real process (a registrar + record-routing proxy with SIP over WebSocket, optionally
// WSS) on free loopback ports, from a config written into a temporary directory, and stops it by PID.
//
//   wazo::test::KamailioProcess kam;                       // alice/alicepw, bob/bobpw, carol/carolpw @ wazo.test
//   ASSERT_TRUE(kam.running()) << kam.error();
//   connect to kam.ws_url() with Sec-WebSocket-Protocol: sip ...
//
// What the config does (see kamailio_process.cpp for the whole text):
// - listens on 127.0.0.1 only: WS on port(), WSS on tls_port() when `tls`; no UDP, no DNS;
// - OPTIONS to the proxy itself (no user part) is answered `200 Keepalive`, without auth;
// - REGISTER → registrar with in-memory usrloc (lost on restart), Contacts from WS clients are NAT-fixed;
// - digest auth (qop=auth, realm = domain, algorithm `digest_algorithm`) against a static table made from
//   `users`: REGISTER is challenged with 401, initial requests whose From domain is `domain` with 407;
//   in-dialog requests are not challenged;
// - initial INVITE/SUBSCRIBE/REFER are record-routed; requests to a registered user are relayed to its WS
//   connection (lookup in usrloc), to an unknown one get 404.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

#include "engine_process.hpp"  // TempDir

namespace wazo::test {

struct SipUser {
  std::string user;
  std::string password;
};

struct KamailioOptions {
  std::string domain = "wazo.test";  // alias + realm
  std::vector<SipUser> users = {{"alice", "alicepw"}, {"bob", "bobpw"}, {"carol", "carolpw"}};
  bool auth = true;                      // digest auth (REGISTER 401, initial requests from local users 407)
  bool tls = false;                      // also WSS, with a self-signed cert written to the temp dir
  std::uint16_t port = 0;                // WS port; 0: a free loopback port
  std::string digest_algorithm = "MD5";  // or "SHA-256" (RFC 8760), as Kamailio's auth module names them
  int tcp_children = 2;                  // Kamailio's TCP/WS worker processes
  int max_expires = 3600;                // registrar: the largest Expires granted
  bool debug_log = false;                // log every SIP message Kamailio receives (to log())
  // Kamailio's shared memory (-m), in MB. Each WS connection, open or closed for less than ~1-2 s, takes ~66 KB
  // of it; when it runs out, new connections are closed at once.
  int shm_mb = 64;
};

class KamailioProcess {
 public:
  // Writes the config into a TempDir, starts Kamailio and waits (up to ~10 s) for its ports to accept.
  explicit KamailioProcess(KamailioOptions options = {});
  ~KamailioProcess();  // stop()
  KamailioProcess(const KamailioProcess&) = delete;
  KamailioProcess& operator=(const KamailioProcess&) = delete;

  [[nodiscard]] bool running() const { return pid_ > 0; }
  // Why it did not start (with the tail of Kamailio's log); empty when it started.
  [[nodiscard]] const std::string& error() const { return error_; }

  [[nodiscard]] std::string ws_url() const;   // "ws://127.0.0.1:PORT"
  [[nodiscard]] std::string wss_url() const;  // "wss://127.0.0.1:TLS_PORT" when tls, else ""
  [[nodiscard]] std::string ca_file() const;  // the self-signed certificate (PEM) when tls, else ""
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::uint16_t tls_port() const { return tls_port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const KamailioOptions& options() const { return options_; }
  [[nodiscard]] std::string config_file() const;  // the kamailio.cfg it runs

  // SIGTERM to the PID, wait, SIGKILL (to its process group) after 5 s; reaps; returns the wait status
  // (-1 when it was not running).
  int stop();
  // stop() then start again on the SAME ports (registrations are lost). False, with error(), on failure.
  bool restart();
  // What Kamailio wrote to stdout/stderr so far (all its runs).
  [[nodiscard]] std::string log() const;

  // /usr/sbin/kamailio and its websocket module exist (and, for `tls`, its tls module).
  static bool available(bool tls = false);
  // A one-line message for a test that needs Kamailio and cannot find it.
  static std::string unavailable_message();

 private:
  bool start();
  bool start_once(std::string& why);
  bool write_files(std::string& why);

  KamailioOptions options_;
  TempDir dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::string error_;
};

// The PIDs of the live (not zombie) children of `parent`, read from /proc.
std::vector<pid_t> child_pids(pid_t parent);
// Whether `pid` names a live process (a zombie counts as gone).
bool process_alive(pid_t pid);

}  // namespace wazo::test
