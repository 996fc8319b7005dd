// tern quantize IN.gguf OUT.gguf TYPE: rewrites a model with a llama.cpp-style quantization
// mix (Q4_K_M, Q8_0, F16...), multi-threaded, with a progress bar on stderr.
#include "tern/quantize.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "commands.h"
#include "int_range.h"
#include "output.h"
#include "progress_bar.h"
#include "tern/error.h"
#include "tern/model_path.h"

namespace tern::cli {

namespace {

struct QuantizeCliOptions {
  std::string in, out, type;
  int n_threads = 0;
  bool allow_requantize = false;
};

// The signal (SIGINT, SIGTERM, SIGHUP) that asked quantize to stop; 0 while none did.
volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int signal) { g_stop_signal = signal; }

// These signals no longer kill the process mid-write: they cancel the work, which removes
// the partial output file, and die_of_stop_signal() then ends the process as the signal
// would have. A signal the parent ignores (nohup) stays ignored.
void catch_stop_signals() {
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    sigaction(signal, nullptr, &old);
    if (old.sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(signal, &action, nullptr);
  }
}

[[noreturn]] void die_of_stop_signal() {
  std::signal(g_stop_signal, SIG_DFL);
  std::raise(g_stop_signal);
  std::_Exit(128 + g_stop_signal);  // not reached: the default action ends the process
}

std::string mix_list() { return fmt::format("{}", fmt::join(quant::mix_names(), ", ")); }

void run(const QuantizeCliOptions& o) {
  quant::QuantizeOptions qo;
  qo.n_threads = o.n_threads > 0
                     ? o.n_threads
                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  qo.allow_requantize = o.allow_requantize;
  ProgressBar bar;
  if (isatty(fileno(stderr)))
    qo.progress = [&bar](const quant::QuantizeProgress& p) { bar.update(p); };
  catch_stop_signals();
  qo.cancelled = [] { return g_stop_signal != 0; };
  auto start = std::chrono::steady_clock::now();
  quant::QuantizeReport r;
  try {
    r = quant::quantize_model(resolve_model_path(o.in), o.out, o.type, qo);
  } catch (const Error&) {
    if (g_stop_signal != 0) die_of_stop_signal();  // the partial file is gone already
    throw;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string types;
  for (const auto& [type, n] : r.type_counts) types += fmt::format(" {}:{}", type, n);
  out().print("{} -> {} ({}): {:.2f} MiB -> {:.2f} MiB, {:.3f} bits per weight, {:.1f} s\n", o.in,
              o.out, r.mix, double(r.in_bytes) / (1 << 20), double(r.out_bytes) / (1 << 20),
              8.0 * double(r.out_bytes) / double(r.n_values), seconds);
  out().print("tensor types:{}\n", types);
}

}  // namespace

void add_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeCliOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a GGUF model with a llama.cpp mix");
  cmd->add_option("input", o->in, "Input GGUF file, or a model name in $TERN_MODELS")->required();
  cmd->add_option("output", o->out, "Output GGUF file (written via a temporary file)")->required();
  cmd->add_option("type", o->type, "Mix: " + mix_list())->required();
  cmd->add_option("-t,--threads", o->n_threads, "Threads (default: hardware threads)")
      ->check(in_range(0, kMaxThreads));
  cmd->add_flag("--allow-requantize", o->allow_requantize,
                "Allow converting tensors that are already quantized (lossy twice over)");
  cmd->callback([o] { run(*o); });
}

}  // namespace tern::cli
