#include "backends/run_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "backends/rope_angles.h"
#include "tern/error.h"

namespace tern {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Tensor;

// A position as a word (kernels read positions as int32).
uint32_t position_word(int64_t pos) {
  if (pos < 0 || pos > std::numeric_limits<int32_t>::max()) {
    throw Error(fmt::format("position {} out of range", pos));
  }
  return static_cast<uint32_t>(pos);
}

void append_ids(const Graph& g, const Node& node, std::vector<uint32_t>& words) {
  const Tensor& table = g.tensor(node.in[0]);
  for (int32_t id : g.ids(g.tensor(node.in[1]))) {
    if (id < 0 || id >= table.rows) {
      throw Error(fmt::format("row id {} out of range [0, {})", id, table.rows));
    }
    words.push_back(static_cast<uint32_t>(id));
  }
}

void append_rope_angles(const Graph& g, const Node& node, std::vector<uint32_t>& words) {
  std::vector<float> factors;
  if (node.in[1] != graph::kNone) {
    const Tensor& f = g.tensor(node.in[1]);
    factors.resize(static_cast<size_t>(f.rows * f.cols));
    dequantize(f.type, f.data, factors.data(), f.rows * f.cols);
  }
  std::vector<float> angles = rope_angles(g.places(), std::get<graph::RopeParams>(node.params),
                                         factors.empty() ? nullptr : factors.data());
  size_t at = words.size();
  words.resize(at + angles.size());
  std::memcpy(words.data() + at, angles.data(), angles.size() * sizeof(float));
}

void append_attention_places(const Graph& g, const Node& node, std::vector<uint32_t>& words) {
  const Tensor& k = g.tensor(node.in[1]);
  const Tensor& v = g.tensor(node.in[2]);
  if (g.cache_rows_used() > std::min(k.rows, v.rows) || g.tensor(node.in[0]).rows != g.n_tokens()) {
    throw Error(fmt::format("attention over {} rows of a cache of {}", g.cache_rows_used(),
                            std::min(k.rows, v.rows)));
  }
  for (const graph::TokenPlace& place : g.places()) {
    words.push_back(position_word(place.pos));
    words.push_back(position_word(place.slot_row));
  }
  if (node.in[3] == graph::kNone) return;
  // The sinks, F32 [n_head] (a weight: GPU kernels find them here, not in a binding more).
  const Tensor& sinks = g.tensor(node.in[3]);
  const size_t at = words.size();
  words.resize(at + static_cast<size_t>(sinks.rows * sinks.cols));
  std::memcpy(words.data() + at, sinks.data, (words.size() - at) * sizeof(float));
}

void append_copy_rows(const Graph& g, const Node& node, std::vector<uint32_t>& words) {
  const Tensor& x = g.tensor(node.in[0]);
  const Tensor& dst = g.tensor(node.out);
  if (x.cols != dst.cols || x.rows != g.n_tokens() || g.cache_rows_used() > dst.rows) {
    throw Error(fmt::format("copy of {} rows up to row {} of a cache of {} rows", x.rows,
                            g.cache_rows_used() - 1, dst.rows));
  }
  for (const graph::TokenPlace& place : g.places()) words.push_back(position_word(place.cache_row()));
}

bool has_run_data(Op op) {
  return op == Op::GetRows || op == Op::Rope || op == Op::Attention || op == Op::Copy;
}

}  // namespace

void RunData::gather(const Graph& g, size_t first, size_t last) {
  words_.clear();
  at_.assign(last - first, 0);
  first_ = first;
  rope_tables_.clear();
  for (size_t i = first; i < last; ++i) {
    const Node& node = g.nodes()[i];
    if (!has_run_data(node.op)) continue;
    if (node.op == Op::Rope) {
      at_[i - first] = rope_table_at(g, node);
      continue;
    }
    at_[i - first] = start_node();
    if (node.op == Op::GetRows) append_ids(g, node, words_);
    if (node.op == Op::Attention) append_attention_places(g, node, words_);
    if (node.op == Op::Copy) append_copy_rows(g, node, words_);
  }
}

size_t RunData::start_node() {
  words_.resize((words_.size() + 3) & ~size_t{3});
  return words_.size();
}

size_t RunData::rope_table_at(const Graph& g, const Node& node) {
  const auto& p = std::get<graph::RopeParams>(node.params);
  const void* factors = node.in[1] != graph::kNone ? g.tensor(node.in[1]).data : nullptr;
  Rotation r{g.tensor(node.in[0]).rows,
             p.n_rot,
             p.freq_base,
             p.freq_scale,
             p.ext_factor,
             p.corr_low,
             p.corr_high,
             p.mscale,
             factors};
  for (const auto& [rotation, at] : rope_tables_) {
    if (rotation == r) return at;
  }
  size_t at = start_node();
  append_rope_angles(g, node, words_);
  rope_tables_.emplace_back(r, at);
  return at;
}

}  // namespace tern
