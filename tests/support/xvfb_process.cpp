#include "xvfb_process.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server_process.hpp"

namespace wazo::test {

namespace {

using namespace std::chrono_literals;

constexpr const char* kXvfb = "/usr/bin/Xvfb";

std::string socket_path(int number) { return "/tmp/.X11-unix/X" + std::to_string(number); }

bool socket_accepts(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

bool XvfbProcess::available() { return access(kXvfb, X_OK) == 0; }

std::string XvfbProcess::unavailable_message() {
  return std::string("Xvfb is not installed: ") + kXvfb + " is needed; install the Debian package xvfb";
}

XvfbProcess::XvfbProcess(int width, int height) : width_(width), height_(height) {
  if (dir_.path().empty()) {
    error_ = "cannot create a temporary directory";
    return;
  }
  if (!available()) {
    error_ = unavailable_message();
    return;
  }
  // A display number nobody uses (a lock or socket left by another server means taken; Xvfb itself refuses a
  // number whose lock exists, and then another is tried).
  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                   static_cast<unsigned>(getpid()));
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int number = 100 + static_cast<int>(rng() % 800);
    if (access(("/tmp/.X" + std::to_string(number) + "-lock").c_str(), F_OK) == 0) continue;
    if (access(socket_path(number).c_str(), F_OK) == 0) continue;
    if (start_once(number, why)) return;
  }
  error_ = why.empty() ? "no free display number" : why;
}

XvfbProcess::~XvfbProcess() { stop(); }

int XvfbProcess::stop() { return stop_server(pid_); }

bool XvfbProcess::start_once(int number, std::string& why) {
  const std::string out_path = dir_.file("xvfb.out");
  const std::string screen = std::to_string(width_) + "x" + std::to_string(height_) + "x24";
  // -wr: a white root window (the screen a test then sees); -noreset: stays up when the last client leaves.
  std::vector<std::string> args = {
      kXvfb, ":" + std::to_string(number), "-screen", "0", screen, "-nolisten", "tcp", "-wr", "-noreset"};
  const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out_fd < 0) {
    why = "cannot open " + out_path;
    return false;
  }
  const pid_t pid = spawn_server(std::move(args), out_fd, why);
  close(out_fd);
  if (pid < 0) return false;
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      why = "Xvfb exited at start (status " + std::to_string(status) + "): " + tail_of(read_whole_file(out_path), 2000);
      return false;
    }
    if (socket_accepts(socket_path(number))) {
      display_ = ":" + std::to_string(number);
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  stop();
  why = "Xvfb did not open its socket within 10 s: " + tail_of(read_whole_file(out_path), 2000);
  return false;
}

ScopedEnv::ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) {
    had_ = true;
    old_ = old;
  }
  setenv(name_.c_str(), value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
  if (had_) {
    setenv(name_.c_str(), old_.c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

}  // namespace wazo::test
