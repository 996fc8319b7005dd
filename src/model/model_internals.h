// The library's own access to a loaded Model (sessions, tests): its architecture and the
// backends its sessions share. Model::Impl stays private to model.cpp.
#pragma once

#include <cstdint>

#include "arch/architecture.h"
#include "scheduler/model_backends.h"
#include "tern/model.h"

namespace tern {

struct ModelInternals {
  static const ArchModel& arch(const Model& model);
  /// Made on the first call (safe from several threads at once); a call after a failure
  /// tries again.
  static ModelBackends& backends(const Model& model);
  /// model_fingerprint() of its file and spec (model/fingerprint.h), taken on the first
  /// call (safe from several threads at once).
  static uint64_t fingerprint(const Model& model);
};

}  // namespace tern
