// Loading qwen35 (Qwen3.5) models: the plan of tiny-qwen35, and variants of it rewritten with other
// metadata to reach the paths the shared file does not: layer kinds from a recurrent_layers array,
// a trailing multi-token-prediction (MTP) block that must not run, and RoPE sections this engine
// refuses.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "common/error.h"
#include "common/shared_data.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"

namespace quant {
namespace {

std::string tiny_qwen35() {
  return test::shared_path("data/models/tiny-qwen35-f16.gguf");
}

// What to change when copying a model file.
struct Rewrite {
  std::set<std::string> drop_keys;                         // metadata left out
  std::function<void(gguf::GgufWriter&)> add_keys;         // metadata set after the kept keys
  std::vector<std::pair<std::string, std::string>> extra;  // new tensor <- a copy of this tensor
};

// Copies `source` with the changes of `r` to the test temp dir; returns the new path.
std::string rewrite_model(const std::string& source, const std::string& file_name,
                          const Rewrite& r) {
  const gguf::GgufFile in = gguf::GgufFile::open(source);
  gguf::GgufWriter out;
  for (const gguf::MetadataEntry& entry : in.metadata())
    if (!r.drop_keys.contains(std::string(entry.key))) out.set_value(entry.key, entry.value);
  if (r.add_keys) r.add_keys(out);
  std::vector<const gguf::TensorInfo*> data;
  for (const gguf::TensorInfo& t : in.tensors()) {
    out.add_tensor(t.name, t.type, t.dims);
    data.push_back(&t);
  }
  for (const auto& [name, from] : r.extra) {
    const gguf::TensorInfo* t = in.find_tensor(from);
    EXPECT_NE(t, nullptr) << from;
    out.add_tensor(name, t->type, t->dims);
    data.push_back(t);
  }
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / ("quant_qwen35_" + file_name)).string();
  out.begin(path);
  for (const gguf::TensorInfo* t : data) out.write_tensor_data(t->data);
  out.finish();
  return path;
}

// The message of the quant::Error that loading `path` throws ("" when it loads).
std::string load_error(const std::string& path) {
  try {
    (void)model::Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The layers that have a KV cache, i.e. the full-attention layers.
std::vector<int32_t> attention_layers(const plan::Plan& p) {
  std::vector<int32_t> layers;
  for (const plan::KvCacheDecl& c : p.kv_caches) layers.push_back(c.layer);
  return layers;
}

TEST(Qwen35LoadTest, PlanOfTinyQwen35) {
  QUANT_REQUIRE_SHARED();
  const model::Model m = model::Model::load(tiny_qwen35());
  const plan::Plan& p = m.plan();
  EXPECT_EQ(m.hparams().head_dim, 64u);
  EXPECT_EQ(m.hparams().n_rot, 16u);
  EXPECT_EQ(attention_layers(p), (std::vector<int32_t>{3, 7}));
  // A convolution window (3 x 512) and a delta state (8 heads x 32 x 32) per Gated DeltaNet layer.
  ASSERT_EQ(p.states.size(), 12u);
  for (size_t i = 0; i < p.states.size(); i += 2) {
    EXPECT_EQ(p.states[i].n_floats, 3u * 512u);
    EXPECT_EQ(p.states[i + 1].n_floats, 8u * 32u * 32u);
  }
  int delta_nets = 0;
  for (const plan::Op& op : p.ops) {
    if (const auto* d = std::get_if<plan::GatedDeltaNet>(&op.kind)) {
      ++delta_nets;
      EXPECT_NE(op.layer % 4, 3);
      EXPECT_EQ(d->n_k_heads, 4u);
      EXPECT_EQ(d->n_v_heads, 8u);
    }
    if (const auto* rope = std::get_if<plan::Rope>(&op.kind)) {
      EXPECT_EQ(rope->style, plan::RopeStyle::Neox);
    }
  }
  EXPECT_EQ(delta_nets, 6);
}

// The ops of a full-attention layer, in order: the shared attention block with a gated query.
TEST(Qwen35LoadTest, GatedAttentionLayerOps) {
  QUANT_REQUIRE_SHARED();
  const model::Model m = model::Model::load(tiny_qwen35());
  std::vector<std::string> layer3;
  for (const plan::Op& op : m.plan().ops)
    if (op.layer == 3) layer3.push_back(plan::describe(op));
  const std::vector<std::string> expected = {"layer 3 RmsNorm 'attn_norm'",
                                             "layer 3 MatVec 'q_gate'",
                                             "layer 3 SliceHeads 'q'",
                                             "layer 3 SliceHeads 'attn_gate'",
                                             "layer 3 MatVec 'k'",
                                             "layer 3 MatVec 'v'",
                                             "layer 3 RmsNorm 'q_norm'",
                                             "layer 3 RmsNorm 'k_norm'",
                                             "layer 3 Rope 'q_rope'",
                                             "layer 3 Rope 'k_rope'",
                                             "layer 3 KvStore 'kv_store'",
                                             "layer 3 Attention 'attn'",
                                             "layer 3 SigmoidGate 'attn_gated'",
                                             "layer 3 MatVec 'attn_out'",
                                             "layer 3 Add 'attn_residual'",
                                             "layer 3 RmsNorm 'ffn_norm'",
                                             "layer 3 MatVec 'ffn_gate'",
                                             "layer 3 MatVec 'ffn_up'",
                                             "layer 3 SwiGLU 'ffn_swiglu'",
                                             "layer 3 MatVec 'ffn_down'",
                                             "layer 3 Add 'ffn_residual'"};
  EXPECT_EQ(layer3, expected);
  // The query heads are [query | gate]: attn_q is twice as tall as the attention output.
  const plan::Plan& p = m.plan();
  for (const plan::Op& op : p.ops) {
    if (op.layer != 3 || op.name != "q_gate") continue;
    const plan::WeightRef& w = p.weights[std::get<plan::MatVec>(op.kind).weight.index];
    EXPECT_EQ(w.name, "blk.3.attn_q.weight");
    EXPECT_EQ(w.n_rows(), 2ull * m.hparams().n_heads * m.hparams().head_dim);
  }
}

TEST(Qwen35LoadTest, LayerKindsFromRecurrentLayersArray) {
  QUANT_REQUIRE_SHARED();
  // An interval of 2 would make layer 1 a full-attention layer; the array, which wins, keeps the
  // file's real layout.
  const auto with_array = [](std::vector<bool> recurrent) {
    return Rewrite{.drop_keys = {"qwen35.full_attention_interval"},
                   .add_keys =
                       [recurrent](gguf::GgufWriter& w) {
                         w.set_u32("qwen35.full_attention_interval", 2);
                         w.set_array_bool("qwen35.attention.recurrent_layers", recurrent);
                       },
                   .extra = {}};
  };
  const std::vector<bool> real = {true, true, true, false, true, true, true, false};
  const model::Model m =
      model::Model::load(rewrite_model(tiny_qwen35(), "array.gguf", with_array(real)));
  EXPECT_EQ(attention_layers(m.plan()), (std::vector<int32_t>{3, 7}));

  Rewrite interval_only = with_array({});
  interval_only.add_keys = [](gguf::GgufWriter& w) {
    w.set_u32("qwen35.full_attention_interval", 2);
  };
  EXPECT_NE(load_error(rewrite_model(tiny_qwen35(), "interval2.gguf", interval_only))
                .find("missing tensor 'blk.1.attn_q.weight'"),
            std::string::npos);

  const std::string short_array =
      load_error(rewrite_model(tiny_qwen35(), "short.gguf", with_array({true, true, true, false})));
  EXPECT_NE(short_array.find("qwen35.attention.recurrent_layers' has 4 values"), std::string::npos)
      << short_array;
}

TEST(Qwen35LoadTest, TrailingMtpBlockIsNotRun) {
  QUANT_REQUIRE_SHARED();
  // A ninth block, as the converter writes Qwen3.5's MTP head: a full-attention-like layer plus
  // nextn tensors (copies of existing tensors here; only their names matter).
  const gguf::GgufFile original_file = gguf::GgufFile::open(tiny_qwen35());
  Rewrite mtp{.drop_keys = {"qwen35.block_count"},
              .add_keys =
                  [](gguf::GgufWriter& w) {
                    w.set_u32("qwen35.block_count", 9);
                    w.set_u32("qwen35.nextn_predict_layers", 1);
                  },
              .extra = {}};
  for (const gguf::TensorInfo& t : original_file.tensors())
    if (t.name.starts_with("blk.7."))
      mtp.extra.push_back({"blk.8." + std::string(t.name.substr(6)), std::string(t.name)});
  mtp.extra.push_back({"blk.8.nextn.eh_proj.weight", "blk.7.attn_q.weight"});
  mtp.extra.push_back({"blk.8.nextn.enorm.weight", "blk.7.attn_norm.weight"});

  const model::Model original = model::Model::load(tiny_qwen35());
  const model::Model with_mtp = model::Model::load(rewrite_model(tiny_qwen35(), "mtp.gguf", mtp));
  // The layers run, which the run header shows, leave the MTP block out.
  EXPECT_EQ(with_mtp.hparams().n_layers, 8u);
  EXPECT_EQ(with_mtp.hparams().n_mtp_layers, 1u);
  EXPECT_EQ(with_mtp.hparams().block_count(), 9u);
  ASSERT_EQ(with_mtp.plan().ops.size(), original.plan().ops.size());
  for (const plan::Op& op : with_mtp.plan().ops) EXPECT_LT(op.layer, 8) << plan::describe(op);
  const cpu::CpuBackendOptions options{.threads = 1, .context_length = 8, .max_batch = 1};
  cpu::CpuBackend a(original.plan(), options);
  cpu::CpuBackend b(with_mtp.plan(), options);
  const std::vector<int32_t> tokens = {1, 100, 7};
  for (uint32_t pos = 0; pos < tokens.size(); ++pos) {
    const std::span<const float> expected = a.forward(tokens[pos], pos);
    const std::span<const float> actual = b.forward(tokens[pos], pos);
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), actual.begin())) << "position " << pos;
  }

  // Without nextn_predict_layers the ninth block is an ordinary (Gated DeltaNet) layer.
  Rewrite no_key = mtp;
  no_key.add_keys = [](gguf::GgufWriter& w) { w.set_u32("qwen35.block_count", 9); };
  EXPECT_NE(load_error(rewrite_model(tiny_qwen35(), "mtp_no_key.gguf", no_key))
                .find("missing tensor 'blk.8.attn_qkv.weight'"),
            std::string::npos);

  // MTP blocks that would leave nothing to run.
  Rewrite all_mtp = mtp;
  all_mtp.add_keys = [](gguf::GgufWriter& w) {
    w.set_u32("qwen35.block_count", 9);
    w.set_u32("qwen35.nextn_predict_layers", 9);
  };
  const std::string message = load_error(rewrite_model(tiny_qwen35(), "all_mtp.gguf", all_mtp));
  EXPECT_NE(message.find("qwen35.nextn_predict_layers (9) leaves no layers"), std::string::npos)
      << message;
}

TEST(Qwen35LoadTest, RefusesRopeSectionsThatLeavePairsUnrotated) {
  QUANT_REQUIRE_SHARED();
  // Sections [2, 2, 0, 2]: rotary pairs 2 and 5 fall in the empty third section, so llama.cpp would
  // give them position 0; plain NeoX RoPE would turn them.
  const Rewrite sections{.drop_keys = {"qwen35.rope.dimension_sections"},
                         .add_keys =
                             [](gguf::GgufWriter& w) {
                               const std::vector<int32_t> values = {2, 2, 0, 2};
                               w.set_array_i32("qwen35.rope.dimension_sections", values);
                             },
                         .extra = {}};
  const std::string message = load_error(rewrite_model(tiny_qwen35(), "sections.gguf", sections));
  EXPECT_NE(message.find("rope.dimension_sections' puts rotary pair 2"), std::string::npos)
      << message;
}

}  // namespace
}  // namespace quant
