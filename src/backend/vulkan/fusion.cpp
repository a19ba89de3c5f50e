#include "backend/vulkan/fusion.h"

#include <algorithm>
#include <variant>

namespace quant::vulkan {

namespace {

bool reads(const plan::Op& op, plan::BufferId buffer) {
  const std::vector<plan::BufferId> inputs = plan::inputs_of(op);
  return std::find(inputs.begin(), inputs.end(), buffer) != inputs.end();
}

bool writes(const plan::Op& op, plan::BufferId buffer) {
  return plan::output_of(op) == std::optional(buffer);
}

bool touches(const plan::Op& op, plan::BufferId buffer) {
  return reads(op, buffer) || writes(op, buffer);
}

// The ops after `producer` that read `buffer` before something overwrites it (the logits buffer
// counts as read by the host).
std::vector<size_t> readers_after(const plan::Plan& plan, size_t producer, plan::BufferId buffer) {
  std::vector<size_t> result;
  for (size_t i = producer + 1; i < plan.ops.size(); ++i) {
    if (reads(plan.ops[i], buffer)) result.push_back(i);
    if (writes(plan.ops[i], buffer)) return result;
  }
  if (buffer == plan.logits) result.push_back(plan.ops.size());
  return result;
}

// Whether no op strictly between `first` and `last` writes `buffer`.
bool unwritten_between(const plan::Plan& plan, size_t first, size_t last, plan::BufferId buffer) {
  for (size_t i = first + 1; i < last; ++i)
    if (writes(plan.ops[i], buffer)) return false;
  return true;
}

// Whether no op strictly between `first` and `last`, other than those in `except`, touches
// `buffer`.
bool untouched_between(const plan::Plan& plan, size_t first, size_t last, plan::BufferId buffer,
                       const std::vector<size_t>& except = {}) {
  for (size_t i = first + 1; i < last; ++i)
    if (std::find(except.begin(), except.end(), i) == except.end() && touches(plan.ops[i], buffer))
      return false;
  return true;
}

template <typename Kind>
const Kind* as(const plan::Plan& plan, size_t i) {
  return i < plan.ops.size() ? std::get_if<Kind>(&plan.ops[i].kind) : nullptr;
}

// Folds a whole-vector RMS norm into the mat-vecs that read it.
void fold_norm(const plan::Plan& plan, size_t i, FusionPlan& fusions) {
  const auto* norm = as<plan::RmsNorm>(plan, i);
  if (norm == nullptr || norm->n_groups != 1 || norm->in == norm->out) return;
  const std::vector<size_t> readers = readers_after(plan, i, norm->out);
  if (readers.empty()) return;
  for (size_t reader : readers)
    if (as<plan::MatVec>(plan, reader) == nullptr) return;
  // The mat-vecs re-read the norm's input: nothing may change it before the last of them.
  if (!unwritten_between(plan, i, readers.back() + 1, norm->in)) return;
  fusions.folded[i] = true;
  for (size_t reader : readers) fusions.folds[reader].norm = i;
}

// Folds `up` and the SwiGLU into the gate mat-vec at `gate_index`.
void fold_swiglu(const plan::Plan& plan, size_t gate_index, FusionPlan& fusions) {
  const auto* gate = as<plan::MatVec>(plan, gate_index);
  if (gate == nullptr || fusions.folded[gate_index]) return;
  const std::vector<size_t> gate_readers = readers_after(plan, gate_index, gate->out);
  if (gate_readers.size() != 1) return;
  const size_t swiglu_index = gate_readers[0];
  const auto* swiglu = as<plan::SwiGLU>(plan, swiglu_index);
  if (swiglu == nullptr || swiglu->gate != gate->out || swiglu->up == gate->out) return;
  // The up mat-vec: between the two, reading the same input.
  for (size_t up_index = gate_index + 1; up_index < swiglu_index; ++up_index) {
    const auto* up = as<plan::MatVec>(plan, up_index);
    if (up == nullptr || up->out != swiglu->up) continue;
    const plan::WeightRef& gate_weight = plan.weight(gate->weight);
    const plan::WeightRef& up_weight = plan.weight(up->weight);
    if (up->in != gate->in || up_weight.type != gate_weight.type ||
        up_weight.dims != gate_weight.dims || gate->weight == up->weight ||
        gate_weight.data.data() == up_weight.data.data())
      return;
    if (fusions.folds[up_index].norm != fusions.folds[gate_index].norm) return;
    const std::vector<size_t> up_readers = readers_after(plan, up_index, up->out);
    if (up_readers != std::vector<size_t>{swiglu_index}) return;
    // Done at the gate's place, the whole thing must see the same input and may write the
    // SwiGLU's output early.
    const std::vector<size_t> parts = {up_index, swiglu_index};
    if (!unwritten_between(plan, gate_index, swiglu_index, gate->in) ||
        !untouched_between(plan, gate_index, swiglu_index + 1, swiglu->out, parts) ||
        !untouched_between(plan, gate_index, swiglu_index, up->out, parts))
      return;
    fusions.folds[gate_index].swiglu_up = up_index;
    fusions.folds[gate_index].swiglu = swiglu_index;
    fusions.folded[up_index] = true;
    fusions.folded[swiglu_index] = true;
    fusions.swiglu_pairs.emplace_back(gate->weight, up->weight);
    return;
  }
}

// Folds the residual add that consumes the mat-vec at `index` into it.
void fold_residual(const plan::Plan& plan, size_t index, FusionPlan& fusions) {
  const auto* matvec = as<plan::MatVec>(plan, index);
  if (matvec == nullptr || fusions.folded[index] || fusions.folds[index].swiglu) return;
  const std::vector<size_t> readers = readers_after(plan, index, matvec->out);
  if (readers.size() != 1) return;
  const size_t add_index = readers[0];
  const auto* add = as<plan::Add>(plan, add_index);
  if (add == nullptr) return;
  const plan::BufferId residual = add->a == matvec->out ? add->b : add->a;
  if (add->out != residual || residual == matvec->out || residual == matvec->in) return;
  if (const std::optional<size_t> norm = fusions.folds[index].norm;
      norm && as<plan::RmsNorm>(plan, *norm)->in == residual)
    return;
  if (!untouched_between(plan, index, add_index, residual)) return;
  fusions.folds[index].residual_add = add_index;
  fusions.folded[add_index] = true;
}

// The op that last wrote `buffer` before op `index`.
std::optional<size_t> last_writer(const plan::Plan& plan, size_t index, plan::BufferId buffer) {
  for (size_t i = index; i-- > 0;)
    if (writes(plan.ops[i], buffer)) return i;
  return std::nullopt;
}

// Whether op `index` is a MatVec that writes its plain product: one that nothing is folded into
// after the product yet.
bool plain_matvec(const plan::Plan& plan, size_t index, const FusionPlan& fusions) {
  const OpFolds& fold = fusions.folds[index];
  return as<plan::MatVec>(plan, index) != nullptr && !fusions.folded[index] && !fold.swiglu &&
         !fold.residual_add && !fold.rope && !fold.kv_store;
}

uint64_t matvec_rows(const plan::Plan& plan, size_t index) {
  return plan.weight(as<plan::MatVec>(plan, index)->weight).n_rows();
}

// Folds the RoPE at `index` into the mat-vec that computed the heads it rotates. Only adjacent
// pairs: a mat-vec computes its rows in groups of consecutive ones, from an even row.
void fold_rope_into_matvec(const plan::Plan& plan, size_t index, FusionPlan& fusions) {
  const auto* rope = as<plan::Rope>(plan, index);
  if (rope == nullptr || rope->style != plan::RopeStyle::AdjacentPairs || rope->head_dim % 2 != 0)
    return;
  const std::optional<size_t> producer = last_writer(plan, index, rope->buf);
  if (!producer || !plain_matvec(plan, *producer, fusions) ||
      matvec_rows(plan, *producer) != uint64_t{rope->n_heads} * rope->head_dim)
    return;
  // Rotated at the mat-vec's place: nothing in between may read the heads unrotated.
  const std::vector<size_t> readers = readers_after(plan, *producer, rope->buf);
  if (readers.empty() || readers[0] != index) return;
  fusions.folds[*producer].rope = index;
  fusions.folded[index] = true;
}

// The mat-vec whose dispatch can compute `buffer` as op `index` reads it: the plain MatVec that
// last wrote it, or the one that the RoPE that last wrote it is folded into.
std::optional<size_t> producing_matvec(const plan::Plan& plan, size_t index, plan::BufferId buffer,
                                       const FusionPlan& fusions) {
  const std::optional<size_t> writer = last_writer(plan, index, buffer);
  if (!writer) return std::nullopt;
  if (as<plan::Rope>(plan, *writer) != nullptr) {
    for (size_t i = 0; i < *writer; ++i)
      if (fusions.folds[i].rope == writer && !fusions.folds[i].kv_store) return i;
    return std::nullopt;
  }
  return plain_matvec(plan, *writer, fusions) ? writer : std::nullopt;
}

// Whether no op strictly between `first` and `last` reads or writes `cache`.
bool cache_untouched_between(const plan::Plan& plan, size_t first, size_t last,
                             plan::KvCacheId cache) {
  for (size_t i = first + 1; i < last; ++i) {
    const auto* store = as<plan::KvStore>(plan, i);
    const auto* attention = as<plan::Attention>(plan, i);
    if ((store != nullptr && store->cache == cache) ||
        (attention != nullptr && attention->cache == cache))
      return false;
  }
  return true;
}

// Folds the KV store at `index` into the mat-vecs that compute its keys and values: each writes
// its row of the cache with its output.
void fold_store_into_matvecs(const plan::Plan& plan, size_t index, FusionPlan& fusions) {
  const auto* store = as<plan::KvStore>(plan, index);
  if (store == nullptr || store->k == store->v) return;
  const std::optional<size_t> keys = producing_matvec(plan, index, store->k, fusions);
  const std::optional<size_t> values = producing_matvec(plan, index, store->v, fusions);
  if (!keys || !values) return;
  const plan::KvCacheDecl& cache = plan.kv_cache(store->cache);
  const uint64_t kv_dim = uint64_t{cache.n_kv_heads} * cache.head_dim;
  if (matvec_rows(plan, *keys) != kv_dim || matvec_rows(plan, *values) != kv_dim) return;
  // Stored at the mat-vecs' places: nothing in between may use the cache.
  if (!cache_untouched_between(plan, std::min(*keys, *values), index, store->cache)) return;
  fusions.folds[*keys].kv_store = index;
  fusions.folds[*values].kv_store = index;
  fusions.folded[index] = true;
}

// Folds the per-head norm that last wrote the heads, and the KV store that stores them, into the
// RoPE at `index` (one that no mat-vec took).
void fold_rope(const plan::Plan& plan, size_t index, FusionPlan& fusions) {
  const auto* rope = as<plan::Rope>(plan, index);
  if (rope == nullptr || fusions.folded[index]) return;
  for (size_t i = index; i-- > 0;) {
    if (!writes(plan.ops[i], rope->buf)) continue;
    const auto* norm = as<plan::RmsNorm>(plan, i);
    if (norm != nullptr && norm->in == norm->out && norm->n_groups == rope->n_heads &&
        norm->group_size == rope->head_dim &&
        readers_after(plan, i, norm->out) == std::vector<size_t>{index}) {
      fusions.folds[index].norm = i;
      fusions.folded[i] = true;
    }
    break;
  }
  const std::vector<size_t> readers = readers_after(plan, index, rope->buf);
  if (readers.empty()) return;
  const auto* store = as<plan::KvStore>(plan, readers[0]);
  if (store == nullptr || fusions.folded[readers[0]] || store->k != rope->buf ||
      store->v == rope->buf)
    return;
  const plan::KvCacheDecl& cache = plan.kv_cache(store->cache);
  if (cache.n_kv_heads != rope->n_heads || cache.head_dim != rope->head_dim) return;
  // Stored at the RoPE's place, the values must already be final there, and nothing in between
  // may read the cache.
  if (!unwritten_between(plan, index, readers[0], store->v)) return;
  for (size_t i = index + 1; i < readers[0]; ++i) {
    const auto* attention = as<plan::Attention>(plan, i);
    if (attention != nullptr && attention->cache == store->cache) return;
  }
  fusions.folds[index].kv_store = readers[0];
  fusions.folded[readers[0]] = true;
}

// Folds the RoPEs (with their per-head norms) of the attention's query and of the keys it stores,
// and that KV store, into the attention at `index`: its dispatch reads the raw q, k and v.
void fold_into_attention(const plan::Plan& plan, size_t index, FusionPlan& fusions) {
  const auto* attention = as<plan::Attention>(plan, index);
  if (attention == nullptr) return;
  const std::optional<size_t> q_index = last_writer(plan, index, attention->q);
  if (!q_index) return;
  const auto* q_rope = as<plan::Rope>(plan, *q_index);
  // The store into this cache, and the RoPE it is folded into.
  std::optional<size_t> store_index;
  for (size_t i = index; i-- > 0 && !store_index;) {
    const auto* store = as<plan::KvStore>(plan, i);
    if (store != nullptr && store->cache == attention->cache) store_index = i;
  }
  if (q_rope == nullptr || !store_index) return;
  std::optional<size_t> k_index;
  for (size_t i = 0; i < *store_index; ++i)
    if (fusions.folds[i].kv_store == store_index && as<plan::Rope>(plan, i) != nullptr) k_index = i;
  if (!k_index) return;
  const auto* k_rope = as<plan::Rope>(plan, *k_index);
  const auto& store = std::get<plan::KvStore>(plan.ops[*store_index].kind);
  const OpFolds& q_folds = fusions.folds[*q_index];
  if (fusions.folded[*q_index] || fusions.folded[*k_index] || !q_folds.norm || q_folds.kv_store ||
      !fusions.folds[*k_index].norm)
    return;
  if (q_rope->n_rot != k_rope->n_rot || q_rope->theta != k_rope->theta ||
      q_rope->style != k_rope->style || q_rope->n_heads != attention->n_heads ||
      q_rope->head_dim != attention->head_dim || k_rope->head_dim != attention->head_dim)
    return;
  // Prepared at the attention's place, the query, keys and values must still hold there what the
  // norms and the store read, and nothing may read the rotated query or keys in between.
  if (readers_after(plan, *q_index, attention->q) != std::vector<size_t>{index} ||
      readers_after(plan, *k_index, k_rope->buf) != std::vector<size_t>{*store_index} ||
      !unwritten_between(plan, *k_index, index, k_rope->buf) ||
      !unwritten_between(plan, *store_index, index, store.v) ||
      !cache_untouched_between(plan, *store_index, index, attention->cache))
    return;
  fusions.folds[*k_index].kv_store.reset();
  fusions.folds[index].q_rope = q_index;
  fusions.folds[index].k_rope = k_index;
  fusions.folds[index].kv_store = store_index;
  fusions.folded[*q_index] = true;
  fusions.folded[*k_index] = true;
}

// The MatVec op whose output the Rope at `rope` reads: the last writer of its buffer, or of its
// folded per-head norm's input.
std::optional<size_t> matvec_before_rope(const plan::Plan& plan, size_t rope,
                                         const FusionPlan& fusions) {
  size_t reader = rope;
  plan::BufferId in = std::get<plan::Rope>(plan.ops[rope].kind).buf;
  if (const std::optional<size_t> norm = fusions.folds[rope].norm) {
    reader = *norm;
    in = std::get<plan::RmsNorm>(plan.ops[*norm].kind).in;
  }
  const std::optional<size_t> writer = last_writer(plan, reader, in);
  if (!writer || as<plan::MatVec>(plan, *writer) == nullptr) return std::nullopt;
  return writer;
}

// Marks the q, k and v mat-vecs of the attention at `index` (whose preparation is folded in) as
// one mat-vec: they read one input with one norm, their weights have one type and row length, the
// ops from the first of them to the attention are theirs and the preparation's (so that all three
// may run at the first one's place), and nothing else reads what they write (their rows go to one
// buffer instead, which the attention reads).
void fold_qkv_matvecs(const plan::Plan& plan, size_t index, FusionPlan& fusions) {
  const OpFolds& fold = fusions.folds[index];
  if (!fold.q_rope) return;
  const auto& store = std::get<plan::KvStore>(plan.ops[*fold.kv_store].kind);
  const std::optional<size_t> q = matvec_before_rope(plan, *fold.q_rope, fusions);
  const std::optional<size_t> k = matvec_before_rope(plan, *fold.k_rope, fusions);
  const std::optional<size_t> v = last_writer(plan, *fold.kv_store, store.v);
  if (!q || !k || !v || as<plan::MatVec>(plan, *v) == nullptr) return;
  const std::array<size_t, 3> matvecs{*q, *k, *v};
  const size_t first = std::min({*q, *k, *v});
  for (size_t m : matvecs) {
    const OpFolds& m_fold = fusions.folds[m];
    if (fusions.folded[m] || m_fold.swiglu_up || m_fold.residual_add || m_fold.rope ||
        m_fold.kv_store || m_fold.norm != fusions.folds[*q].norm)
      return;
  }
  const auto& q_op = std::get<plan::MatVec>(plan.ops[*q].kind);
  const plan::WeightRef& q_weight = plan.weight(q_op.weight);
  for (size_t m : {*k, *v}) {
    const auto& op = std::get<plan::MatVec>(plan.ops[m].kind);
    const plan::WeightRef& weight = plan.weight(op.weight);
    if (op.in != q_op.in || weight.type != q_weight.type ||
        weight.row_length() != q_weight.row_length())
      return;
  }
  std::vector<size_t> own = {*q, *k, *v, *fold.q_rope, *fold.k_rope, *fold.kv_store, index};
  for (size_t rope : {*fold.q_rope, *fold.k_rope})
    if (fusions.folds[rope].norm) own.push_back(*fusions.folds[rope].norm);
  for (size_t i = first + 1; i < index; ++i)
    if (std::find(own.begin(), own.end(), i) == own.end()) return;
  // The dispatch writes the rows elsewhere: no other op may read these outputs before something
  // writes them again.
  for (size_t m : matvecs) {
    const plan::BufferId out = std::get<plan::MatVec>(plan.ops[m].kind).out;
    if (out == plan.logits) return;
    for (size_t i = first + 1; i < plan.ops.size(); ++i) {
      if (std::find(own.begin(), own.end(), i) != own.end()) continue;
      if (reads(plan.ops[i], out)) return;
      if (writes(plan.ops[i], out)) break;
    }
  }
  fusions.folds[index].qkv_matvecs = matvecs;
  fusions.qkv_triples.push_back({q_op.weight, std::get<plan::MatVec>(plan.ops[*k].kind).weight,
                                 std::get<plan::MatVec>(plan.ops[*v].kind).weight});
}

}  // namespace

FusionPlan plan_fusions(const plan::Plan& plan) {
  FusionPlan fusions;
  fusions.folded.assign(plan.ops.size(), false);
  fusions.folds.assign(plan.ops.size(), {});
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_norm(plan, i, fusions);
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_swiglu(plan, i, fusions);
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_residual(plan, i, fusions);
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_rope_into_matvec(plan, i, fusions);
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_store_into_matvecs(plan, i, fusions);
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_rope(plan, i, fusions);
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_into_attention(plan, i, fusions);
  for (size_t i = 0; i < plan.ops.size(); ++i) fold_qkv_matvecs(plan, i, fusions);
  return fusions;
}

}  // namespace quant::vulkan
