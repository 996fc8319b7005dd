#include "model/fingerprint.h"

#include <algorithm>

namespace tern {

uint64_t model_fingerprint(const gguf::File& file, const ModelSpec& spec) {
  Fnv1a h;
  h.add(spec.arch);
  for (int64_t v : {spec.n_vocab, spec.n_ctx_train, spec.n_embd, spec.n_layer, spec.n_ff,
                    spec.sliding_window, spec.rope_yarn ? spec.rope_yarn_ctx_orig : 0}) {
    h.add_value(v);
  }
  for (int v : {spec.n_head, spec.n_head_kv, spec.head_dim_k, spec.head_dim_v, spec.n_rot}) {
    h.add_value(v);
  }
  for (float v : {spec.rms_eps, spec.rope_freq_base, spec.rope_freq_scale, spec.rope_attn_factor}) {
    h.add_value(v);
  }
  for (const gguf::TensorInfo& t : file.tensors()) {
    h.add(t.name);
    h.add_value(static_cast<uint32_t>(t.type));
    for (int64_t ne : t.ne) h.add_value(ne);
    h.add(std::span(t.data, std::min(t.n_bytes, kSampledBytes)));
  }
  return h.value();
}

}  // namespace tern
