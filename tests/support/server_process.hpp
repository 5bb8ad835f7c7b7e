// What the fixtures that run a real server (Kamailio, coturn) share: start it in its own process group with its
// output in a log, stop it by PID, and read what it logged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

namespace wazo::test {

// fork + execv(args[0], args): its own process group (so a stuck server can be killed with its children), gone
// with the test process (PR_SET_PDEATHSIG), stdin from /dev/null, stdout and stderr to `log_fd` (left open for
// the caller to close). Returns the PID, or -1 with `why`.
pid_t spawn_server(std::vector<std::string> args, int log_fd, std::string& why);

// SIGTERM to `pid`, then SIGKILL to its process group after 5 s; reaps it, sets `pid` to -1 and returns its wait
// status (-1 when `pid` was not running).
int stop_server(pid_t& pid);

// A TCP connection to 127.0.0.1:port succeeds.
bool loopback_port_accepts(std::uint16_t port);

std::string read_whole_file(const std::string& path);

// The last `n` characters of `text`, with "..." in front when cut.
std::string tail_of(const std::string& text, std::size_t n);

}  // namespace wazo::test
