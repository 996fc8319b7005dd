// tern bench: prompt-processing (ppN) and generation (tgN) speed like llama-bench, plus the
// machine's read bandwidth, the ceiling for generation (every weight is read per step).
// With --parallel W, W sequences run side by side in one session (batched decoding, like
// llama-batched-bench): each gets the prompt, or one token per step, and t/s counts the
// tokens of all W.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/memory_bandwidth.h"
#include "commands.h"
#include "int_range.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/model_path.h"
#include "tern/session.h"

namespace tern::cli {

namespace {

struct BenchOptions {
  std::vector<std::string> models;
  std::vector<int> n_prompt = {512};
  std::vector<int> n_gen = {128};
  std::vector<int> threads;
  std::vector<int> depths = {0};
  std::vector<int> widths = {1};  // sequences decoded side by side
  int reps = 5;
  int n_batch = 512;
  bool json = false;
  bool memory_only = false;
  ModelOptions model;  // --backend, -ngl
  KvType kv_type = SessionOptions{}.kv_type;
  bool profile = false;  // time the CPU's operations during the measured runs
  bool interleave = false;  // a model's tests take turns run by run (run_trials)
};

struct Result {
  std::string model;
  size_t model_bytes = 0;
  size_t token_bytes = 0;  // weights one token reads (a mixture: its chosen experts only)
  int threads = 0;
  std::string test;  // "pp512", "tg128", "tg128 @ d4096", "tg128 x4" (4 sequences)
  int depth = 0;     // positions in the cache before the test
  int width = 1;     // sequences side by side
  std::string device;  // Session::device(): "cpu" or the GPU and its layers
  double device_peak_gbps = 0;  // the GPU's claimed bandwidth (0: CPU or unknown)
  std::vector<double> tps;
  double mean = 0, std = 0;
  double gbps = 0;  // tg: token bytes x steps/s (t/s / width)
  // tg on the CPU: the read bandwidth just before and just after the timed runs, the
  // higher of the two (0: the one measured at the start stands)
  double read_gbps = 0;
  // --profile: the CPU's time per kind of operation over the measured runs, their
  // wall time and steps (a step: one token per sequence, or the whole prompt for pp)
  std::vector<OpTime> ops;
  double seconds = 0;
  int64_t steps = 0;
};

// Random token ids past the first few (special) ones; fixed seed, like llama-bench's.
std::vector<int32_t> bench_tokens(int64_t n_vocab, int n) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> dist(16, static_cast<int32_t>(n_vocab - 1));
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (auto& t : tokens) t = dist(rng);
  return tokens;
}

// Seconds for one run of the test on `width` sequences after each one's first `depth`
// positions (kept from the prefill; the previous run's are dropped): the whole prompt in
// each sequence, in micro-batches (pp), or n_gen steps of one token per sequence (tg).
double run_once(Session& session, const std::vector<int32_t>& tokens, bool prompt, int depth,
                int width) {
  std::vector<SequenceTokens> batch;
  for (int seq = 0; seq < width; ++seq) {
    session.trim(depth, seq);
    batch.push_back({seq, tokens, Outputs::Last});
  }
  auto start = std::chrono::steady_clock::now();
  if (prompt) {
    session.decode(batch);
  } else {
    for (const int32_t& t : tokens) {
      for (SequenceTokens& part : batch) part.tokens = {&t, 1};
      session.decode(batch);
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The read test beside a tg test, its buffer beside the loaded model: 0 (the reading from
// the start stands) where the machine has less than twice that free or cannot give it.
double read_bandwidth_beside(int threads) {
  constexpr size_t kBytes = cpu::kReadTestBytes;
  const long free_pages = sysconf(_SC_AVPHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (free_pages <= 0 || page <= 0 ||
      static_cast<size_t>(free_pages) * static_cast<size_t>(page) < 2 * kBytes) {
    return 0;
  }
  try {
    return cpu::measure_read_bandwidth(threads, kBytes).best_gbps;
  } catch (const std::bad_alloc&) {
    return 0;
  }
}

// One test ready for its timed runs: its session (prefilled to the depth and warmed up),
// its tokens, and its result so far.
struct Trial {
  std::unique_ptr<Session> session;
  std::vector<int32_t> tokens;
  bool prompt = false;
  Result r;
};

Trial prepare_test(const Model& model, const std::string& name, const BenchOptions& o, int threads,
                   int n, bool prompt, int depth, int width) {
  SessionOptions so;
  so.n_ctx = depth + n;
  so.n_batch = o.n_batch;
  so.n_threads = threads;
  so.kv_type = o.kv_type;
  so.n_seq = width;
  so.embeddings = model.encoder();  // an encoder's forward pass ends in hidden states
  Trial trial{std::make_unique<Session>(model, so), bench_tokens(model.n_vocab(), depth + n),
              prompt};
  Session& session = *trial.session;
  std::vector<int32_t>& tokens = trial.tokens;
  std::vector<int32_t> context(tokens.begin(), tokens.begin() + depth);
  tokens.erase(tokens.begin(), tokens.begin() + depth);
  if (depth > 0) {  // once, shared: every run of every sequence starts from it
    session.decode(context, Outputs::Last);
    for (int seq = 1; seq < width; ++seq) session.copy_sequence(0, seq);
  }
  // Warm-up (pages the weights in, grows the workspace and the pool): a short run.
  std::vector<int32_t> warm(tokens.begin(), tokens.begin() + std::min(n, prompt ? n : 4));
  run_once(session, warm, prompt, depth, width);
  std::string test = fmt::format("{}{}", prompt ? "pp" : "tg", n);
  if (depth > 0) test += fmt::format(" @ d{}", depth);
  if (width > 1) test += fmt::format(" x{}", width);
  trial.r = {name,  model.weight_bytes(), model.token_bytes(),       threads, test, depth,
             width, session.device(),     session.device_peak_gbps()};
  if (o.profile) session.time_ops(true);
  return trial;
}

// Shared machines change speed within minutes: the bandwidth a CPU decode rate is held
// against is read beside its runs, just before and just after (the higher of the two).
bool reads_beside(const Trial& t) { return !t.prompt && t.r.device == "cpu"; }

void time_run(Trial& t) {
  const int n = static_cast<int>(t.tokens.size());
  double seconds = run_once(*t.session, t.tokens, t.prompt, t.r.depth, t.r.width);
  t.r.seconds += seconds;
  t.r.tps.push_back(static_cast<double>(n) * t.r.width / seconds);
}

// The result of a test whose runs are done: mean and spread of its speeds, GB/s, profile.
Result finish_test(Trial& t, const BenchOptions& o) {
  Result& r = t.r;
  if (o.profile) {
    r.ops = t.session->op_times();
    r.steps =
        static_cast<int64_t>(r.tps.size()) * (t.prompt ? 1 : static_cast<int64_t>(t.tokens.size()));
  }
  double sum = 0, sq = 0;
  for (double v : r.tps) sum += v;
  r.mean = sum / static_cast<double>(r.tps.size());
  for (double v : r.tps) sq += (v - r.mean) * (v - r.mean);
  r.std = r.tps.size() > 1 ? std::sqrt(sq / static_cast<double>(r.tps.size() - 1)) : 0.0;
  if (!t.prompt) r.gbps = static_cast<double>(r.token_bytes) * r.mean / r.width / 1e9;
  t.session.reset();
  return r;
}

// The trials' runs: run i of every trial, then run i + 1 (with several trials, --interleave,
// they all meet the same moments of a machine whose speed drifts), each CPU decode held
// against the read tests taken just before and just after them (the higher of the two).
void run_trials(std::span<Trial> trials, const BenchOptions& o) {
  std::map<int, double> before;
  for (const Trial& t : trials) {
    if (reads_beside(t) && !before.contains(t.r.threads))
      before[t.r.threads] = read_bandwidth_beside(t.r.threads);
  }
  for (int i = 0; i < o.reps; ++i) {
    for (Trial& t : trials) time_run(t);
  }
  for (auto& [threads, gbps] : before) gbps = std::max(gbps, read_bandwidth_beside(threads));
  for (Trial& t : trials) {
    if (reads_beside(t)) t.r.read_gbps = before[t.r.threads];
  }
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The read bandwidth measured with each thread count the tests use.
using BandwidthByThreads = std::map<int, cpu::Bandwidth>;

// The read bandwidth a result is held against: the one measured beside it, else the start's.
double read_ceiling(const Result& r, const BandwidthByThreads& bws) {
  return r.read_gbps > 0 ? r.read_gbps : bws.at(r.threads).best_gbps;
}

void print_table(const std::vector<Result>& results, const BandwidthByThreads& bws, cpu::Isa isa) {
  fmt::print("| model | size | device | threads | test | t/s | GB/s (% of bandwidth) |\n");
  fmt::print("| --- | ---: | --- | ---: | ---: | ---: | ---: |\n");
  for (const Result& r : results) {
    // Against the CPU's read bandwidth measured beside the test, or the GPU's claimed peak.
    double ceiling = r.device == "cpu" ? read_ceiling(r, bws) : r.device_peak_gbps;
    std::string gb = r.gbps <= 0     ? ""
                     : ceiling <= 0 ? fmt::format("{:.1f}", r.gbps)
                                    : fmt::format("{:.1f} ({:.0f}%)", r.gbps, 100.0 * r.gbps / ceiling);
    fmt::print("| {} | {:.0f} MiB | {} | {} | {} | {:.2f} ± {:.2f} | {} |\n", r.model,
               static_cast<double>(r.model_bytes) / (1 << 20), r.device, r.threads, r.test, r.mean,
               r.std, gb);
  }
  fmt::print("\n");
  for (const auto& [threads, bw] : bws) {
    fmt::print(
        "read bandwidth ({} threads, at the start; each CPU tg row's % is of one read "
        "beside it): {:.1f} GB/s best, {:.1f} GB/s median\n",
        threads, bw.best_gbps, bw.median_gbps);
  }
  fmt::print("cpu: {}; kernels: {}; flags: {}\n", cpu::cpu_model(),
             cpu::isa_name(isa), cpu::cpu_flags());
}

// --profile: for each test, the CPU's time per kind of operation, per step and as a share of
// the measured time; "outside operations" is the rest (graph building, the scheduler,
// reading the logits, a GPU's share).
void print_profiles(const std::vector<Result>& results) {
  for (const Result& r : results) {
    if (r.steps == 0) continue;
    fmt::print("\n{} {} ({} thread{}), per step ({}):\n", r.model, r.test, r.threads,
               r.threads == 1 ? "" : "s",
               r.test.starts_with("pp") ? "the whole prompt" : "one token per sequence");
    fmt::print("| operation | ms | share | calls |\n| --- | ---: | ---: | ---: |\n");
    const auto steps = static_cast<double>(r.steps);
    double timed = 0;
    for (const OpTime& op : r.ops) {
      timed += op.seconds;
      fmt::print("| {} | {:.3f} | {:.1f}% | {:.0f} |\n", op.op, 1e3 * op.seconds / steps,
                 100.0 * op.seconds / r.seconds, static_cast<double>(op.calls) / steps);
    }
    const double rest = std::max(0.0, r.seconds - timed);
    fmt::print("| outside operations | {:.3f} | {:.1f}% | |\n", 1e3 * rest / steps,
               100.0 * rest / r.seconds);
  }
}

void print_json(const std::vector<Result>& results, const BandwidthByThreads& bws, cpu::Isa isa) {
  nlohmann::json out = nlohmann::json::array();
  for (const Result& r : results) {
    nlohmann::json j = {{"model", r.model},
                        {"size_bytes", r.model_bytes},
                        {"token_bytes", r.token_bytes},
                        {"threads", r.threads},
                        {"test", r.test},
                        {"depth", r.depth},
                        {"parallel", r.width},
                        {"device", r.device},
                        {"tps", r.mean},
                        {"tps_std", r.std},
                        {"samples_tps", r.tps},
                        {"read_gbps", read_ceiling(r, bws)},
                        {"isa", std::string(cpu::isa_name(isa))}};
    if (r.gbps > 0) j["gbps"] = r.gbps;
    if (r.device_peak_gbps > 0) j["device_peak_gbps"] = r.device_peak_gbps;
    if (r.steps > 0) {
      nlohmann::json ops = nlohmann::json::array();
      for (const OpTime& op : r.ops) {
        ops.push_back({{"op", op.op}, {"seconds", op.seconds}, {"calls", op.calls}});
      }
      j["profile"] = {{"seconds", r.seconds}, {"steps", r.steps}, {"ops", ops}};
    }
    out.push_back(j);
  }
  if (results.empty()) {
    for (const auto& [threads, bw] : bws) {
      out.push_back({{"test", "memory"},
                     {"threads", threads},
                     {"read_gbps", bw.best_gbps},
                     {"read_gbps_median", bw.median_gbps}});
    }
  }
  fmt::print("{}\n", out.dump(2));
}

void run_bench(const BenchOptions& o) {
  if (o.models.empty() && !o.memory_only) throw Error("bench: give -m MODEL or --memory");
  const ModelOptions model_options = with_environment(o.model);
  const cpu::Isa isa = cpu::isa_of(model_options.cpu_kernels);
  cpu::set_isa(isa);  // the bandwidth probe reads with the kernels' level too
  std::vector<int> threads =
      o.threads.empty() ? std::vector<int>{cpu::physical_cores()} : o.threads;
  BandwidthByThreads bws;
  for (int t : threads) {
    if (!bws.contains(t)) bws[t] = cpu::measure_read_bandwidth(t);
  }
  std::vector<Result> results;
  if (!o.memory_only) {
    for (const std::string& path : o.models) {
      Model model = Model::load(resolve_model_path(path), model_options);
      const std::string name = base_name(path);
      std::vector<Trial> trials;
      auto add = [&](int t, int n, bool prompt, int d, int w) {
        trials.push_back(prepare_test(model, name, o, t, n, prompt, d, w));
        if (o.interleave) return;  // all prepared first, then run together
        run_trials(trials, o);
        results.push_back(finish_test(trials.back(), o));
        trials.clear();
      };
      // An encoder reads each text whole: it has prompt tests only (embeddings), none after
      // a depth.
      const bool encoder = model.encoder();
      if (encoder && (std::ranges::any_of(o.n_gen, [](int n) { return n > 0; }) ||
                      std::ranges::any_of(o.depths, [](int d) { return d > 0; }))) {
        fmt::print(stderr,
                   "tern: {} is an encoder (embeddings): its prompt tests run, without depth; "
                   "generation tests do not apply\n",
                   name);
      }
      for (int t : threads) {
        for (int d : o.depths) {
          if (encoder && d > 0) continue;
          for (int w : o.widths) {
            for (int p : o.n_prompt) {
              if (p > 0) add(t, p, true, d, w);
            }
            for (int n : o.n_gen) {
              if (n > 0 && !encoder) add(t, n, false, d, w);
            }
          }
        }
      }
      run_trials(trials, o);
      for (Trial& trial : trials) results.push_back(finish_test(trial, o));
    }
  }
  if (o.json) {
    print_json(results, bws, isa);
  } else if (results.empty()) {
    for (const auto& [t, bw] : bws) {
      fmt::print("read bandwidth ({} threads): {:.1f} GB/s best, {:.1f} GB/s median\n", t,
                 bw.best_gbps, bw.median_gbps);
    }
  } else {
    print_table(results, bws, isa);
    print_profiles(results);
  }
}

}  // namespace

void add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt and generation speed (llama-bench)");
  cmd->add_option("-m,--model", o->models, "GGUF files (repeat or separate with commas)")
      ->delimiter(',');
  cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt lengths for ppN tests (0: none)")
      ->delimiter(',')
      ->check(in_range(0, kMaxContextSize));
  cmd->add_option("-n,--n-gen", o->n_gen, "Generated tokens for tgN tests (0: none)")
      ->delimiter(',')
      ->check(in_range(0, kMaxContextSize));
  cmd->add_option("-t,--threads", o->threads, "Thread counts (default: physical cores)")
      ->delimiter(',')
      ->check(in_range(1, kMaxThreads));
  cmd->add_option("-d,--n-depth", o->depths,
                  "Positions already in the cache when each test starts (prefilled once)")
      ->delimiter(',')
      ->check(in_range(0, kMaxContextSize));
  cmd->add_option("--parallel", o->widths,
                  "Sequences decoded side by side in one batch, aggregate t/s of all; also -np")
      ->delimiter(',')
      ->check(in_range(1, kMaxSequences));
  cmd->add_option("-r,--repetitions", o->reps, "Repetitions per test")
      ->check(in_range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("-b,--batch-size", o->n_batch, "Tokens per micro-batch")
      ->check(in_range(1, kMaxBatchSize))
      ->capture_default_str();
  cmd->add_flag("--interleave", o->interleave,
                "Prepare every test of a model first, then run them in turn, one repetition "
                "each, so that their ratios hold on a machine whose speed drifts");
  cmd->add_flag("--json", o->json, "Print a JSON list, one object per test");
  cmd->add_flag("--memory", o->memory_only, "Only measure the read bandwidth");
  cmd->add_flag("--profile", o->profile,
                "After the table, the CPU's time per kind of operation in each test");
  add_backend_options(cmd, o->model);
  add_kv_type_option(cmd, o->kv_type);
  cmd->callback([o] { run_bench(*o); });
}

}  // namespace tern::cli
