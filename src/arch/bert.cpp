// bert: a BERT encoder (all-MiniLM and other sentence embedders). Token, absolute position
// and token-type embeddings summed and layer-normed; post-norm layers (LayerNorm with
// bias after each residual add) whose attention sees the whole text in both directions and
// whose feed-forward is up -> erf GELU -> down, every projection biased. There is no
// vocabulary head: only embeddings sessions can use it.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "arch/blocks.h"
#include "tern/error.h"

namespace tern {

namespace {

using graph::TensorId;

struct Norm {
  Weight w, b;
};

struct BertLayer {
  blocks::AttentionWeights attn;
  Norm attn_norm;  // after the attention's residual add
  Weight up, up_bias, down, down_bias;
  Norm ffn_norm;  // after the feed-forward's residual add
};

class Bert final : public ArchModel {
 public:
  Bert(const gguf::File& file, TensorVisitor& tensors) {
    spec_ = read_model_spec(file);
    eps_ =
        SpecReader(file, spec_.arch).get_positive_float_or("attention.layer_norm_epsilon", 1e-12f);
    // llama.cpp's converter writes the type count with the tokenizer; BERT's is 2.
    if (file.find("tokenizer.ggml.token_type_count") != nullptr) {
      n_token_types_ = file.get_int("tokenizer.ggml.token_type_count");
    }
    layer_ropes_.resize(static_cast<size_t>(spec_.n_layer));  // positions are embedded, not rotated
    visit(tensors);
  }

  bool encoder() const override { return true; }

  void build(graph::Graph& g, const BatchInputs& in) const override {
    const ModelSpec& s = spec_;
    TensorId x = blocks::embed(g, tok_embd_, in.tokens);  // [n, n_embd]
    x = g.add(x, g.get_rows(use(g, position_embd_), g.input(positions(g))));
    x = g.add(x, use(g, token_type0_));  // every token is of type 0 (one text)
    x = layer_norm(g, x, embd_norm_);
    for (int il = 0; il < s.n_layer; ++il) {
      const BertLayer& l = layers_[static_cast<size_t>(il)];
      g.set_layer(il);
      TensorId att =
          blocks::attention(g, x, s, l.attn, {.encoder = true}, in.cache[static_cast<size_t>(il)]);
      x = layer_norm(g, g.add(x, att), l.attn_norm);
      TensorId h = g.gelu(g.add(g.matmul(use(g, l.up), x), use(g, l.up_bias)));  // [n, n_ff]
      h = g.add(g.matmul(use(g, l.down), h), use(g, l.down_bias));               // [n, n_embd]
      x = layer_norm(g, g.add(x, h), l.ffn_norm);
    }
    g.set_layer(static_cast<int>(s.n_layer));
    g.finish(g.get_rows(x, g.input(in.output_rows)));  // the last layer's norm is the output's
  }

 private:
  TensorId layer_norm(graph::Graph& g, TensorId x, const Norm& n) const {
    return g.layer_norm(x, use(g, n.w), use(g, n.b), eps_);
  }

  // The tokens' positions, which index the position embeddings. Every token must see the
  // whole text, so a text is read in one micro-batch from position 0.
  std::vector<int32_t> positions(const graph::Graph& g) const {
    for (const graph::Segment& seg : g.segments()) {
      if (seg.pos0 != 0) {
        throw Error(fmt::format(
            "bert: a text must be read in one micro-batch (this one starts at position {}): "
            "make the batch size at least the text's length",
            seg.pos0));
      }
      if (seg.n_rows > spec_.n_ctx_train) {
        throw Error(fmt::format("bert: a text of {} tokens is longer than the model's {}",
                                seg.n_rows, spec_.n_ctx_train));
      }
    }
    std::vector<int32_t> pos;
    for (const graph::TokenPlace& p : g.places()) pos.push_back(static_cast<int32_t>(p.pos));
    return pos;
  }

  void bind_norm(TensorVisitor& b, Norm& n, const std::string& name, bool layer) {
    const int64_t e = spec_.n_embd;
    if (layer) {
      b.bind_layer(n.w, name + ".weight", {e});
      b.bind_layer(n.b, name + ".bias", {e});
    } else {
      b.bind(n.w, name + ".weight", {e});
      b.bind(n.b, name + ".bias", {e});
    }
  }

  // The one list of the model's tensors: loading, validation and size accounting.
  void visit(TensorVisitor& b) {
    const ModelSpec& s = spec_;
    b.bind(tok_embd_, "token_embd.weight", {s.n_embd, s.n_vocab});
    b.bind(position_embd_, "position_embd.weight", {s.n_embd, s.n_ctx_train});
    Weight token_types;  // [n_types, n_embd]: a text is one segment, of type 0
    b.bind(token_types, "token_types.weight", {s.n_embd, n_token_types_});
    token_type0_ = token_types.rows(0, 1);
    bind_norm(b, embd_norm_, "token_embd_norm", false);
    layers_.resize(static_cast<size_t>(s.n_layer));
    for (int il = 0; il < s.n_layer; ++il) {
      BertLayer& l = layers_[static_cast<size_t>(il)];
      b.set_layer(il);
      blocks::bind_qkv(b, s, l.attn);
      blocks::bind_qkv_bias(b, s, l.attn);
      blocks::bind_attn_output(b, s, l.attn);
      b.bind_layer(l.attn.bo, "attn_output.bias", {s.n_embd});
      bind_norm(b, l.attn_norm, "attn_output_norm", true);
      b.bind_layer(l.up, "ffn_up.weight", {s.n_embd, s.n_ff});
      b.bind_layer(l.up_bias, "ffn_up.bias", {s.n_ff});
      b.bind_layer(l.down, "ffn_down.weight", {s.n_ff, s.n_embd});
      b.bind_layer(l.down_bias, "ffn_down.bias", {s.n_embd});
      bind_norm(b, l.ffn_norm, "layer_output_norm", true);
    }
  }

  float eps_ = 1e-12f;
  int64_t n_token_types_ = 2;
  Weight tok_embd_, position_embd_, token_type0_;
  Norm embd_norm_;
  std::vector<BertLayer> layers_;
};

}  // namespace

// As sentence-transformers' BERT models write it.
std::span<const ArchKey> bert_keys() {
  static const ArchKey keys[] = {{"attention.layer_norm_epsilon", {1e-12f}}};
  return keys;
}

std::unique_ptr<ArchModel> load_bert(const gguf::File& file, TensorVisitor& tensors) {
  return std::make_unique<Bert>(file, tensors);
}

}  // namespace tern
