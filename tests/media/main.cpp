// The media tests' main(): every test of this executable runs in a private network namespace that has only
// loopback (ICE must never see or use another interface), then GoogleTest runs as usual.
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "netns.hpp"

int main(int argc, char** argv) {
  if (const std::string error = wazo::test::enter_loopback_only_netns(); !error.empty()) {
    std::fprintf(stderr, "media tests need a loopback-only network namespace and could not make one: %s\n",
                 error.c_str());
    return 1;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
