// The GBNF parser (every construct, errors with their positions) and the matcher (advancing
// over bytes, partial UTF-8, batched checks, the end of a sentence).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "grammar/compiled.h"
#include "grammar/matcher.h"
#include "tern/error.h"
#include "tern/grammar.h"

namespace tern::grammar {
namespace {

Matcher matcher_for(std::string_view gbnf) {
  return Matcher(std::make_shared<const CompiledGrammar>(compile(gbnf)));
}

// Whether `text` is a whole sentence of the grammar.
bool full_match(std::string_view gbnf, std::string_view text) {
  Matcher m = matcher_for(gbnf);
  return m.accept(text) && m.can_end();
}

// Whether `text` can begin a sentence of the grammar.
bool prefix_match(std::string_view gbnf, std::string_view text) {
  return matcher_for(gbnf).can_accept(text);
}

std::string error_of(std::string_view gbnf) {
  try {
    check_grammar(gbnf);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(GrammarParser, Literals) {
  EXPECT_TRUE(full_match(R"(root ::= "abc")", "abc"));
  EXPECT_FALSE(full_match(R"(root ::= "abc")", "ab"));
  EXPECT_TRUE(prefix_match(R"(root ::= "abc")", "ab"));
  EXPECT_FALSE(prefix_match(R"(root ::= "abc")", "abd"));
  EXPECT_TRUE(full_match(R"(root ::= "a" "b" "c")", "abc"));
  EXPECT_TRUE(full_match(R"(root ::= "")", ""));
}

TEST(GrammarParser, Escapes) {
  EXPECT_TRUE(full_match(R"(root ::= "\n\t\r\\\"")", "\n\t\r\\\""));
  EXPECT_TRUE(full_match(R"(root ::= "\x41\u00e9\U0001F600")", "A\xC3\xA9\xF0\x9F\x98\x80"));
  EXPECT_TRUE(full_match("root ::= \"\xC3\xA9t\xC3\xA9\"", "\xC3\xA9t\xC3\xA9"));  // raw UTF-8
  EXPECT_TRUE(full_match(R"(root ::= [\]\-\\]+)", "]-\\"));
}

TEST(GrammarParser, AlternationAndGrouping) {
  const char* g = R"(root ::= "a" ("b" | "c" "d") | "e")";
  EXPECT_TRUE(full_match(g, "ab"));
  EXPECT_TRUE(full_match(g, "acd"));
  EXPECT_TRUE(full_match(g, "e"));
  EXPECT_FALSE(full_match(g, "ac"));
  EXPECT_FALSE(full_match(g, "ae"));
}

TEST(GrammarParser, Repetitions) {
  EXPECT_TRUE(full_match(R"(root ::= "a"*)", ""));
  EXPECT_TRUE(full_match(R"(root ::= "a"*)", "aaaa"));
  EXPECT_FALSE(full_match(R"(root ::= "a"+)", ""));
  EXPECT_TRUE(full_match(R"(root ::= "a"+)", "aaa"));
  EXPECT_TRUE(full_match(R"(root ::= "a"? "b")", "b"));
  EXPECT_TRUE(full_match(R"(root ::= "a"? "b")", "ab"));
  EXPECT_FALSE(full_match(R"(root ::= "a"? "b")", "aab"));
  EXPECT_TRUE(full_match(R"(root ::= "ab"{2})", "abab"));
  EXPECT_FALSE(full_match(R"(root ::= "ab"{2})", "ab"));
  for (int n = 0; n <= 5; ++n) {
    const std::string text(size_t(n), 'x');
    EXPECT_EQ(full_match(R"(root ::= "x"{2,4})", text), n >= 2 && n <= 4) << n;
    EXPECT_EQ(full_match(R"(root ::= "x"{3,})", text), n >= 3) << n;
    EXPECT_EQ(full_match(R"(root ::= "x"{,2})", text), n <= 2) << n;
  }
  EXPECT_TRUE(full_match(R"(root ::= ("a" | "b"){1,3} "c")", "bac"));
}

TEST(GrammarParser, CharacterClasses) {
  const char* g = R"(root ::= [a-z0-9_]+)";
  EXPECT_TRUE(full_match(g, "ab_09"));
  EXPECT_FALSE(full_match(g, "aB"));
  const char* negated = R"(root ::= "\"" [^"\\\n]* "\"")";
  EXPECT_TRUE(full_match(negated, "\"hi there\""));
  EXPECT_FALSE(full_match(negated, "\"a\nb\""));
  EXPECT_TRUE(full_match(R"(root ::= [\u00e0-\u00ff])", "\xC3\xA9"));  // é
  EXPECT_TRUE(full_match(R"(root ::= [-a])", "-"));
  EXPECT_TRUE(full_match(R"(root ::= . .)", "\xE2\x82\xAC!"));  // "." is any character
}

TEST(GrammarParser, RulesCommentsAndNewlines) {
  const char* g = R"(
# a list of numbers
root ::= num ("," ws num)*   # trailing comment
num ::= [0-9]+
ws ::=
  " "?
)";
  EXPECT_TRUE(full_match(g, "1,22, 333"));
  EXPECT_FALSE(full_match(g, "1,,2"));
  EXPECT_TRUE(full_match("root ::= a\na ::= \"x\" a | \"y\"", "xxy"));  // right recursion
}

TEST(GrammarParser, ErrorsGiveTheirPosition) {
  EXPECT_EQ(error_of("root ::= foo"), "grammar: 1:10: undefined rule 'foo'");
  EXPECT_EQ(error_of("root ::= (\"a\" | \"b\""), "grammar: 1:10: unbalanced '(': no matching ')'");
  EXPECT_EQ(error_of("root ::= \"a\")"), "grammar: 1:13: unbalanced ')'");
  EXPECT_EQ(error_of("root ::= \"\\q\""), "grammar: 1:11: bad escape '\\q'");
  EXPECT_EQ(error_of("root ::= \"\\x4\""), "grammar: 1:11: bad escape: '\\x' needs 2 hex digits");
  EXPECT_EQ(error_of("a ::= \"x\""), "grammar: 1:1: no rule named 'root' (the start rule)");
  EXPECT_EQ(error_of("root ::= \"abc"), "grammar: 1:10: unterminated string literal");
  EXPECT_EQ(error_of("root ::= [a-"), "grammar: 1:10: unterminated character class: no ']'");
  EXPECT_EQ(error_of("root ::= []"), "grammar: 1:10: empty character class");
  EXPECT_EQ(error_of("root ::= [z-a]"), "grammar: 1:11: range U+007A-U+0061 is reversed");
  EXPECT_EQ(error_of("root ::= * \"a\""), "grammar: 1:10: '*' has nothing to repeat");
  EXPECT_EQ(error_of("root ::= \"a\"{3,1}"), "grammar: 1:13: repetition {3,1} has max < min");
  EXPECT_EQ(error_of("root ::= \"a\"{2"), "grammar: 1:15: expected '}' to close the repetition");
  EXPECT_EQ(error_of("root ::= \"a\"\nroot ::= \"b\""),
            "grammar: 2:1: rule 'root' is defined twice");
  EXPECT_EQ(error_of("root \"a\""), "grammar: 1:6: expected '::=' after 'root'");
  EXPECT_EQ(error_of("root ::= \"a\" ;"), "grammar: 1:14: unexpected character ';'");
  EXPECT_EQ(error_of("root ::= \"a\"{1,5000}"), "grammar: 1:16: repetition count above 1000");
}

TEST(GrammarParser, RefusesLeftRecursion) {
  EXPECT_EQ(error_of("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\""),
            "grammar: 2:1: rule 'expr' is left-recursive (it can reach itself before matching "
            "a character)");
  // Indirect, through a rule that can match nothing.
  EXPECT_NE(error_of("root ::= a\na ::= b a \"x\" | \"y\"\nb ::= \"z\"?").find("left-recursive"),
            std::string::npos);
  // Repeating something that can be empty would loop the same way.
  EXPECT_NE(error_of("root ::= (\"a\"?)*").find("left-recursive"), std::string::npos);
}

TEST(GrammarMatcher, CanEndOnlyAfterAWholeSentence) {
  Matcher m = matcher_for(R"(root ::= "ab" | "abc")");
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept("a"));
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept("b"));
  EXPECT_TRUE(m.can_end());
  ASSERT_TRUE(m.accept("c"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.accept("c"));
  EXPECT_TRUE(m.can_end());  // a refused text leaves the state as it was
  m.reset();
  EXPECT_FALSE(m.can_end());
}

TEST(GrammarMatcher, TextsMayCrossElementsAndRules) {
  Matcher m = matcher_for(R"(root ::= "{" key ":" [0-9]+ "}"
key ::= "\"" [a-z]+ "\"")");
  EXPECT_TRUE(m.can_accept("{\"ab"));
  EXPECT_FALSE(m.can_accept("{\"aB"));
  ASSERT_TRUE(m.accept("{\"ab\":1"));
  EXPECT_TRUE(m.can_accept("2}"));
  EXPECT_FALSE(m.can_accept("}}"));
  ASSERT_TRUE(m.accept("}"));
  EXPECT_TRUE(m.can_end());
}

TEST(GrammarMatcher, KeepsAnUnfinishedCharacterBetweenTexts) {
  Matcher m = matcher_for(R"(root ::= "caf\u00e9" "!")");  // é is C3 A9
  ASSERT_TRUE(m.accept("caf\xC3"));
  EXPECT_FALSE(m.can_end());
  EXPECT_FALSE(m.can_accept("\xA8"));  // è: the wrong character
  EXPECT_FALSE(m.can_accept("!"));     // not a continuation byte
  ASSERT_TRUE(m.accept("\xA9!"));
  EXPECT_TRUE(m.can_end());

  Matcher euro = matcher_for(R"(root ::= [\u20ac])");  // € is E2 82 AC
  EXPECT_TRUE(euro.can_accept("\xE2"));
  EXPECT_FALSE(euro.can_accept("\xE3"));  // U+3000 and up cannot be €
  ASSERT_TRUE(euro.accept("\xE2"));
  ASSERT_TRUE(euro.accept("\x82"));
  EXPECT_FALSE(euro.can_end());
  ASSERT_TRUE(euro.accept("\xAC"));
  EXPECT_TRUE(euro.can_end());
}

TEST(GrammarMatcher, RefusesInvalidUtf8) {
  Matcher m = matcher_for(R"(root ::= [^a]*)");
  EXPECT_FALSE(m.can_accept("\x80"));          // a lone continuation byte
  EXPECT_FALSE(m.can_accept("\xC0\xAF"));      // overlong "/"
  EXPECT_FALSE(m.can_accept("\xED\xA0\x80"));  // a surrogate
  EXPECT_FALSE(m.can_accept("\xFF"));
  EXPECT_TRUE(m.can_accept("\xC3"));
}

TEST(GrammarMatcher, BatchedChecksAgreeWithSingleOnes) {
  Matcher m = matcher_for(R"(root ::= ("ab" | "ac" | [x-z]+ "!")* "." )");
  ASSERT_TRUE(m.accept("ab"));
  const std::vector<std::string_view> texts = {"a",   "ab", "abac", "ad", "x",    "xy!",
                                               "x!a", ".",  "..",   "",   "\xC3", "zz!ac."};
  std::vector<uint8_t> ok;
  m.can_accept_each(texts, ok);
  ASSERT_EQ(ok.size(), texts.size());
  const std::vector<uint8_t> expected = {1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 0, 1};
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(ok[i], expected[i]) << "'" << texts[i] << "'";
    EXPECT_EQ(m.can_accept(texts[i]), expected[i] != 0) << "'" << texts[i] << "'";
  }
}

TEST(GrammarMatcher, IndexedChecksAgreeWithDirectOnes) {
  const std::vector<std::string_view> texts = {
      "a",    "ab",   "abac",  "ad",       "x",         "xy!",   "x!a",  ".",        "..", "",
      "\xC3", "\xA9", "\xA9.", "\xC3\xA9", "\xC3\xA9!", "z\xC3", "\x80", "\xE2\x82", "y",  "!"};
  const TextIndex index{std::vector<std::string_view>(texts)};
  Matcher m = matcher_for(R"(root ::= ("ab" | "ac" | [x-z\u00e9]+ "!" | [^a-z.!]+)* ".")");
  // At the start, after some text, and inside a character (texts then read differently).
  for (std::string_view step : {"", "ab", "\xC3"}) {
    ASSERT_TRUE(m.accept(step)) << step;
    std::vector<uint8_t> indexed, direct;
    m.can_accept_all(index, indexed);
    m.can_accept_each(texts, direct);
    ASSERT_EQ(indexed.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ(indexed[i], direct[i]) << "after '" << step << "': '" << texts[i] << "'";
      EXPECT_EQ(direct[i] != 0, m.can_accept(texts[i])) << "'" << texts[i] << "'";
    }
  }
}

}  // namespace
}  // namespace tern::grammar
