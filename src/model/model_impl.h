// Model::Impl: the parsed file and the loaded architecture.
#pragma once

#include <memory>

#include "arch/architecture.h"
#include "gguf/file.h"
#include "tern/model.h"

namespace tern {

struct Model::Impl {
  gguf::File file;
  std::unique_ptr<ArchModel> arch;
};

}  // namespace tern
