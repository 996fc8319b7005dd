#include "backends/cpu/cpu_features.h"

#include <cpuid.h>
#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "tern/error.h"

namespace tern::cpu {

namespace {

struct Features {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
  bool amx_tile = false, amx_int8 = false;
  bool os_ymm = false, os_zmm = false;  // the OS saves the registers (XCR0)
  bool os_tiles = false;                // XCR0 has the tile state and Linux let us use it
};

Features read_features() {
  Features f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  bool osxsave = (c >> 27) & 1;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.os_ymm = (lo & 0x6) == 0x6;    // XMM and YMM state
    f.os_zmm = (lo & 0xe6) == 0xe6;  // plus opmask and ZMM state
    f.os_tiles = ((lo >> 17) & 3) == 3;  // XTILECFG and XTILEDATA
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
    f.amx_tile = (d >> 24) & 1;
    f.amx_int8 = (d >> 25) & 1;
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = (a >> 5) & 1;
  // Linux hands out the 8 KiB tile state only on request (once per process, for all its
  // threads); without it the first tile instruction faults.
  if (f.os_tiles && f.amx_tile && f.amx_int8) {
    constexpr int kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    f.os_tiles = syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
  }
  return f;
}

const Features& features() {
  static const Features f = read_features();
  return f;
}

std::atomic<int>& isa_override() {
  static std::atomic<int> isa{-1};
  return isa;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
    case Isa::Amx:
      return "amx";
  }
  return "?";
}

Isa detected_isa() {
  const Features& f = features();
  bool avx2 = f.os_ymm && f.avx2 && f.fma && f.f16c;
  // The AVX512 kernels use VNNI dot products: F/BW/VL without VNNI runs the AVX2 ones.
  if (avx2 && f.os_zmm && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) {
    return f.os_tiles && f.amx_tile && f.amx_int8 ? Isa::Amx : Isa::Avx512;
  }
  return avx2 ? Isa::Avx2 : Isa::Scalar;
}

bool has_avx512_bf16() { return detected_isa() >= Isa::Avx512 && features().avx512bf16; }

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Amx}) {
    if (name != isa_name(isa)) continue;
    if (isa > detected_isa()) {
      throw Error(fmt::format("CPU level {}: this CPU supports at most {}", name,
                              isa_name(detected_isa())));
    }
    return isa;
  }
  throw Error(fmt::format("CPU level {}: expected scalar, avx2, avx512 or amx", name));
}

Isa active_isa() {
  int forced = isa_override().load(std::memory_order_relaxed);
  return forced >= 0 ? static_cast<Isa>(forced) : detected_isa();
}

Isa isa_of(CpuKernels kernels) {
  switch (kernels) {
    case CpuKernels::Auto:
      return active_isa();
    case CpuKernels::Scalar:
      return Isa::Scalar;
    case CpuKernels::Avx2:
      return parse_isa(isa_name(Isa::Avx2));
    case CpuKernels::Avx512:
      return parse_isa(isa_name(Isa::Avx512));
    case CpuKernels::Amx:
      return parse_isa(isa_name(Isa::Amx));
  }
  return active_isa();
}

void set_isa(Isa isa) {
  if (isa > detected_isa()) {
    throw Error(fmt::format("cannot use {}: this CPU supports at most {}", isa_name(isa),
                            isa_name(detected_isa())));
  }
  isa_override().store(static_cast<int>(isa), std::memory_order_relaxed);
}

int physical_cores() {
  static const int n = [] {
    std::set<std::pair<std::string, std::string>> cores;  // (package, core id)
    unsigned n_cpus = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n_cpus; ++i) {
      std::string dir = fmt::format("/sys/devices/system/cpu/cpu{}/topology/", i);
      std::ifstream pkg(dir + "physical_package_id");
      std::ifstream core(dir + "core_id");
      std::string p, c;
      if (!(pkg >> p) || !(core >> c)) return static_cast<int>(n_cpus);
      cores.emplace(p, c);
    }
    return std::max(1, static_cast<int>(cores.size()));
  }();
  return n;
}

std::string_view cpu_flags() {
  static const std::string flags = [] {
    const Features& f = features();
    std::string s;
    auto add = [&](bool on, const char* name) {
      if (on) s += s.empty() ? name : fmt::format(" {}", name);
    };
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.f16c, "f16c");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512vnni, "avx512_vnni");
    add(f.avx512bf16, "avx512_bf16");
    add(f.amx_int8 && f.os_tiles, "amx_int8");
    return s.empty() ? std::string("none") : s;
  }();
  return flags;
}

std::string_view cpu_model() {
  static const std::string model = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("model name", 0) == 0) {
        auto colon = line.find(':');
        if (colon != std::string::npos) return line.substr(colon + 2);
      }
    }
    return std::string("unknown");
  }();
  return model;
}

}  // namespace tern::cpu
