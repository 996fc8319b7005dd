// JSON Schema -> GBNF: the grammar accepts the documents the schema allows and refuses the
// others; unsupported keywords and forms are errors that name them.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "grammar/compiled.h"
#include "grammar/matcher.h"
#include "tern/error.h"
#include "tern/grammar.h"

namespace tern {
namespace {

class SchemaGrammar {
 public:
  explicit SchemaGrammar(std::string_view schema)
      : gbnf_(json_schema_to_grammar(schema)),
        compiled_(std::make_shared<const grammar::CompiledGrammar>(grammar::compile(gbnf_))) {}

  bool allows(std::string_view json) const {
    grammar::Matcher m(compiled_);
    return m.accept(json) && m.can_end();
  }
  const std::string& gbnf() const { return gbnf_; }

 private:
  std::string gbnf_;
  std::shared_ptr<const grammar::CompiledGrammar> compiled_;
};

std::string error_of(std::string_view schema) {
  try {
    json_schema_to_grammar(schema);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JsonSchemaGrammar, ObjectsKeepThePropertyOrderAndTheRequiredOnes) {
  const SchemaGrammar g(R"({"type": "object", "properties": {
      "name": {"type": "string"}, "age": {"type": "integer"},
      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
    "required": ["name"]})");
  for (const char* ok :
       {R"({"name":"x"})", R"({"name":"x","age":3})", R"({"name": "x", "tags": ["a", "b"]})",
        R"({"name":"","age":-1,"tags":[]})", "{\n  \"name\": \"a\\\"b\",\n  \"age\": 0\n}"}) {
    EXPECT_TRUE(g.allows(ok)) << ok << "\n" << g.gbnf();
  }
  for (const char* bad : {"{}", R"({"age":3})", R"({"name":"x","extra":1})",
                          R"({"age":3,"name":"x"})", R"({"name":"x","tags":["a","b","c"]})",
                          R"({"name":"x","age":1.5})", R"({"name":"x",})", R"({"name":x})"}) {
    EXPECT_FALSE(g.allows(bad)) << bad;
  }
}

TEST(JsonSchemaGrammar, AllOptionalPropertiesNeedNoLeadingComma) {
  const SchemaGrammar g(R"({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"},
                            "c": {"type": "integer"}}, "additionalProperties": false})");
  for (const char* ok : {"{}", R"({"a":1})", R"({"b":2})", R"({"c":3})", R"({"a":1,"c":3})",
                         R"({"a":1,"b":2,"c":3})"}) {
    EXPECT_TRUE(g.allows(ok)) << ok;
  }
  for (const char* bad : {R"({,"b":2})", R"({"b":2,"a":1})", R"({"a":1,})"}) {
    EXPECT_FALSE(g.allows(bad)) << bad;
  }
}

TEST(JsonSchemaGrammar, EnumConstAnyOfAndTypeLists) {
  const SchemaGrammar e(R"({"enum": ["red", 3, null, {"k": [1, 2]}]})");
  for (const char* ok : {R"("red")", "3", "null", R"({"k":[1,2]})"}) EXPECT_TRUE(e.allows(ok));
  for (const char* bad : {R"("blue")", "4", R"("Red")"}) EXPECT_FALSE(e.allows(bad));
  const SchemaGrammar c(R"({"const": "fixed"})");
  EXPECT_TRUE(c.allows(R"("fixed")"));
  EXPECT_FALSE(c.allows(R"("other")"));
  const SchemaGrammar any_of(R"({"anyOf": [{"type": "boolean"}, {"type": "array"}]})");
  EXPECT_TRUE(any_of.allows("true"));
  EXPECT_TRUE(any_of.allows(R"([1, "a", {"x": null}])"));
  EXPECT_FALSE(any_of.allows("1"));
  const SchemaGrammar one_of(R"({"oneOf": [{"type": "integer"}, {"type": "null"}]})");
  EXPECT_TRUE(one_of.allows("7"));
  EXPECT_TRUE(one_of.allows("null"));
  const SchemaGrammar list(R"({"type": ["string", "null"]})");
  EXPECT_TRUE(list.allows(R"("s")"));
  EXPECT_TRUE(list.allows("null"));
  EXPECT_FALSE(list.allows("0"));
}

TEST(JsonSchemaGrammar, NumbersAndIntegers) {
  const SchemaGrammar n(R"({"type": "number"})");
  for (const char* ok : {"0", "-12", "3.25", "1e5", "-0.5E-3"}) EXPECT_TRUE(n.allows(ok)) << ok;
  for (const char* bad : {"012", "1.", ".5", "+1", "1e"}) EXPECT_FALSE(n.allows(bad)) << bad;
  const SchemaGrammar i(R"({"type": "integer"})");
  EXPECT_TRUE(i.allows("-40"));
  EXPECT_FALSE(i.allows("4.0"));
}

TEST(JsonSchemaGrammar, StringLengthsAndPatterns) {
  const SchemaGrammar len(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  EXPECT_FALSE(len.allows(R"("a")"));
  EXPECT_TRUE(len.allows(R"("ab")"));
  EXPECT_TRUE(len.allows(R"("a\nb")"));  // an escape is one character
  EXPECT_TRUE(len.allows("\"\xC3\xA9t\xC3\xA9\""));
  EXPECT_FALSE(len.allows(R"("abcd")"));
  const SchemaGrammar code(R"({"type": "string", "pattern": "^[A-Z]{2}-\\d{3}(x|yz)?$"})");
  EXPECT_TRUE(code.allows(R"("AB-123")"));
  EXPECT_TRUE(code.allows(R"("AB-123yz")"));
  EXPECT_FALSE(code.allows(R"("AB-12")"));
  EXPECT_FALSE(code.allows(R"("ab-123")"));
  const SchemaGrammar not_digit(R"({"pattern": "[^0-9]+\\.?"})");
  EXPECT_TRUE(not_digit.allows(R"("ab.")"));
  EXPECT_FALSE(not_digit.allows(R"("a1")"));
  EXPECT_FALSE(not_digit.allows(R"("a"b")"));
}

TEST(JsonSchemaGrammar, ArraysWithBounds) {
  const SchemaGrammar g(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1,
                            "maxItems": 3})");
  EXPECT_FALSE(g.allows("[]"));
  EXPECT_TRUE(g.allows("[1]"));
  EXPECT_TRUE(g.allows("[1, 2, 3]"));
  EXPECT_FALSE(g.allows("[1,2,3,4]"));
  EXPECT_FALSE(g.allows(R"(["a"])"));
  const SchemaGrammar empty(R"({"type": "array", "maxItems": 0})");
  EXPECT_TRUE(empty.allows("[]"));
  EXPECT_FALSE(empty.allows("[1]"));
}

TEST(JsonSchemaGrammar, ReferencesWithinTheDocument) {
  const SchemaGrammar tree(R"({"$defs": {"node": {"type": "object",
      "properties": {"v": {"type": "integer"}, "kids": {"type": "array",
        "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}},
    "$ref": "#/$defs/node"})");
  EXPECT_TRUE(tree.allows(R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4}]}]})"));
  EXPECT_FALSE(tree.allows(R"({"v":1,"kids":[{"w":2}]})"));
  const SchemaGrammar old(R"({"definitions": {"id": {"type": "integer"}},
    "type": "object", "properties": {"id": {"$ref": "#/definitions/id"}}, "required": ["id"]})");
  EXPECT_TRUE(old.allows(R"({"id":5})"));
  EXPECT_FALSE(old.allows(R"({"id":"5"})"));
}

TEST(JsonSchemaGrammar, EmptySchemaAllowsAnyValue) {
  for (const char* schema : {"{}", "true", R"({"title": "anything"})"}) {
    const SchemaGrammar g(schema);
    for (const char* ok : {"1", R"("s")", "[]", R"({"a": [true, null, {"b": -1.5}]})"}) {
      EXPECT_TRUE(g.allows(ok)) << schema << " " << ok;
    }
    EXPECT_FALSE(g.allows("{a: 1}"));
  }
  const SchemaGrammar open(R"({"type": "object"})");
  EXPECT_TRUE(open.allows(R"({"any": 1})"));
}

TEST(JsonSchemaGrammar, UnsupportedThingsAreErrorsThatNameThem) {
  EXPECT_EQ(error_of(R"({"type": "integer", "minimum": 0})"),
            "json schema: #: unsupported keyword 'minimum'");
  EXPECT_EQ(error_of(R"({"properties": {"when": {"type": "string", "format": "date"}}})"),
            "json schema: #/properties/when: unsupported keyword 'format'");
  EXPECT_EQ(error_of(R"({"additionalProperties": {"type": "string"}})"),
            "json schema: #: 'additionalProperties' with a schema is not supported (only true or "
            "false)");
  EXPECT_EQ(error_of(R"({"$ref": "other.json#/x"})"),
            "json schema: #: only '$ref' within the document (\"#/...\") is supported");
  EXPECT_EQ(error_of(R"({"$ref": "#/$defs/missing"})"),
            "json schema: #: '$ref' #/$defs/missing points at nothing");
  EXPECT_EQ(error_of(R"j({"type": "string", "pattern": "a(?=b)"})j"),
            "json schema: #/pattern: pattern: offset 2: groups other than ( ) and (?: ) are not "
            "supported");
  EXPECT_EQ(error_of(R"({"type": "strin"})"), "json schema: #: unknown type 'strin'");
  EXPECT_EQ(error_of("false"), "json schema: #: the schema false allows no value");
  EXPECT_EQ(error_of(R"({"type": "array", "minItems": 3, "maxItems": 2})"),
            "json schema: #: 'maxItems' is below 'minItems'");
  EXPECT_EQ(error_of(R"({"required": ["a"], "properties": {}})"),
            "json schema: #: required property \"a\" is not in 'properties'");
  EXPECT_NE(error_of("{\"type\": ").find("json schema: not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace tern
