// StopStrings: text fed in pieces ends at the first stop string, and no part of a stop
// string is ever emitted, wherever the pieces split it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tern/stop_strings.h"

namespace tern {
namespace {

// Feeds `text` in pieces of `size` bytes; what was emitted, and whether it stopped.
std::pair<std::string, bool> run(const std::vector<std::string>& stops, const std::string& text,
                                 size_t size) {
  StopStrings s(stops);
  std::string out;
  for (size_t at = 0; at < text.size() && !s.stopped(); at += size) {
    out += s.feed(std::string_view(text).substr(at, size));
  }
  out += s.flush();
  return {out, s.stopped()};
}

TEST(StopStrings, EndsAtTheFirstStopStringWhereverPiecesSplitIt) {
  const std::string text = "Hello world.\nUser: hi\n###";
  for (size_t size = 1; size <= text.size(); ++size) {
    EXPECT_EQ(run({"\nUser:", "###"}, text, size), std::make_pair(std::string("Hello world."), true))
        << size;
    EXPECT_EQ(run({"###"}, text, size), std::make_pair(std::string("Hello world.\nUser: hi\n"), true))
        << size;
  }
}

TEST(StopStrings, HeldBackTextComesOutWhenNoStopFollows) {
  for (size_t size = 1; size <= 6; ++size) {
    EXPECT_EQ(run({"abc"}, "xxabxab", size), std::make_pair(std::string("xxabxab"), false)) << size;
  }
  StopStrings s({"END"});
  EXPECT_EQ(s.feed("the E"), "the ");  // "E" may begin "END"
  EXPECT_EQ(s.feed("ND"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.feed("more"), "");
  EXPECT_EQ(s.flush(), "");
}

TEST(StopStrings, NoStopsOrEmptyStopsPassEverything) {
  EXPECT_EQ(run({}, "anything", 3), std::make_pair(std::string("anything"), false));
  EXPECT_EQ(run({""}, "anything", 3), std::make_pair(std::string("anything"), false));
}

}  // namespace
}  // namespace tern
