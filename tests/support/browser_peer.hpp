// The browser peer of the media tests: `node tests/browser/driver.mjs` as a child process, which runs the Debian
// Chromium (playwright-core) with one page per SIP user, each page a sip.js UserAgent. Commands and events are
// JSON lines over the driver's stdin/stdout (the protocol is described at the top of driver.mjs).
//
//   wazo::test::BrowserPeer browser({.browser_dir = WAZO_BROWSER_DIR});
//   ASSERT_TRUE(browser.running()) << browser.error();
//   ASSERT_TRUE(browser.open({.page = "bob", .ws_url = kam.ws_url(), .user = "bob", .password = "bobpw"}));
//   auto call = browser.command({{"cmd", "call"}, {"page", "bob"}, {"target", "sip:alice@wazo.test"}});
//   auto up = browser.wait_event("established", 10s, {{"page", "bob"}});
//
// Commands (each names its "page"): open, close, register, unregister, set_auto_answer {enabled, video},
// call {target, video} -> {call, invite_sent_at}, answer {call, video}, reject {call, status}, hangup {call},
// hold {call, hold}, ice_restart {call} -> {before, after} (local and remote ufrags),
// dtmf {call, tones, method: "rtp"|"info"}, message {target | call, body, contentType}, refer {call, target},
// stats {call, window} -> {audio|video: {in, out}, pair, dtls, level}, sdp {call}, calls.
// Events: registered, unregistered, invite {call, from, video}, progress, rejected, established, terminated,
// reinvite {call, directions, ufrags}, track, pc_state, ice_state, message {from, body, call?},
// info {call, content_type, body}, notify {call, body}, refer, call_created, error, disconnected.
// Every event has "page" and "t" (epoch ms).
//
// Threads: command() and wait_event() may be called from any thread; they block the caller only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>
#include <nlohmann/json.hpp>

namespace wazo::test {

using Json = nlohmann::json;

struct BrowserPeerOptions {
  std::string browser_dir;                     // tests/browser; empty: $WAZO_BROWSER_DIR
  std::string node;                            // empty: `node` from PATH
  std::string chromium = "/usr/bin/chromium";  // given to the driver as WAZO_CHROMIUM
  std::chrono::milliseconds start_timeout{30000};
  bool verbose = false;  // echo the driver's stderr (and the pages' console) to ours; also $WAZO_BROWSER_VERBOSE
};

// One page's SIP user.
struct BrowserUser {
  std::string page;  // the page's name in commands and events; empty: user
  std::string ws_url;
  std::string user;
  std::string password;
  std::string domain = "wazo.test";
  Json ice_servers = Json::array();  // RTCIceServer objects: [{"urls": ..., "username": ..., "credential": ...}]
  bool relay_only = false;           // iceTransportPolicy "relay"
  bool auto_answer = true;           // answer every INVITE (with video when offered)
  bool do_register = true;
};

struct BrowserReply {
  bool ok = false;
  Json result;
  std::string error;  // when !ok: the driver's error, or why no reply came (with the driver's stderr tail)
  explicit operator bool() const { return ok; }
};

class BrowserPeer {
 public:
  // Starts the driver and waits for Chromium to run. On failure running() is false and error() says why
  // (a missing Chromium or node_modules names scripts/browser-setup.sh).
  explicit BrowserPeer(BrowserPeerOptions options = {});
  ~BrowserPeer();  // stop()
  BrowserPeer(const BrowserPeer&) = delete;
  BrowserPeer& operator=(const BrowserPeer&) = delete;

  [[nodiscard]] bool running() const;
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const Json& ready_info() const { return ready_; }  // {launch_ms, chromium, url}

  // Sends `cmd` (an object with "cmd" and usually "page"; an "id" is added) and waits for its reply.
  BrowserReply command(Json cmd, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Opens a page for `user`, starts its UserAgent and (unless !do_register) registers it.
  BrowserReply open(const BrowserUser& user, std::chrono::milliseconds timeout = std::chrono::seconds(15));

  // Takes the oldest not yet taken event of `type` whose fields include every field of `match` (an object),
  // waiting up to `timeout`. Other events stay queued.
  std::optional<Json> wait_event(const std::string& type, std::chrono::milliseconds timeout, const Json& match = {});
  // Drops every queued event (the history used by describe() stays).
  void clear_events();

  // The driver's stderr tail and the last events: for failure messages.
  [[nodiscard]] std::string describe() const;
  // The PIDs of the live processes under the driver (Chromium and its helpers), read from /proc.
  [[nodiscard]] std::vector<pid_t> descendants() const;

  // Closes the driver's stdin (it closes the pages, Chromium and its profile, then exits), SIGTERM after 8 s,
  // then SIGKILL to its process group and to every process that was under it. Returns the wait status.
  int stop();

 private:
  bool start();
  void read_stdout();
  void read_stderr();
  bool write_line(const std::string& line);
  void remember_descendants();

  BrowserPeerOptions options_;
  std::string error_;
  Json ready_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::thread out_thread_;
  std::thread err_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<long> next_id_{1};

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::mutex write_mutex_;
  bool exited_ = false;  // the driver's stdout closed
  std::map<long, Json> replies_;
  std::deque<Json> events_;
  std::deque<Json> history_;
  std::string stderr_;
  std::set<pid_t> known_descendants_;  // every PID ever seen under the driver
};

// Whether the browser peer can run: Chromium at `chromium`, node on PATH, and node_modules installed in
// `browser_dir`. Returns "" when it can, else what is missing and how to install it.
std::string browser_peer_missing(const std::string& browser_dir, const std::string& chromium = "/usr/bin/chromium");

}  // namespace wazo::test
