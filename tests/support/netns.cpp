#include "netns.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace wazo::test {
namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool write_file(const char* path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out.flush());
}

}  // namespace

std::string enter_loopback_only_netns() {
  const uid_t uid = geteuid();
  const gid_t gid = getegid();
  if (uid == 0) {
    if (unshare(CLONE_NEWNET) != 0) return errno_text("unshare(CLONE_NEWNET)");
  } else {
    // An unprivileged user: a user namespace in which we are root, then the network namespace.
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) return errno_text("unshare(CLONE_NEWUSER|CLONE_NEWNET)");
    write_file("/proc/self/setgroups", "deny");
    if (!write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n")) return "cannot write uid_map";
    if (!write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n")) return "cannot write gid_map";
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_text("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  std::string error;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    error = errno_text("SIOCGIFFLAGS lo");
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) error = errno_text("SIOCSIFFLAGS lo");
  }
  close(fd);
  if (!error.empty()) return error;
  for (const auto& name : interfaces_up()) {
    if (name != "lo") return "interface " + name + " is visible in the new namespace";
  }
  return {};
}

std::vector<std::string> interfaces_up() {
  std::set<std::string> names;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {};
  for (auto* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name != nullptr && (a->ifa_flags & IFF_UP) != 0) names.insert(a->ifa_name);
  }
  freeifaddrs(list);
  return {names.begin(), names.end()};
}

}  // namespace wazo::test
