#include "server_process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace wazo::test {

using namespace std::chrono_literals;

pid_t spawn_server(std::vector<std::string> args, int log_fd, std::string& why) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) why = std::string("fork failed: ") + std::strerror(errno);
  return pid < 0 ? -1 : pid;
}

std::string why_not_startable(bool have_directory, bool installed, const std::string& not_installed) {
  if (!have_directory) return "cannot create a temporary directory";
  return installed ? std::string() : not_installed;
}

pid_t start_server(ServerStart start, std::string& why) {
  const std::size_t output_start = read_whole_file(start.output).size();
  auto logged = [&] {
    std::string text = read_whole_file(start.output).substr(output_start);
    if (start.extra_log) text += start.extra_log();
    return tail_of(text, 3000);
  };
  const int out_fd = open(start.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out_fd < 0) {
    why = "cannot open " + start.output + ": " + std::strerror(errno);
    return -1;
  }
  pid_t pid = spawn_server(std::move(start.args), out_fd, why);
  close(out_fd);
  if (pid < 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + start.timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      why = start.name + " exited at start (status " + std::to_string(status) + "): " + logged();
      return -1;
    }
    if (start.ready(pid)) return pid;
    std::this_thread::sleep_for(20ms);
  }
  stop_server(pid);
  why = start.name + " did not " + start.waiting_for + " within " + std::to_string(start.timeout.count()) +
        " ms: " + logged();
  return -1;
}

int stop_server(pid_t& pid) {
  if (pid <= 0) return -1;
  kill(pid, SIGTERM);
  int status = -1;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      pid = -1;
      return status;
    }
    std::this_thread::sleep_for(20ms);
  }
  kill(-pid, SIGKILL);  // the process group: the main process and any child it left behind
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  pid = -1;
  return status;
}

bool loopback_port_accepts(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool unix_socket_accepts(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail_of(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

}  // namespace wazo::test
