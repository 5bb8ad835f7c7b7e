// Runs a program as a child process and collects what it prints (the CLI tests run the real `wazo` binary).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace wazo::test {

struct ProcessOutcome {
  int code = -1;  // exit code, or -1 when the process did not exit normally
  std::string out;
  std::string err;
};

// Runs `program args...` with `env_overrides` ("NAME=value", replacing any inherited NAME) added to the
// environment, feeding it `input` on stdin (then end-of-file), collecting stdout and stderr. After each read of
// stdout, `on_output(pid, out_so_far)` may act on the process (send it a signal). Killed after 60 s.
ProcessOutcome run_process(const std::string& program, const std::vector<std::string>& args,
                           const std::vector<std::string>& env_overrides, const std::string& input = {},
                           const std::function<void(pid_t, const std::string&)>& on_output = {});

}  // namespace wazo::test
