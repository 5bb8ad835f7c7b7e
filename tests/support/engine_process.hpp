// Starts wazo-dev-engine as a real process on a free loopback port and stops it by PID.
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

namespace wazo::test {

class EngineProcess {
 public:
  // Extra arguments are appended to `--listen 127.0.0.1:0`. Waits for the "listening on URL" line.
  explicit EngineProcess(std::vector<std::string> extra_args = {});
  ~EngineProcess();
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] const std::string& url() const { return url_; }  // "http://127.0.0.1:PORT"
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& error() const { return error_; }

  // SIGTERM, then SIGKILL after 5 s; reaps the child and returns its wait status (-1 when none was running).
  int stop();
  // SIGKILL at once (a crash, for fault tests); reaps the child.
  void kill_now();

  static std::string binary();  // path of the wazo-dev-engine built with the tests

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
  std::string error_;
};

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace wazo::test
