// gguf::File over the real files in ../shared/.
#include <gtest/gtest.h>

#include "gguf/file.h"
#include "tern/error.h"

namespace tern::gguf {
namespace {

const std::string kShared = TERN_SHARED_DIR;

TEST(GgufReader, ReadsGoldenLlamaModel) {
  File file = File::open(kShared + "/golden/llama-f32/model.gguf");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  ASSERT_NE(file.find_tensor("token_embd.weight"), nullptr);
  const TensorInfo& embd = *file.find_tensor("token_embd.weight");
  EXPECT_EQ(embd.type, TensorType::F32);
  EXPECT_EQ(embd.ne[1], file.get_array("tokenizer.ggml.tokens").items.size());
}

TEST(GgufReader, ReadsVocabOnlyFile) {
  File file = File::open(kShared + "/testdata/tokenizer/ggml-vocab-gpt-2.gguf");
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_GT(file.get_array("tokenizer.ggml.merges", ValueType::String).items.size(), 1000u);
}

TEST(GgufReader, MissingAndMistypedKeysNameTheKey) {
  File file = File::open(kShared + "/golden/llama-f32/model.gguf");
  try {
    file.get_int("no.such.key");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'no.such.key' is missing"), std::string::npos);
  }
  EXPECT_THROW(file.get_int("general.architecture"), Error);
}

TEST(GgufReader, MissingFileIsAnError) {
  EXPECT_THROW(File::open("/nonexistent/model.gguf"), Error);
}

}  // namespace
}  // namespace tern::gguf
