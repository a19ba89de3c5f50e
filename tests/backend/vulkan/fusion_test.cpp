// Which ops the Vulkan plan compiler folds into mat-vecs (fusion.h), on the plans of real
// architectures and on hand-made plans where a fold would change what some op reads. Needs no
// device: the decision is made on the plan alone.

#include "backend/vulkan/fusion.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <variant>

#include "common/shared_data.h"
#include "model/model.h"

namespace quant::vulkan::test {
namespace {

// Op index by "layer/name".
std::map<std::string, size_t> index_ops(const plan::Plan& plan) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < plan.ops.size(); ++i)
    index[std::to_string(plan.ops[i].layer) + "/" + plan.ops[i].name] = i;
  return index;
}

TEST(FusionTest, LlamaLayerFoldsNormsSwigluAndResiduals) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(quant::test::shared_path("data/models/tiny-llama-deep-Q4_K_M.gguf"));
  const plan::Plan& plan = model.plan();
  const FusionPlan fusions = plan_fusions(plan);
  const std::map<std::string, size_t> ops = index_ops(plan);
  size_t layers = 0;
  for (int32_t layer = 0; ops.contains(std::to_string(layer) + "/q"); ++layer, ++layers) {
    auto at = [&](const char* name) { return ops.at(std::to_string(layer) + "/" + name); };
    SCOPED_TRACE("layer " + std::to_string(layer));
    EXPECT_TRUE(fusions.folded[at("attn_norm")]);
    for (const char* projection : {"q", "k", "v"}) {
      EXPECT_EQ(fusions.folds[at(projection)].norm, at("attn_norm")) << projection;
      EXPECT_FALSE(fusions.folded[at(projection)]) << projection;
    }
    EXPECT_EQ(fusions.folds[at("attn_out")].residual_add, at("attn_residual"));
    EXPECT_TRUE(fusions.folded[at("attn_residual")]);
    EXPECT_TRUE(fusions.folded[at("ffn_norm")]);
    EXPECT_EQ(fusions.folds[at("ffn_gate")].norm, at("ffn_norm"));
    EXPECT_EQ(fusions.folds[at("ffn_gate")].swiglu_up, at("ffn_up"));
    EXPECT_EQ(fusions.folds[at("ffn_gate")].swiglu, at("ffn_swiglu"));
    EXPECT_TRUE(fusions.folded[at("ffn_up")]);
    EXPECT_TRUE(fusions.folded[at("ffn_swiglu")]);
    EXPECT_EQ(fusions.folds[at("ffn_down")].residual_add, at("ffn_residual"));
    EXPECT_TRUE(fusions.folded[at("ffn_residual")]);
    EXPECT_EQ(fusions.folds[at("k_rope")].kv_store, at("kv_store"));
    EXPECT_TRUE(fusions.folded[at("kv_store")]);
    EXPECT_FALSE(fusions.folds[at("q_rope")].kv_store.has_value());
  }
  EXPECT_GT(layers, 1u);
  EXPECT_EQ(fusions.swiglu_pairs.size(), layers);
  EXPECT_TRUE(fusions.folds[ops.at("-1/logits")].norm.has_value());
  // Nothing that is not a fold's part disappears: attention, RoPE and the mat-vecs stay.
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const plan::OpKind& kind = plan.ops[i].kind;
    const bool foldable =
        std::holds_alternative<plan::RmsNorm>(kind) || std::holds_alternative<plan::Add>(kind) ||
        std::holds_alternative<plan::SwiGLU>(kind) || std::holds_alternative<plan::KvStore>(kind) ||
        plan.ops[i].name == "ffn_up";
    EXPECT_TRUE(foldable || !fusions.folded[i]) << plan::describe(plan.ops[i]);
  }
}

TEST(FusionTest, Qwen3HeadNormsGoIntoTheRope) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(quant::test::shared_path("data/models/tiny-qwen3-Q8_0.gguf"));
  const plan::Plan& plan = model.plan();
  const FusionPlan fusions = plan_fusions(plan);
  const std::map<std::string, size_t> ops = index_ops(plan);
  EXPECT_EQ(fusions.folds[ops.at("0/q_rope")].norm, ops.at("0/q_norm"));
  EXPECT_EQ(fusions.folds[ops.at("0/k_rope")].norm, ops.at("0/k_norm"));
  EXPECT_EQ(fusions.folds[ops.at("0/k_rope")].kv_store, ops.at("0/kv_store"));
  EXPECT_TRUE(fusions.folded[ops.at("0/q_norm")]);
  EXPECT_TRUE(fusions.folded[ops.at("0/k_norm")]);
}

// A tiny plan: norm -> two mat-vecs, then whatever `tail` adds.
struct HandPlan {
  plan::Plan plan;
  plan::BufferId x, normed, a, b, out;
  plan::WeightId norm_weight, w1, w2;
  std::vector<float> storage = std::vector<float>(128, 0.5f);

  HandPlan() {
    x = plan.add_buffer("x", 8);
    normed = plan.add_buffer("normed", 8);
    a = plan.add_buffer("a", 8);
    b = plan.add_buffer("b", 8);
    out = plan.add_buffer("out", 8);
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(storage.data()),
                                         storage.size() * sizeof(float));
    norm_weight = plan.add_weight({"norm", TensorType::F32, {8}, bytes.first(32)});
    w1 = plan.add_weight({"w1", TensorType::F32, {8, 8}, bytes.first(256)});
    w2 = plan.add_weight({"w2", TensorType::F32, {8, 8}, bytes.subspan(256)});
    plan.add_op(plan::RmsNorm{.in = x, .weight = norm_weight, .out = normed, .group_size = 8},
                "norm", 0);
    plan.add_op(plan::MatVec{.weight = w1, .in = normed, .out = a}, "m1", 0);
    plan.add_op(plan::MatVec{.weight = w2, .in = normed, .out = b}, "m2", 0);
  }
};

TEST(FusionTest, NormStaysWhenSomethingElseReadsItsOutput) {
  HandPlan hand;
  hand.plan.add_op(plan::Add{.a = hand.normed, .b = hand.a, .out = hand.out}, "add", 0);
  const FusionPlan fusions = plan_fusions(hand.plan);
  EXPECT_FALSE(fusions.folded[0]);
  EXPECT_FALSE(fusions.folds[1].norm.has_value());
}

TEST(FusionTest, NormStaysWhenItsInputChangesBeforeTheLastReader) {
  HandPlan hand;
  hand.plan.ops.insert(hand.plan.ops.begin() + 2,
                       plan::Op{plan::Add{.a = hand.x, .b = hand.x, .out = hand.x}, "double", 0});
  const FusionPlan fusions = plan_fusions(hand.plan);
  EXPECT_FALSE(fusions.folded[0]);
}

TEST(FusionTest, ResidualStaysWhenTheSumIsReadInBetween) {
  HandPlan hand;
  // out = a + x is folded into m1 only if nothing touches x between m1 and the add.
  hand.plan.add_op(plan::Add{.a = hand.x, .b = hand.a, .out = hand.x}, "residual", 0);
  FusionPlan fusions = plan_fusions(hand.plan);
  // m1 reads the norm of x, and the add writes x: accumulating into x early would change the norm
  // that m2 reads.
  EXPECT_FALSE(fusions.folds[1].residual_add.has_value());

  HandPlan other;
  other.plan.add_op(plan::Add{.a = other.out, .b = other.b, .out = other.out}, "residual", 0);
  fusions = plan_fusions(other.plan);
  EXPECT_EQ(fusions.folds[2].residual_add, std::optional<size_t>(3));
  other.plan.ops.insert(
      other.plan.ops.begin() + 3,
      plan::Op{plan::Add{.a = other.out, .b = other.a, .out = other.a}, "use", 0});
  fusions = plan_fusions(other.plan);
  EXPECT_FALSE(fusions.folds[2].residual_add.has_value());
}

TEST(FusionTest, SwigluNeedsTheGateAndUpReadOnlyByIt) {
  HandPlan hand;
  hand.plan.add_op(plan::SwiGLU{.gate = hand.a, .up = hand.b, .out = hand.a}, "swiglu", 0);
  FusionPlan fusions = plan_fusions(hand.plan);
  EXPECT_EQ(fusions.folds[1].swiglu_up, std::optional<size_t>(2));
  EXPECT_EQ(fusions.folds[1].swiglu, std::optional<size_t>(3));

  hand.plan.add_op(plan::Add{.a = hand.b, .b = hand.a, .out = hand.out}, "reads up", 0);
  fusions = plan_fusions(hand.plan);
  EXPECT_FALSE(fusions.folds[1].swiglu_up.has_value());
  EXPECT_FALSE(fusions.folded[2]);
}

}  // namespace
}  // namespace quant::vulkan::test
