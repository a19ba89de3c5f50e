#include "quantize/quantizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <system_error>
#include <thread>

#include <sys/mman.h>
#include <unistd.h>

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "quantize/partial_file.h"
#include "quantize/row_encoder.h"
#include "quantize/type_choice.h"

namespace quant {

namespace {

// The ggml quantization format version llama-quantize stamps on what it writes.
constexpr uint32_t kQuantizationVersion = 2;

uint32_t layer_count(const gguf::GgufFile& file, std::span<const TensorDecl> tensors) {
  if (file.has("general.architecture")) {
    const std::string key = fmt::format("{}.block_count", file.architecture());
    if (file.has(key)) return file.get_u32(key);
  }
  // No block count: count the layers the tensor names mention.
  uint32_t n = 0;
  for (const auto& t : tensors) {
    unsigned layer = 0;
    if (std::sscanf(t.name.c_str(), "blk.%u.", &layer) == 1) n = std::max(n, layer + 1);
  }
  return n;
}

void copy_metadata(const gguf::GgufFile& in, FileType file_type, gguf::GgufWriter& out) {
  for (const auto& entry : in.metadata()) {
    if (entry.key == "general.file_type" || entry.key == "general.quantization_version") continue;
    out.set_value(entry.key, entry.value);
  }
  // Appended last, as llama-quantize does.
  out.set_u32("general.quantization_version", kQuantizationVersion);
  out.set_u32("general.file_type", llama_ftype_id(file_type));
}

// The source is mapped: once a tensor has been re-encoded its pages are not needed again. Dropping
// them keeps the resident set near one tensor instead of growing to the whole model (they are clean
// pages of a read-only file mapping, so the kernel re-reads them should they ever be touched
// again).
void release_pages(std::span<const uint8_t> data) {
  if (data.empty()) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(data.data()) & ~(page - 1);
  const auto end = reinterpret_cast<uintptr_t>(data.data() + data.size());
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Dequantizes `source` row chunk by row chunk and encodes it as `target` into `out`.
void reencode(const gguf::TensorInfo& source, TensorType target, std::span<uint8_t> out,
              int threads, ProgressBar& progress) {
  const TypeTraits& source_traits = type_traits(source.type);
  const uint64_t source_row_bytes = *row_bytes(source.type, source.dims[0]);
  const RowSource dequantize = [&](uint64_t first, uint64_t /*n_rows*/, std::span<float> rows) {
    source_traits.dequantize_row(source.data.data() + first * source_row_bytes, rows.data(),
                                 static_cast<int64_t>(rows.size()));
  };
  encode_rows({target, source.dims[0], source.rows()}, dequantize, out, threads, &progress);
}

void check_paths(const std::string& in_path, const std::string& out_path) {
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec)) {
    fail("{}: the output file must not be the input file", out_path);
  }
}

}  // namespace

int resolve_thread_count(int threads) {
  if (threads > 0) return threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

QuantizeSummary quantize_file(const std::string& in_path, const std::string& out_path,
                              const QuantizeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  check_paths(in_path, out_path);
  const gguf::GgufFile in = gguf::GgufFile::open(in_path);
  const auto& infos = in.tensors();

  std::vector<TensorDecl> decls;
  decls.reserve(infos.size());
  for (const auto& t : infos) decls.push_back({std::string(t.name), t.type, t.dims});
  const std::vector<TensorType> types =
      choose_tensor_types(options.file_type, decls, layer_count(in, decls));
  const std::vector<size_t> order = llama_quantize_order(decls);

  gguf::GgufWriter writer;
  copy_metadata(in, options.file_type, writer);
  QuantizeSummary summary;
  std::map<TensorType, uint64_t> per_type;
  uint64_t largest_output = 0;
  for (size_t i : order) {
    if (types[i] != infos[i].type && type_traits(types[i]).quantize_row == nullptr) {
      fail("{}: tensor '{}': no quantizer for type {}", in_path, infos[i].name,
           type_traits(types[i]).name);
    }
    writer.add_tensor(infos[i].name, types[i], infos[i].dims);
    const uint64_t out_bytes = *row_bytes(types[i], infos[i].n_elements);
    largest_output = std::max(largest_output, out_bytes);
    summary.n_tensors += 1;
    summary.n_elements += infos[i].n_elements;
    summary.bytes_in += infos[i].n_bytes;
    summary.bytes_out += out_bytes;
    per_type[types[i]] += 1;
  }
  summary.tensors_per_type.assign(per_type.begin(), per_type.end());

  PartialFile partial(out_path);
  writer.begin(partial.temporary_path());
  const int threads = resolve_thread_count(options.threads);
  ProgressBar progress(fmt::format("quantize {}", file_type_name(options.file_type)),
                       summary.n_elements, options.progress);
  std::vector<uint8_t> encoded;
  encoded.reserve(largest_output);
  for (size_t i : order) {
    const gguf::TensorInfo& t = infos[i];
    if (types[i] == t.type) {
      writer.write_tensor_data(t.data);
      progress.advance(t.n_elements);
    } else {
      encoded.resize(*row_bytes(types[i], t.n_elements));
      reencode(t, types[i], encoded, threads, progress);
      writer.write_tensor_data(encoded);
    }
    release_pages(t.data);
  }
  writer.finish();
  progress.finish();
  partial.commit();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace quant
