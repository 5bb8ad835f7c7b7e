// What the fixtures that run a real server (Kamailio, coturn, Xvfb, PulseAudio) share: start it in its own process
// group with its output in a log, wait until it is ready, stop it by PID, and read what it logged.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace wazo::test {

// fork + execv(args[0], args): its own process group (so a stuck server can be killed with its children), gone
// with the test process (PR_SET_PDEATHSIG), stdin from /dev/null, stdout and stderr to `log_fd` (left open for
// the caller to close). Returns the PID, or -1 with `why`.
pid_t spawn_server(std::vector<std::string> args, int log_fd, std::string& why);

// How to start a server and know it is ready.
struct ServerStart {
  std::string name;               // in messages: "Xvfb exited at start ..."
  std::vector<std::string> args;  // args[0] is the program's path
  std::string output;             // file the server's stdout and stderr are appended to
  // Polled every 20 ms with the server's PID until it holds (ready) or the timeout passes.
  std::function<bool(pid_t)> ready;
  std::string waiting_for;  // what `ready` checks, for the timeout message: "listen on 127.0.0.1:3478"
  std::chrono::milliseconds timeout{10'000};
  // What a failure quotes besides `output`'s new part (a log file the server writes itself); may be empty.
  std::function<std::string()> extra_log;
};

// Why a fixture cannot start its server (no temporary directory; the program not installed: `not_installed`),
// or empty when it can.
std::string why_not_startable(bool have_directory, bool installed, const std::string& not_installed);

// spawn_server + wait: the PID of a server that is ready, or -1 with `why` saying whether it exited at start (with
// its wait status) or was not ready in time (then stopped), with the tail of what it logged since this start.
pid_t start_server(ServerStart start, std::string& why);

// SIGTERM to `pid`, then SIGKILL to its process group after 5 s; reaps it, sets `pid` to -1 and returns its wait
// status (-1 when `pid` was not running).
int stop_server(pid_t& pid);

// A TCP connection to 127.0.0.1:port succeeds.
bool loopback_port_accepts(std::uint16_t port);

// A connection to the Unix stream socket at `path` succeeds.
bool unix_socket_accepts(const std::string& path);

std::string read_whole_file(const std::string& path);

// The last `n` characters of `text`, with "..." in front when cut.
std::string tail_of(const std::string& text, std::size_t n);

}  // namespace wazo::test
