// A private network namespace with only loopback, for tests in which ICE runs: no candidate and no packet can
// touch another interface. Call enter_loopback_only_netns() at the top of main(), before any thread exists
// (namespaces belong to threads; children started later inherit it).
#pragma once

#include <string>
#include <vector>

namespace wazo::test {

// unshare(CLONE_NEWNET) (with CLONE_NEWUSER when not root), then `lo` up. Returns "" on success, else why not.
std::string enter_loopback_only_netns();

// The names of the interfaces this process sees that are up.
std::vector<std::string> interfaces_up();

}  // namespace wazo::test
