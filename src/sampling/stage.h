// One step of the sampling chain. Filters narrow or rescale the candidates; a selecting
// stage (greedy, dist, mirostat) ends the chain by setting Candidates::selected.
#pragma once

#include <cstdint>
#include <string_view>

#include "sampling/candidates.h"

namespace tern::sampling {

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  virtual void apply(Candidates& cur) = 0;
  /// Sees every token the caller accepts (prompt and generated); most stages ignore it.
  virtual void accept(int32_t /*token*/) {}
  /// Sees only generated tokens, after accept(); the grammar advances here, not on prompts.
  virtual void accept_generated(int32_t /*token*/) {}
  /// Back to the state right after construction (history, RNG, mu).
  virtual void reset() {}
};

}  // namespace tern::sampling
