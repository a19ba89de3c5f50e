// Which ops the Vulkan plan compiler folds into mat-vecs (fusion.h), and which mat-vec dispatches
// hand their output to the next ones already quantized (quantized_handoff.h), on the plans of real
// architectures and on hand-made plans where a fold would change what some op reads. Needs no
// device: the decision is made on the plan alone.

#include "backend/vulkan/fusion.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "backend/vulkan/quantized_handoff.h"
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

TEST(FusionTest, LlamaLayerFoldsNormsRopesStoresSwigluAndResiduals) {
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
    // q/k/v with RoPE and store | attention.
    EXPECT_EQ(fusions.folds[at("q")].rope, at("q_rope"));
    EXPECT_EQ(fusions.folds[at("k")].rope, at("k_rope"));
    EXPECT_FALSE(fusions.folds[at("v")].rope.has_value());
    EXPECT_FALSE(fusions.folds[at("q")].kv_store.has_value());
    EXPECT_EQ(fusions.folds[at("k")].kv_store, at("kv_store"));
    EXPECT_EQ(fusions.folds[at("v")].kv_store, at("kv_store"));
    for (const char* folded : {"q_rope", "k_rope", "kv_store"})
      EXPECT_TRUE(fusions.folded[at(folded)]) << folded;
    EXPECT_FALSE(fusions.folded[at("attn")]);
  }
  EXPECT_GT(layers, 1u);
  EXPECT_EQ(fusions.swiglu_pairs.size(), layers);
  EXPECT_TRUE(fusions.folds[ops.at("-1/logits")].norm.has_value());
  // Nothing that is not a fold's part disappears: attention and the mat-vecs stay.
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const plan::OpKind& kind = plan.ops[i].kind;
    const bool foldable =
        std::holds_alternative<plan::RmsNorm>(kind) || std::holds_alternative<plan::Add>(kind) ||
        std::holds_alternative<plan::SwiGLU>(kind) || std::holds_alternative<plan::KvStore>(kind) ||
        std::holds_alternative<plan::Rope>(kind) || plan.ops[i].name == "ffn_up";
    EXPECT_TRUE(foldable || !fusions.folded[i]) << plan::describe(plan.ops[i]);
  }
}

// qwen3 and qwen35 (its full-attention layers) rotate halves (neox) after per-head norms: no
// mat-vec rotates or stores; the norms, RoPEs and the KV store all go into the attention.
TEST(FusionTest, HeadNormsRopesAndStoreGoIntoTheAttention) {
  QUANT_REQUIRE_SHARED();
  for (const char* name : {"tiny-qwen3-Q8_0.gguf", "tiny-qwen35-Q8_0.gguf"}) {
    SCOPED_TRACE(name);
    const model::Model model =
        model::Model::load(quant::test::shared_path(std::string("data/models/") + name));
    const plan::Plan& plan = model.plan();
    const FusionPlan fusions = plan_fusions(plan);
    const std::map<std::string, size_t> ops = index_ops(plan);
    size_t attentions = 0;
    for (size_t i = 0; i < plan.ops.size(); ++i) {
      EXPECT_FALSE(fusions.folds[i].rope.has_value()) << plan::describe(plan.ops[i]);
      if (std::holds_alternative<plan::MatVec>(plan.ops[i].kind)) {
        EXPECT_FALSE(fusions.folds[i].kv_store.has_value()) << plan::describe(plan.ops[i]);
      }
      if (!std::holds_alternative<plan::Attention>(plan.ops[i].kind)) continue;
      ++attentions;
      const std::string layer = std::to_string(plan.ops[i].layer) + "/";
      SCOPED_TRACE(layer);
      EXPECT_FALSE(fusions.folded[i]);
      EXPECT_EQ(fusions.folds[i].q_rope, ops.at(layer + "q_rope"));
      EXPECT_EQ(fusions.folds[i].k_rope, ops.at(layer + "k_rope"));
      EXPECT_EQ(fusions.folds[i].kv_store, ops.at(layer + "kv_store"));
      EXPECT_EQ(fusions.folds[ops.at(layer + "q_rope")].norm, ops.at(layer + "q_norm"));
      EXPECT_EQ(fusions.folds[ops.at(layer + "k_rope")].norm, ops.at(layer + "k_norm"));
      EXPECT_FALSE(fusions.folds[ops.at(layer + "k_rope")].kv_store.has_value());
      for (const char* folded : {"q_norm", "k_norm", "q_rope", "k_rope", "kv_store"})
        EXPECT_TRUE(fusions.folded[ops.at(layer + folded)]) << folded;
      // qwen3's q, k and v mat-vecs run as one; qwen35's q holds the output gate too, sliced off
      // before the norm.
      if (std::string(name).starts_with("tiny-qwen3-"))
        EXPECT_EQ(
            fusions.folds[i].qkv_matvecs,
            (std::array<size_t, 3>{ops.at(layer + "q"), ops.at(layer + "k"), ops.at(layer + "v")}));
      else
        EXPECT_FALSE(fusions.folds[i].qkv_matvecs.has_value());
    }
    EXPECT_GT(attentions, 0u);
  }
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

// A llama attention block without its norm: q, k, v mat-vecs (ops 0-2), the RoPE of q and of k
// (3, 4), the KV store (5) and the attention (6); 2 query heads and 1 KV head of 4 values.
struct AttentionPlan {
  plan::Plan plan;
  plan::BufferId in, q, k, v, other, out;
  plan::KvCacheId cache;
  std::vector<float> storage = std::vector<float>(128, 0.5f);
  static constexpr size_t kQ = 0, kK = 1, kV = 2, kQRope = 3, kKRope = 4, kStore = 5;

  // With `head_norms`, a per-head RMS norm of q and one of k come right before the attention's
  // RoPEs (as qwen3 has them): ops 3 and 4, with the later ops two places on.
  explicit AttentionPlan(plan::RopeStyle style = plan::RopeStyle::AdjacentPairs,
                         bool head_norms = false) {
    in = plan.add_buffer("in", 8);
    q = plan.add_buffer("q", 8);
    k = plan.add_buffer("k", 4);
    v = plan.add_buffer("v", 4);
    other = plan.add_buffer("other", 4);
    out = plan.add_buffer("out", 8);
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(storage.data()),
                                         storage.size() * sizeof(float));
    const plan::WeightId wq = plan.add_weight({"wq", TensorType::F32, {8, 8}, bytes.first(256)});
    const plan::WeightId wk =
        plan.add_weight({"wk", TensorType::F32, {8, 4}, bytes.subspan(256, 128)});
    const plan::WeightId wv =
        plan.add_weight({"wv", TensorType::F32, {8, 4}, bytes.subspan(384, 128)});
    cache = plan.add_kv_cache({.layer = 0, .n_kv_heads = 1, .head_dim = 4});
    plan.add_op(plan::MatVec{.weight = wq, .in = in, .out = q}, "q", 0);
    plan.add_op(plan::MatVec{.weight = wk, .in = in, .out = k}, "k", 0);
    plan.add_op(plan::MatVec{.weight = wv, .in = in, .out = v}, "v", 0);
    if (head_norms) {
      const plan::WeightId norm_weight =
          plan.add_weight({"norm", TensorType::F32, {4}, bytes.first(16)});
      plan.add_op(
          plan::RmsNorm{.in = q, .weight = norm_weight, .out = q, .n_groups = 2, .group_size = 4},
          "q_norm", 0);
      plan.add_op(
          plan::RmsNorm{.in = k, .weight = norm_weight, .out = k, .n_groups = 1, .group_size = 4},
          "k_norm", 0);
    }
    plan.add_op(plan::Rope{.buf = q, .n_heads = 2, .head_dim = 4, .n_rot = 4, .style = style},
                "q_rope", 0);
    plan.add_op(plan::Rope{.buf = k, .n_heads = 1, .head_dim = 4, .n_rot = 4, .style = style},
                "k_rope", 0);
    plan.add_op(plan::KvStore{.k = k, .v = v, .cache = cache}, "kv_store", 0);
    plan.add_op(plan::Attention{.q = q,
                                .cache = cache,
                                .out = out,
                                .n_heads = 2,
                                .n_kv_heads = 1,
                                .head_dim = 4,
                                .scale = 0.5f},
                "attn", 0);
  }
  void insert(size_t at, plan::OpKind kind) {
    plan.ops.insert(plan.ops.begin() + static_cast<ptrdiff_t>(at), plan::Op{kind, "inserted", 0});
  }
};

TEST(FusionTest, AdjacentPairRopesAndTheStoreGoIntoTheMatvecs) {
  AttentionPlan attention;
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_EQ(fusions.folds[AttentionPlan::kQ].rope, AttentionPlan::kQRope);
  EXPECT_EQ(fusions.folds[AttentionPlan::kK].rope, AttentionPlan::kKRope);
  EXPECT_EQ(fusions.folds[AttentionPlan::kK].kv_store, AttentionPlan::kStore);
  EXPECT_EQ(fusions.folds[AttentionPlan::kV].kv_store, AttentionPlan::kStore);
  EXPECT_EQ(fusions.folded, (std::vector<bool>{false, false, false, true, true, true, false}));
}

TEST(FusionTest, NeoxRopeKeepsTheStore) {
  AttentionPlan attention(plan::RopeStyle::Neox);
  const FusionPlan fusions = plan_fusions(attention.plan);
  for (size_t matvec : {AttentionPlan::kQ, AttentionPlan::kK, AttentionPlan::kV}) {
    EXPECT_FALSE(fusions.folds[matvec].rope.has_value());
    EXPECT_FALSE(fusions.folds[matvec].kv_store.has_value());
  }
  EXPECT_EQ(fusions.folds[AttentionPlan::kKRope].kv_store, AttentionPlan::kStore);
  EXPECT_EQ(fusions.folded, (std::vector<bool>{false, false, false, false, false, true, false}));
}

TEST(FusionTest, RopeStaysWhenTheHeadsAreReadBeforeIt) {
  AttentionPlan attention;
  // Reads k unrotated between its mat-vec and its RoPE.
  attention.insert(AttentionPlan::kV,
                   plan::Add{.a = attention.k, .b = attention.k, .out = attention.other});
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_EQ(fusions.folds[AttentionPlan::kQ].rope, AttentionPlan::kQRope + 1);
  EXPECT_FALSE(fusions.folds[AttentionPlan::kK].rope.has_value());
  EXPECT_FALSE(fusions.folds[AttentionPlan::kK].kv_store.has_value());
  EXPECT_FALSE(fusions.folds[AttentionPlan::kV + 1].kv_store.has_value());
  // The store goes into the RoPE of the keys instead.
  EXPECT_EQ(fusions.folds[AttentionPlan::kKRope + 1].kv_store, AttentionPlan::kStore + 1);
}

TEST(FusionTest, StoreStaysWhenTheValuesComeFromAnotherOp) {
  AttentionPlan attention;
  attention.plan.ops[AttentionPlan::kV].kind =
      plan::Add{.a = attention.other, .b = attention.other, .out = attention.v};
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_EQ(fusions.folds[AttentionPlan::kK].rope, AttentionPlan::kKRope);
  EXPECT_FALSE(fusions.folds[AttentionPlan::kK].kv_store.has_value());
  EXPECT_FALSE(fusions.folded[AttentionPlan::kStore]);
}

TEST(FusionTest, StoreStaysWhenTheCacheIsReadBeforeIt) {
  AttentionPlan attention;
  attention.insert(AttentionPlan::kStore,
                   std::get<plan::Attention>(attention.plan.ops.back().kind));
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_EQ(fusions.folds[AttentionPlan::kK].rope, AttentionPlan::kKRope);
  EXPECT_FALSE(fusions.folds[AttentionPlan::kK].kv_store.has_value());
  EXPECT_FALSE(fusions.folds[AttentionPlan::kV].kv_store.has_value());
  EXPECT_FALSE(fusions.folded[AttentionPlan::kStore + 1]);
}

// The qwen3 shape of AttentionPlan: q, k, v mat-vecs (0-2), the head norms (3, 4), the RoPEs (5,
// 6), the store (7) and the attention (8).
constexpr size_t kNormedQRope = 5, kNormedKRope = 6, kNormedStore = 7, kNormedAttention = 8;

TEST(FusionTest, NormedNeoxRopesAndTheStoreGoIntoTheAttention) {
  AttentionPlan attention(plan::RopeStyle::Neox, /*head_norms=*/true);
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_EQ(fusions.folds[kNormedAttention].q_rope, kNormedQRope);
  EXPECT_EQ(fusions.folds[kNormedAttention].k_rope, kNormedKRope);
  EXPECT_EQ(fusions.folds[kNormedAttention].kv_store, kNormedStore);
  EXPECT_EQ(fusions.folded,
            (std::vector<bool>{false, false, false, true, true, true, true, true, false}));
}

// With their preparation in the attention, nothing else reads q, k and v: their mat-vecs, of one
// input, type and row length, may run as one, their weights back to back.
TEST(FusionTest, QkvMatvecsOfAPreparingAttentionRunAsOne) {
  AttentionPlan attention(plan::RopeStyle::Neox, /*head_norms=*/true);
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_EQ(fusions.folds[kNormedAttention].qkv_matvecs,
            (std::array<size_t, 3>{AttentionPlan::kQ, AttentionPlan::kK, AttentionPlan::kV}));
  ASSERT_EQ(fusions.qkv_triples.size(), 1u);
  const auto weight_of = [&](size_t op) {
    return std::get<plan::MatVec>(attention.plan.ops[op].kind).weight.index;
  };
  for (size_t m = 0; m < 3; ++m) EXPECT_EQ(fusions.qkv_triples[0][m].index, weight_of(m));
  for (size_t matvec : {AttentionPlan::kQ, AttentionPlan::kK, AttentionPlan::kV})
    EXPECT_FALSE(fusions.folded[matvec]);
}

TEST(FusionTest, QkvMatvecsStaySeparateWhenTheValuesAreReadAfterTheAttention) {
  AttentionPlan attention(plan::RopeStyle::Neox, /*head_norms=*/true);
  attention.plan.add_op(plan::Add{.a = attention.v, .b = attention.v, .out = attention.other},
                        "reads v", 0);
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_EQ(fusions.folds[kNormedAttention].q_rope, kNormedQRope);
  EXPECT_FALSE(fusions.folds[kNormedAttention].qkv_matvecs.has_value());
  EXPECT_TRUE(fusions.qkv_triples.empty());
}

TEST(FusionTest, QkvMatvecsStaySeparateWithAnotherInputOrType) {
  for (bool other_type : {false, true}) {
    SCOPED_TRACE(other_type ? "another type" : "another input");
    AttentionPlan attention(plan::RopeStyle::Neox, /*head_norms=*/true);
    auto& v = std::get<plan::MatVec>(attention.plan.ops[AttentionPlan::kV].kind);
    if (other_type)
      attention.plan.weights[v.weight.index].type = TensorType::F16;
    else
      v.in = attention.other;
    const FusionPlan fusions = plan_fusions(attention.plan);
    EXPECT_EQ(fusions.folds[kNormedAttention].q_rope, kNormedQRope);
    EXPECT_FALSE(fusions.folds[kNormedAttention].qkv_matvecs.has_value());
  }
}

TEST(FusionTest, AttentionTakesNoRopeWithoutHeadNorms) {
  AttentionPlan attention(plan::RopeStyle::Neox);
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_FALSE(fusions.folds.back().q_rope.has_value());
  EXPECT_FALSE(fusions.folded[AttentionPlan::kQRope]);
  EXPECT_FALSE(fusions.folds.back().qkv_matvecs.has_value());
}

TEST(FusionTest, AttentionTakesNoRopeWhenTheRotatedQueryIsReadBeforeIt) {
  AttentionPlan attention(plan::RopeStyle::Neox, /*head_norms=*/true);
  attention.insert(kNormedAttention,
                   plan::Add{.a = attention.q, .b = attention.q, .out = attention.out});
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_FALSE(fusions.folds[kNormedAttention + 1].q_rope.has_value());
  EXPECT_FALSE(fusions.folded[kNormedQRope]);
  // The store stays with the RoPE of the keys.
  EXPECT_EQ(fusions.folds[kNormedKRope].kv_store, kNormedStore);
}

TEST(FusionTest, AttentionTakesNoStoreWhenTheValuesChangeBeforeIt) {
  AttentionPlan attention(plan::RopeStyle::Neox, /*head_norms=*/true);
  attention.insert(kNormedAttention,
                   plan::Add{.a = attention.other, .b = attention.other, .out = attention.v});
  const FusionPlan fusions = plan_fusions(attention.plan);
  EXPECT_FALSE(fusions.folds[kNormedAttention + 1].q_rope.has_value());
  EXPECT_FALSE(fusions.folded[kNormedKRope]);
}

// The handoffs of a plan, by producer (each producer has one).
std::map<size_t, QuantizedHandoff> handoffs_by_producer(
    const plan::Plan& plan, const FusionPlan& fusions,
    const std::function<bool(size_t)>& can_produce = [](size_t) { return true; },
    const std::function<bool(size_t)>& can_consume = [](size_t) { return true; }) {
  std::map<size_t, QuantizedHandoff> by_producer;
  for (const QuantizedHandoff& handoff :
       plan_quantized_handoffs(plan, fusions, can_produce, can_consume)) {
    EXPECT_FALSE(by_producer.contains(handoff.producer))
        << plan::describe(plan.ops[handoff.producer]);
    by_producer[handoff.producer] = handoff;
  }
  return by_producer;
}

// The handoffs of a llama or qwen3 layer stack where every mat-vec and attention may produce and
// every mat-vec consume: in each layer the attention feeds attn_out (no norm), attn_out
// (+ residual) feeds ffn_gate (+ up) through ffn_norm, ffn_gate (+ up + SwiGLU) feeds ffn_down,
// and ffn_down (+ residual) feeds the next layer's q, k and v through its attn_norm, or the logits
// through the output norm. The embedding feeds layer 0's q, k and v through its attn_norm; q, k
// and v hand nothing over (the attention reads them). Returns the number of layers.
size_t expect_layer_handoffs(const plan::Plan& plan) {
  const FusionPlan fusions = plan_fusions(plan);
  const std::map<std::string, size_t> ops = index_ops(plan);
  const std::map<size_t, QuantizedHandoff> handoffs = handoffs_by_producer(plan, fusions);
  auto op = [&](int32_t layer, const char* name) {
    return ops.at(std::to_string(layer) + "/" + name);
  };
  auto expect_handoff = [&](size_t producer, std::optional<size_t> norm,
                            const std::vector<size_t>& consumers) {
    SCOPED_TRACE(plan::describe(plan.ops[producer]));
    const auto handoff = handoffs.find(producer);
    ASSERT_NE(handoff, handoffs.end());
    EXPECT_EQ(handoff->second.norm, norm);
    EXPECT_EQ(handoff->second.consumers, consumers);
  };
  expect_handoff(op(-1, "embed"), op(0, "attn_norm"), {op(0, "q"), op(0, "k"), op(0, "v")});
  size_t layers = 0;
  for (int32_t layer = 0; ops.contains(std::to_string(layer) + "/q"); ++layer, ++layers) {
    SCOPED_TRACE("layer " + std::to_string(layer));
    expect_handoff(op(layer, "attn"), std::nullopt, {op(layer, "attn_out")});
    expect_handoff(op(layer, "attn_out"), op(layer, "ffn_norm"), {op(layer, "ffn_gate")});
    expect_handoff(op(layer, "ffn_gate"), std::nullopt, {op(layer, "ffn_down")});
    const bool last = !ops.contains(std::to_string(layer + 1) + "/q");
    if (last)
      expect_handoff(op(layer, "ffn_down"), op(-1, "output_norm"), {op(-1, "logits")});
    else
      expect_handoff(op(layer, "ffn_down"), op(layer + 1, "attn_norm"),
                     {op(layer + 1, "q"), op(layer + 1, "k"), op(layer + 1, "v")});
    for (const char* projection : {"q", "k", "v"})
      EXPECT_FALSE(handoffs.contains(op(layer, projection))) << projection;
  }
  // Nothing else.
  EXPECT_EQ(handoffs.size(), 4 * layers + 1);
  return layers;
}

TEST(QuantizedHandoffTest, LlamaLayersHandOverAtTheResidualsAndTheSwiglu) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(quant::test::shared_path("data/models/tiny-llama-deep-Q4_K_M.gguf"));
  const plan::Plan& plan = model.plan();
  ASSERT_GT(expect_layer_handoffs(plan), 1u);
  // The consumers q, k and v carry the RoPE and KV store epilogues: they read a quantized x all the
  // same (and hand nothing over).
  const FusionPlan fusions = plan_fusions(plan);
  const std::map<std::string, size_t> ops = index_ops(plan);
  EXPECT_TRUE(fusions.folds[ops.at("1/q")].rope.has_value());
  EXPECT_TRUE(fusions.folds[ops.at("1/v")].kv_store.has_value());
}

TEST(QuantizedHandoffTest, Qwen3LayersHandOverAtTheResidualsAndTheSwiglu) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(quant::test::shared_path("data/models/tiny-qwen3-Q4_K_M.gguf"));
  EXPECT_GT(expect_layer_handoffs(model.plan()), 0u);
}

// A producer the device cannot quantize with (can_produce false) leaves its consumers quantizing x
// themselves; a consumer that cannot read a quantized x (can_consume false) drops out alone.
TEST(QuantizedHandoffTest, ProducersAndConsumersTheDeviceRefusesDropOut) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(quant::test::shared_path("data/models/tiny-llama-deep-Q4_K_M.gguf"));
  const plan::Plan& plan = model.plan();
  const FusionPlan fusions = plan_fusions(plan);
  const std::map<std::string, size_t> ops = index_ops(plan);
  const size_t refused_producer = ops.at("0/ffn_down");
  std::map<size_t, QuantizedHandoff> handoffs =
      handoffs_by_producer(plan, fusions, [&](size_t index) { return index != refused_producer; });
  EXPECT_FALSE(handoffs.contains(refused_producer));
  for (const auto& [producer, handoff] : handoffs)
    for (const char* projection : {"q", "k", "v"})
      EXPECT_EQ(std::ranges::count(handoff.consumers, ops.at(std::string("1/") + projection)), 0)
          << projection;
  EXPECT_TRUE(handoffs.contains(ops.at("0/attn_out")));
  EXPECT_TRUE(handoffs.contains(ops.at("1/ffn_down")));

  const size_t refused_consumer = ops.at("1/k");
  handoffs = handoffs_by_producer(
      plan, fusions, [](size_t) { return true; },
      [&](size_t index) { return index != refused_consumer; });
  EXPECT_EQ(handoffs.at(refused_producer).consumers,
            (std::vector<size_t>{ops.at("1/q"), ops.at("1/v")}));
}

// A mat-vec whose epilogue stores its rows (v into the KV cache) hands nothing over, even to a
// mat-vec that reads its output next; without the store it does.
TEST(QuantizedHandoffTest, NoHandoffFromAMatvecWithAnEpilogue) {
  auto add_reader_of_v = [](AttentionPlan& attention) {
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(attention.storage.data()),
                                         4 * 4 * sizeof(float));
    const plan::WeightId weight =
        attention.plan.add_weight({"after v", TensorType::F32, {4, 4}, bytes});
    attention.plan.add_op(plan::MatVec{.weight = weight, .in = attention.v, .out = attention.other},
                          "reads v", 0);
    return attention.plan.ops.size() - 1;
  };
  AttentionPlan stored;
  add_reader_of_v(stored);
  FusionPlan fusions = plan_fusions(stored.plan);
  ASSERT_TRUE(fusions.folds[AttentionPlan::kV].kv_store.has_value());
  EXPECT_TRUE(handoffs_by_producer(stored.plan, fusions).empty());

  AttentionPlan unstored;
  // The mat-vecs and the RoPEs only.
  unstored.plan.ops.erase(unstored.plan.ops.begin() + AttentionPlan::kStore,
                          unstored.plan.ops.end());
  const size_t reader = add_reader_of_v(unstored);
  fusions = plan_fusions(unstored.plan);
  const std::map<size_t, QuantizedHandoff> handoffs = handoffs_by_producer(unstored.plan, fusions);
  ASSERT_EQ(handoffs.size(), 1u);
  EXPECT_EQ(handoffs.begin()->first, AttentionPlan::kV);
  EXPECT_FALSE(handoffs.begin()->second.norm.has_value());
  EXPECT_EQ(handoffs.begin()->second.consumers, std::vector<size_t>{reader});
}

}  // namespace
}  // namespace quant::vulkan::test
