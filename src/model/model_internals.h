// The library's own access to a loaded Model (sessions, tests): its architecture.
// Model::Impl stays private to model.cpp.
#pragma once

#include "arch/architecture.h"
#include "tern/model.h"

namespace tern {

struct ModelInternals {
  static const ArchModel& arch(const Model& model);
};

}  // namespace tern
