// JSON Schema -> GBNF. Every object and array schema becomes a rule named after its place
// in the document; strings, numbers and the other primitives share fixed rules, written
// out only when used. $ref targets become rules too, so recursive schemas work.
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "grammar/gbnf_text.h"
#include "grammar/json_pattern.h"
#include "tern/error.h"
#include "tern/grammar.h"

namespace tern {

namespace {

using Json = nlohmann::ordered_json;  // keeps properties in the schema's order

// Counts above this would expand into too many grammar elements (see the GBNF parser).
constexpr uint64_t kMaxCount = 1000;

struct Primitive {
  const char* name;
  const char* body;
  std::vector<const char*> needs;
};

// Whitespace between tokens is bounded, so a model cannot pad forever.
const Primitive kPrimitives[] = {
    {"ws", R"(( " " | "\n" [ \t]{0,20} )?)", {}},
    {"json-char", R"([^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ))", {}},
    {"string", R"("\"" json-char* "\"")", {"json-char"}},
    {"integer", R"("-"? ( "0" | [1-9] [0-9]{0,15} ))", {}},
    {"number", R"(integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?)", {"integer"}},
    {"boolean", R"("true" | "false")", {}},
    {"null", R"("null")", {}},
    {"object",
     R"("{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}")",
     {"ws", "string", "value"}},
    {"array", R"("[" ws ( value ( ws "," ws value )* )? ws "]")", {"ws", "value"}},
    {"value",
     "object | array | string | number | boolean | null",
     {"object", "array", "string", "number", "boolean", "null"}},
};

const std::set<std::string, std::less<>> kKeywords = {
    "type",       "properties", "required", "additionalProperties",
    "items",      "minItems",   "maxItems", "minLength",
    "maxLength",  "pattern",    "enum",     "const",
    "anyOf",      "oneOf",      "$ref",     "$defs",
    "definitions"};
// Keywords that describe without constraining: accepted and left out of the grammar.
const std::set<std::string, std::less<>> kAnnotations = {
    "title",   "description", "$schema",    "$id",      "$comment",
    "default", "examples",    "deprecated", "readOnly", "writeOnly"};

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  return fmt::format("{}", fmt::join(parts, sep));
}

// "{a,b}", "{a,}" or "*" after an item repeated a to b times (b absent: unbounded).
std::string repetition(uint64_t min, std::optional<uint64_t> max) {
  if (!max) return min == 0 ? "*" : fmt::format("{{{},}}", min);
  return fmt::format("{{{},{}}}", min, *max);
}

class Converter {
 public:
  explicit Converter(const Json& doc) : doc_(doc) {
    for (const Primitive& p : kPrimitives) taken_.insert(p.name);
  }

  // Only the document's own object or array rule can take the name "root" (its hint).
  std::string run() {
    const std::string top = expression(doc_, "root", "#");
    std::string out = top == "root" ? "" : "root ::= " + top + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    for (const Primitive& p : kPrimitives) {
      if (used_.contains(p.name)) out += fmt::format("{} ::= {}\n", p.name, p.body);
    }
    return out;
  }

 private:
  [[noreturn]] static void fail(const std::string& path, std::string_view what) {
    throw Error(fmt::format("json schema: {}: {}", path, what));
  }

  std::string use(const char* name) {
    if (used_.insert(name).second) {
      for (const Primitive& p : kPrimitives) {
        if (std::string_view(p.name) == name) {
          for (const char* need : p.needs) use(need);
        }
      }
    }
    return name;
  }

  // A new rule named after `hint` (made a valid, unused name); its body comes later.
  size_t new_rule(const std::string& hint) {
    std::string base;
    for (char c : hint) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      base += ok ? c : '-';
    }
    std::string name = base;
    for (int n = 2; taken_.contains(name); ++n) name = fmt::format("{}-{}", base, n);
    taken_.insert(name);
    rules_.emplace_back(name, "");
    return rules_.size() - 1;
  }

  std::string define(const std::string& hint, const std::string& body) {
    const size_t i = new_rule(hint);
    rules_[i].second = body;
    return rules_[i].first;
  }

  static std::optional<uint64_t> count(const Json& s, const char* key, const std::string& path) {
    if (!s.contains(key)) return std::nullopt;
    const Json& v = s[key];
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
      fail(path, fmt::format("'{}' must be a non-negative integer", key));
    }
    if (v.get<uint64_t>() > kMaxCount) {
      fail(path, fmt::format("'{}' above {} is not supported", key, kMaxCount));
    }
    return v.get<uint64_t>();
  }

  static std::pair<uint64_t, std::optional<uint64_t>> bounds(const Json& s, const char* min_key,
                                                             const char* max_key,
                                                             const std::string& path) {
    const uint64_t min = count(s, min_key, path).value_or(0);
    const std::optional<uint64_t> max = count(s, max_key, path);
    if (max && *max < min) fail(path, fmt::format("'{}' is below '{}'", max_key, min_key));
    return {min, max};
  }

  static std::string literal(const Json& value) { return grammar::gbnf_literal(value.dump()); }

  std::string expression(const Json& s, const std::string& hint, const std::string& path) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return use("value");
      fail(path, "the schema false allows no value");
    }
    if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
    bool constrains = false;
    for (const auto& [key, value] : s.items()) {
      if (!kKeywords.contains(key) && !kAnnotations.contains(key)) {
        fail(path, fmt::format("unsupported keyword '{}'", key));
      }
      constrains |=
          kKeywords.contains(key) && key != "$ref" && key != "$defs" && key != "definitions";
    }
    if (s.contains("$ref")) {
      if (constrains) fail(path, "'$ref' beside other constraining keywords is not supported");
      return reference(s["$ref"], path);
    }
    if (s.contains("const")) return literal(s["const"]);
    if (s.contains("enum")) {
      const Json& values = s["enum"];
      if (!values.is_array() || values.empty()) fail(path, "'enum' must be a non-empty array");
      std::vector<std::string> alternatives;
      for (const Json& v : values) alternatives.push_back(literal(v));
      return "( " + join(alternatives, " | ") + " )";
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      if (s.contains("type")) fail(path, fmt::format("'{}' beside 'type' is not supported", key));
      const Json& subs = s[key];
      if (!subs.is_array() || subs.empty()) {
        fail(path, fmt::format("'{}' must be a non-empty array", key));
      }
      std::vector<std::string> alternatives;
      for (size_t i = 0; i < subs.size(); ++i) {
        alternatives.push_back(expression(subs[i], fmt::format("{}-{}", hint, i),
                                          fmt::format("{}/{}/{}", path, key, i)));
      }
      return "( " + join(alternatives, " | ") + " )";
    }
    if (!s.contains("type")) return typed(implied_type(s), s, hint, path);
    const Json& type = s["type"];
    if (type.is_string()) return typed(type.get<std::string>(), s, hint, path);
    if (!type.is_array() || type.empty()) fail(path, "'type' must be a string or an array");
    std::vector<std::string> alternatives;
    for (const Json& t : type) {
      if (!t.is_string()) fail(path, "'type' must be a string or an array of strings");
      alternatives.push_back(typed(t.get<std::string>(), s, hint, path));
    }
    return "( " + join(alternatives, " | ") + " )";
  }

  // The type a schema without "type" describes, from its keywords; "" for any value.
  static std::string implied_type(const Json& s) {
    if (s.contains("properties") || s.contains("additionalProperties")) return "object";
    if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) return "array";
    if (s.contains("minLength") || s.contains("maxLength") || s.contains("pattern")) {
      return "string";
    }
    return "";
  }

  std::string typed(const std::string& type, const Json& s, const std::string& hint,
                    const std::string& path) {
    if (type.empty()) return use("value");
    if (type == "string") return string_expression(s, path);
    if (type == "object") return object_rule(s, hint, path);
    if (type == "array") return array_rule(s, hint, path);
    for (const char* primitive : {"number", "integer", "boolean", "null"}) {
      if (type == primitive) return use(primitive);
    }
    fail(path, fmt::format("unknown type '{}'", type));
  }

  std::string reference(const Json& ref, const std::string& path) {
    if (!ref.is_string() || !ref.get<std::string>().starts_with("#")) {
      fail(path, "only '$ref' within the document (\"#/...\") is supported");
    }
    const std::string target = ref.get<std::string>();
    if (const auto it = refs_.find(target); it != refs_.end()) return it->second;
    Json::json_pointer pointer;
    try {
      pointer = Json::json_pointer(target.substr(1));
    } catch (const nlohmann::json::exception&) {
      fail(path, fmt::format("'$ref' {} is not a valid JSON pointer", target));
    }
    if (!doc_.contains(pointer)) fail(path, fmt::format("'$ref' {} points at nothing", target));
    // Named before its body is built, so a schema may refer to itself (a tree, a list).
    const size_t rule = new_rule("ref" + target.substr(1));
    refs_[target] = rules_[rule].first;
    const std::string body = expression(doc_.at(pointer), rules_[rule].first, target);
    rules_[rule].second = body;
    return rules_[rule].first;
  }

  std::string string_expression(const Json& s, const std::string& path) {
    const std::string quote = grammar::gbnf_literal("\"");
    if (s.contains("pattern")) {
      if (s.contains("minLength") || s.contains("maxLength")) {
        fail(path, "'pattern' beside 'minLength'/'maxLength' is not supported");
      }
      if (!s["pattern"].is_string()) fail(path, "'pattern' must be a string");
      try {
        return quote + " ( " +
               grammar::pattern_to_gbnf(s["pattern"].get<std::string>(), use("json-char")) + " ) " +
               quote;
      } catch (const Error& e) {
        fail(path + "/pattern", e.what());
      }
    }
    if (!s.contains("minLength") && !s.contains("maxLength")) return use("string");
    const auto [min, max] = bounds(s, "minLength", "maxLength", path);
    return quote + " " + use("json-char") + repetition(min, max) + " " + quote;
  }

  std::string object_rule(const Json& s, const std::string& hint, const std::string& path) {
    bool closed = false;  // additionalProperties: false
    if (s.contains("additionalProperties")) {
      const Json& extra = s["additionalProperties"];
      if (!extra.is_boolean()) {
        fail(path, "'additionalProperties' with a schema is not supported (only true or false)");
      }
      closed = !extra.get<bool>();
    }
    if (!s.contains("properties")) {
      if (s.contains("required")) fail(path, "'required' without 'properties'");
      return closed ? define(hint, R"("{" )" + use("ws") + R"( "}")") : use("object");
    }
    const Json& properties = s["properties"];
    if (!properties.is_object()) fail(path, "'properties' must be an object");
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) fail(path, "'required' must be an array");
      for (const Json& name : s["required"]) {
        if (!name.is_string() || !properties.contains(name.get<std::string>())) {
          fail(path, fmt::format("required property {} is not in 'properties'", name.dump()));
        }
        required.insert(name.get<std::string>());
      }
    }
    const size_t rule = new_rule(hint);
    const std::string name = rules_[rule].first;
    const std::string ws = use("ws");
    std::vector<std::string> members;  // "key": value, in the schema's order
    std::vector<bool> needed;
    for (const auto& [key, value] : properties.items()) {
      members.push_back(literal(Json(key)) + " " + ws + " \":\" " + ws + " " +
                        expression(value, name + "-" + key, path + "/properties/" + key));
      needed.push_back(required.contains(key));
    }
    rules_[rule].second =
        "\"{\" " + ws + " " + members_from(0, members, needed, name) + " " + ws + " \"}\"";
    return name;
  }

  // The members from `i` on when none has been written yet: the first present one has no
  // comma before it. An optional member gets a rule: present, or skipped.
  std::string members_from(size_t i, const std::vector<std::string>& members,
                           const std::vector<bool>& needed, const std::string& name) {
    if (i == members.size()) return "";
    const std::string present = members[i] + members_after(i + 1, members, needed);
    if (needed[i]) return present;
    return define(fmt::format("{}-from-{}", name, i),
                  present + " | " + members_from(i + 1, members, needed, name));
  }

  // The members from `i` on after one has been written: each with its comma.
  std::string members_after(size_t i, const std::vector<std::string>& members,
                            const std::vector<bool>& needed) {
    std::string out;
    for (size_t j = i; j < members.size(); ++j) {
      const std::string member = "ws \",\" ws " + members[j];
      out += needed[j] ? " " + member : " ( " + member + " )?";
    }
    return out;
  }

  std::string array_rule(const Json& s, const std::string& hint, const std::string& path) {
    const size_t rule = new_rule(hint);
    const std::string name = rules_[rule].first;
    if (s.contains("items") && s["items"].is_array()) {
      fail(path, "'items' as an array (a tuple) is not supported");
    }
    const std::string item = s.contains("items")
                                 ? expression(s["items"], name + "-item", path + "/items")
                                 : use("value");
    const auto [min, max] = bounds(s, "minItems", "maxItems", path);
    const std::string ws = use("ws");
    std::string list;
    if (max != 0u) {
      const std::optional<uint64_t> more = max ? std::optional(*max - 1) : std::nullopt;
      list = item + " ( " + ws + " \",\" " + ws + " " + item + " )" +
             repetition(min > 0 ? min - 1 : 0, more);
      if (min == 0) list = "( " + list + " )?";
    }
    rules_[rule].second = "\"[\" " + ws + " " + list + " " + ws + " \"]\"";
    return name;
  }

  const Json& doc_;
  std::vector<std::pair<std::string, std::string>> rules_;  // in the order they were named
  std::set<std::string> taken_;
  std::set<std::string> used_;  // primitives the grammar needs
  std::map<std::string, std::string> refs_;
};

}  // namespace

std::string json_schema_to_grammar(std::string_view schema_json) {
  Json doc;
  try {
    doc = Json::parse(schema_json);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("json schema: not valid JSON: {}", e.what()));
  }
  return Converter(doc).run();
}

}  // namespace tern
