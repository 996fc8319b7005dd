// Batched decoding: several sequences in one Session::decode give each sequence the logits
// it gets alone (prompts of different lengths side by side, then single steps at different
// positions, micro-batches that cut through sequences); sequences are isolated (clearing or
// rewriting one leaves another's logits bit-identical); a copied prefix continues as the
// original would. On the CPU for each golden model, and on Vulkan where a device exists.
//
// Tolerances: a batch of several rows takes the CPU's multi-row kernels where one row takes
// the single-row ones, so sums run in another order: F32 models within 1e-4 of the logits
// alone (max |difference|); quantized models, whose activations are rounded to 8 bits per
// row either way, within 2e-3.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "golden_reference.h"
#include "tern/error.h"
#include "tern/model.h"
#include "tern/session.h"

namespace tern {
namespace {

const std::vector<std::vector<int32_t>> kPrompts = {
    {1, 436, 94, 16, 328},
    {1, 189, 240},
    {1, 43, 191, 330, 183, 426, 12, 77, 300},
};
const std::vector<int32_t> kSteps = {17, 42, 99};  // fed to every sequence, one per step

using Rows = std::vector<std::vector<float>>;

Rows split_rows(std::span<const float> logits, int64_t n_vocab) {
  Rows rows;
  for (size_t at = 0; at < logits.size(); at += static_cast<size_t>(n_vocab)) {
    rows.emplace_back(logits.begin() + static_cast<std::ptrdiff_t>(at),
                      logits.begin() + static_cast<std::ptrdiff_t>(at) + n_vocab);
  }
  return rows;
}

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return a.size() == b.size() ? d : INFINITY;
}

class BatchedDecode : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_ = golden::golden_dir(GetParam()) + "/model.gguf";
    tolerance_ = GetParam().find("f32") != std::string::npos ? 1e-4f : 2e-3f;
  }

  // Every logit row of each sequence decoded alone: its prompt's rows, then one per step.
  // In micro-batches of 4 tokens as the batched session's: a prompt of 8 tokens or more
  // in one batch takes the attention's tiles (backends/cpu/attention.h), whose sums run in
  // another order than the rows' of fewer tokens (F32 logits up to 1.4e-4 apart at AVX2).
  Rows alone(const Model& model, size_t seq) const {
    Session s(model, {.n_ctx = 32, .n_batch = 4, .n_threads = 2});
    Rows rows = split_rows(s.decode(kPrompts[seq], Outputs::All), s.n_vocab());
    for (int32_t step : kSteps) rows.push_back(split_rows(s.decode({&step, 1}), s.n_vocab())[0]);
    return rows;
  }

  void expect_batches_give_the_logits_alone(const ModelOptions& options) const {
    const Model model = Model::load(golden_, options);
    // n_batch 4 cuts the prompts' 17 tokens into micro-batches across sequences.
    Session batched(model, {.n_ctx = 32, .n_batch = 4, .n_threads = 2, .n_seq = 4});
    std::vector<SequenceTokens> prompts;
    for (size_t s = 0; s < kPrompts.size(); ++s) {
      prompts.push_back({static_cast<int>(s), kPrompts[s], Outputs::All});
    }
    Rows got = split_rows(batched.decode(prompts), batched.n_vocab());
    std::vector<Rows> per_seq(kPrompts.size());
    size_t at = 0;
    for (size_t s = 0; s < kPrompts.size(); ++s) {
      for (size_t i = 0; i < kPrompts[s].size(); ++i) per_seq[s].push_back(got[at++]);
    }
    for (int32_t step : kSteps) {
      // Steps at positions 5, 3 and 9, the sequences in another order than the prompts'.
      const std::vector<SequenceTokens> batch = {{2, {&step, 1}}, {0, {&step, 1}}, {1, {&step, 1}}};
      Rows rows = split_rows(batched.decode(batch), batched.n_vocab());
      ASSERT_EQ(rows.size(), 3u);
      per_seq[2].push_back(rows[0]);
      per_seq[0].push_back(rows[1]);
      per_seq[1].push_back(rows[2]);
    }
    for (size_t s = 0; s < kPrompts.size(); ++s) {
      EXPECT_EQ(batched.n_past(static_cast<int>(s)),
                static_cast<int64_t>(kPrompts[s].size() + kSteps.size()));
      Rows want = alone(model, s);
      ASSERT_EQ(per_seq[s].size(), want.size());
      for (size_t r = 0; r < want.size(); ++r) {
        EXPECT_LE(max_difference(per_seq[s][r], want[r]), tolerance_)
            << GetParam() << " sequence " << s << " row " << r;
      }
    }
    EXPECT_EQ(batched.n_past(3), 0);
  }

  std::string golden_;
  float tolerance_ = 0.0f;
};

TEST_P(BatchedDecode, SequencesInOneBatchGiveTheirLogitsAloneOnTheCpu) {
  expect_batches_give_the_logits_alone({.backend = BackendKind::Cpu});
  expect_batches_give_the_logits_alone(
      {.backend = BackendKind::Cpu, .cpu_kernels = CpuKernels::Scalar});
}

TEST_P(BatchedDecode, SequencesInOneBatchGiveTheirLogitsAloneOnVulkan) {
  if (!backend_available(BackendKind::Vulkan)) GTEST_SKIP() << "no Vulkan device";
  expect_batches_give_the_logits_alone({.backend = BackendKind::Vulkan});
}

// Clearing sequence 0 and filling it with other tokens leaves sequence 1's next logits
// bit-identical.
TEST_P(BatchedDecode, ClearingOneSequenceLeavesTheOthersBitIdentical) {
  const Model model = Model::load(golden_, {.backend = BackendKind::Cpu});
  const int32_t next = 7;
  auto next_of_seq1 = [&](bool rewrite_seq0) {
    Session s(model, {.n_ctx = 32, .n_threads = 2, .n_seq = 2});
    s.decode(std::vector<SequenceTokens>{{0, kPrompts[0]}, {1, kPrompts[1]}});
    if (rewrite_seq0) {
      s.clear_sequence(0);
      EXPECT_EQ(s.n_past(0), 0);
      EXPECT_EQ(s.n_past(1), static_cast<int64_t>(kPrompts[1].size()));
      s.decode(std::vector<SequenceTokens>{{0, kPrompts[2]}});
    }
    const std::vector<SequenceTokens> step = {{1, {&next, 1}}};
    std::span<const float> row = s.decode(step);
    return std::vector<float>(row.begin(), row.end());
  };
  EXPECT_EQ(next_of_seq1(true), next_of_seq1(false)) << GetParam();
}

// A prompt decoded once in sequence 0 and copied to sequences 1 and 2 continues in each as
// it does in a session that decoded it itself; the source keeps its own positions.
TEST_P(BatchedDecode, CopiedPrefixContinuesAsTheOriginal) {
  const Model model = Model::load(golden_, {.backend = BackendKind::Cpu});
  const std::vector<int32_t> tail = {5, 6};
  Session alone(model, {.n_ctx = 32, .n_threads = 2});
  alone.decode(kPrompts[2]);
  std::span<const float> want_row = alone.decode(tail);
  const std::vector<float> want(want_row.begin(), want_row.end());

  Session s(model, {.n_ctx = 32, .n_threads = 2, .n_seq = 3});
  s.decode(std::vector<SequenceTokens>{{0, kPrompts[2]}});
  s.copy_sequence(0, 1);
  s.copy_sequence(0, 2);
  EXPECT_EQ(s.n_past(1), static_cast<int64_t>(kPrompts[2].size()));
  EXPECT_TRUE(std::ranges::equal(s.tokens(1), kPrompts[2]));
  for (int seq : {1, 2}) {
    std::span<const float> row = s.decode(std::vector<SequenceTokens>{{seq, tail}});
    EXPECT_EQ(std::vector<float>(row.begin(), row.end()), want) << GetParam() << " seq " << seq;
  }
  EXPECT_EQ(s.n_past(0), static_cast<int64_t>(kPrompts[2].size()));
}

INSTANTIATE_TEST_SUITE_P(Goldens, BatchedDecode,
                         testing::Values("llama-f32", "qwen3-f32", "gemma3-f32", "gemma2-f32",
                                         "phi3-f32", "llama-q4_k_m", "qwen2-q4_0", "qwen3moe-f32",
                                         "gpt-oss-f32"),
                         golden::model_test_name);

// Bad batches are refused before anything is decoded: the session is unchanged.
TEST(BatchedDecodeErrors, BadSequencesAndOverflowsLeaveTheSessionUnchanged) {
  const Model model = Model::load(golden::kGoldenDir + "llama-f32/model.gguf");
  Session s(model, {.n_ctx = 8, .n_threads = 1, .n_seq = 2});
  const std::vector<int32_t> three = {1, 2, 3};
  s.decode(std::vector<SequenceTokens>{{1, three}});
  const std::vector<int32_t> six = {1, 2, 3, 4, 5, 6};
  EXPECT_THROW(s.decode(std::vector<SequenceTokens>{{2, three}}), Error);
  EXPECT_THROW(s.decode(std::vector<SequenceTokens>{{-1, three}}), Error);
  EXPECT_THROW(s.decode(std::vector<SequenceTokens>{{0, three}, {0, three}}), Error);
  EXPECT_THROW(s.decode(std::vector<SequenceTokens>{{0, three}, {1, six}}), ContextOverflow);
  EXPECT_EQ(s.n_past(0), 0);
  EXPECT_EQ(s.n_past(1), 3);
  EXPECT_THROW(s.n_past(2), Error);
  EXPECT_THROW(s.copy_sequence(0, 2), Error);
  EXPECT_THROW(s.trim(4, 1), Error);
  EXPECT_THROW(Session(model, {.n_seq = 0}), Error);
  EXPECT_THROW(Session(model, {.n_ctx = kMaxContextSize, .n_seq = 1000}), Error);
}

}  // namespace
}  // namespace tern
