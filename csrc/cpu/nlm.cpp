// cv2.fastNlMeansDenoisingColored on the CPU, bit for bit (shared/SPEC-denoisers.md sections 2-3).
//
// Per image: integer Lab conversion (ucfast/lab.h), BORDER_REFLECT_101 extension of the L, a and b
// planes, non-local means on L (one channel) and on ab (two channels), and the conversion back.
// The non-local means works on stripes of output rows: for each search offset it keeps the
// template's column sums of squared differences over a ring of template rows, box-sums them along
// the row, looks the weight up and accumulates; every sum is an exact integer, as in OpenCV.
// Work items are (image, plane, stripe), spread over the OpenMP threads.
#include <algorithm>
#include <vector>

#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "ucfast/pixel_math.h"

namespace ucfast::cpu {
namespace {

// Bytes of accumulators (weight sum and one estimate per channel) a stripe keeps hot in L1.
constexpr int64_t kStripeBytes = 16 * 1024;

struct Scratch {
  std::vector<int32_t> ring;  // [template][cw] squared differences of the last template rows
  std::vector<int32_t> col;   // [cw] their column sums
  std::vector<int32_t> dist;  // [w] patch distances of one output row
  std::vector<uint32_t> acc;  // [(1 + CN) * rows * w] weight sums, then estimates per channel
};

// Squared differences of one row over CN channels; col += new - old; the ring keeps the new.
template <int CN>
inline void update_columns(const uint8_t* const* ref, const uint8_t* const* cand, int32_t* __restrict slot,
                           int32_t* __restrict col, int64_t cw) {
  const uint8_t* __restrict r0 = ref[0];
  const uint8_t* __restrict q0 = cand[0];
  const uint8_t* __restrict r1 = ref[CN - 1];
  const uint8_t* __restrict q1 = cand[CN - 1];
  for (int64_t c = 0; c < cw; ++c) {
    const int32_t d0 = int32_t(r0[c]) - int32_t(q0[c]);
    int32_t v = d0 * d0;
    if (CN == 2) {
      const int32_t d1 = int32_t(r1[c]) - int32_t(q1[c]);
      v += d1 * d1;
    }
    col[c] += v - slot[c];
    slot[c] = v;
  }
}

// dist[x] = col[x] + ... + col[x + template - 1].
inline void box_row(const int32_t* __restrict col, int32_t* __restrict dist, int64_t w, int tsz) {
  if (tsz == 7) {
    for (int64_t x = 0; x < w; ++x)
      dist[x] = col[x] + col[x + 1] + col[x + 2] + col[x + 3] + col[x + 4] + col[x + 5] + col[x + 6];
    return;
  }
  for (int64_t x = 0; x < w; ++x) dist[x] = col[x];
  for (int j = 1; j < tsz; ++j)
    for (int64_t x = 0; x < w; ++x) dist[x] += col[x + j];
}

// Weights of one output row and their contribution to the weight sum and the estimates.
template <int CN>
inline void accumulate_row(const int32_t* __restrict dist, const int32_t* __restrict table, uint32_t cap, int shift,
                           const uint8_t* const* cand, uint32_t* __restrict wsum, uint32_t* __restrict est0,
                           uint32_t* __restrict est1, int64_t w) {
  const uint8_t* __restrict q0 = cand[0];
  const uint8_t* __restrict q1 = cand[CN - 1];
  for (int64_t x = 0; x < w; ++x) {
    uint32_t idx = uint32_t(dist[x]) >> shift;
    idx = idx < cap ? idx : cap;
    const uint32_t weight = uint32_t(table[idx]);
    wsum[x] += weight;
    est0[x] += weight * q0[x];
    if (CN == 2) est1[x] += weight * q1[x];
  }
}

// Non-local means of output rows [y0, y1) of one plane of CN channels.
// ext[c]: extended planes (row stride ew, border t2 + s2 on every side); out[c]: [h][w] planes.
template <int CN>
UCFAST_CLONES void nlm_stripe(const uint8_t* const* ext, int64_t ew, uint8_t* const* out, int64_t w, int64_t y0,
                              int64_t y1, const NlmWeights& wt, int shift, int t2, int s2, Scratch& sc) {
  const int tsz = 2 * t2 + 1, border = t2 + s2;
  const int64_t cw = w + 2 * t2, rows = y1 - y0;
  sc.ring.resize(static_cast<size_t>(tsz * cw));
  sc.col.resize(static_cast<size_t>(cw));
  sc.dist.resize(static_cast<size_t>(w));
  sc.acc.assign(static_cast<size_t>((1 + CN) * rows * w), 0u);
  int32_t* ring = sc.ring.data();
  int32_t* col = sc.col.data();
  int32_t* dist = sc.dist.data();
  uint32_t* wsum = sc.acc.data();
  uint32_t* est0 = wsum + rows * w;
  uint32_t* est1 = est0 + (CN == 2 ? rows * w : 0);
  const uint32_t cap = static_cast<uint32_t>(wt.len - 1);

  for (int dy = -s2; dy <= s2; ++dy) {
    for (int dx = -s2; dx <= s2; ++dx) {
      // Row r of the template grid starts at column -t2 of image row r (reference) and of the candidate.
      auto ref_row = [&](int c, int64_t r) { return ext[c] + (r + border) * ew + (border - t2); };
      auto cand_row = [&](int c, int64_t r) { return ext[c] + (r + border + dy) * ew + (border - t2 + dx); };
      std::fill(col, col + cw, 0);
      std::fill(ring + 2 * t2 * cw, ring + tsz * cw, 0);
      for (int i = 0; i < 2 * t2; ++i) {  // rows y0 - t2 .. y0 + t2 - 1
        std::fill(ring + i * cw, ring + (i + 1) * cw, 0);
        const int64_t r = y0 - t2 + i;
        const uint8_t* ref[2] = {ref_row(0, r), ref_row(CN - 1, r)};
        const uint8_t* cand[2] = {cand_row(0, r), cand_row(CN - 1, r)};
        update_columns<CN>(ref, cand, ring + i * cw, col, cw);
      }
      for (int64_t y = y0; y < y1; ++y) {
        const int64_t r = y + t2;
        const uint8_t* ref[2] = {ref_row(0, r), ref_row(CN - 1, r)};
        const uint8_t* cand[2] = {cand_row(0, r), cand_row(CN - 1, r)};
        update_columns<CN>(ref, cand, ring + ((y - y0 + 2 * t2) % tsz) * cw, col, cw);
        box_row(col, dist, w, tsz);
        const uint8_t* centre[2] = {cand_row(0, y) + t2, cand_row(CN - 1, y) + t2};
        const int64_t o = (y - y0) * w;
        accumulate_row<CN>(dist, wt.table, cap, shift, centre, wsum + o, est0 + o, est1 + o, w);
      }
    }
  }
  for (int64_t i = 0; i < rows * w; ++i) {
    const uint32_t ws = wsum[i];
    out[0][y0 * w + i] = nlm_estimate(est0[i], ws);
    if (CN == 2) out[1][y0 * w + i] = nlm_estimate(est1[i], ws);
  }
}

int64_t stripe_rows(int cn, int64_t w, int64_t h) {
  return std::clamp<int64_t>(kStripeBytes / ((1 + cn) * w * 4), 1, std::max<int64_t>(h, 1));
}

}  // namespace

void nlm(const uint8_t* src, Strides4 s, uint8_t* dst, int64_t n, int64_t h, int64_t w, const NlmParams& p,
         int threads) {
  if (n <= 0 || h <= 0 || w <= 0) return;
  const int t2 = p.template_size / 2, s2 = p.search_size / 2, border = t2 + s2;
  const int64_t eh = h + 2 * border, ew = w + 2 * border, eplane = eh * ew, plane = h * w;
  std::vector<uint8_t> ext(static_cast<size_t>(n * 3 * eplane));

  // 1. Lab of every pixel into dst ([n][L, a, b][h][w]), then the extended planes.
  parallel_for(n, threads, [&](int64_t img) {
    uint8_t* lab = dst + img * 3 * plane;
    for (int64_t y = 0; y < h; ++y) {
      const uint8_t* row = src + img * s.n + y * s.y;
      for (int64_t x = 0; x < w; ++x) {
        const uint8_t* px = row + x * s.x;
        lbgr_to_lab(p.lab, px[0], px[s.c], px[2 * s.c], lab[y * w + x], lab[plane + y * w + x],
                    lab[2 * plane + y * w + x]);
      }
    }
    for (int c = 0; c < 3; ++c) {
      uint8_t* e = ext.data() + (img * 3 + c) * eplane;
      const uint8_t* l = lab + c * plane;
      for (int64_t er = 0; er < eh; ++er) {
        const uint8_t* line = l + int64_t(p.rows[er]) * w;
        for (int64_t ec = 0; ec < ew; ++ec) e[er * ew + ec] = line[p.cols[ec]];
      }
    }
  });

  // 2. Non-local means of L and of ab, stripe by stripe, into dst.
  const int64_t rows_l = stripe_rows(1, w, h), rows_ab = stripe_rows(2, w, h);
  const int64_t stripes_l = (h + rows_l - 1) / rows_l, stripes_ab = (h + rows_ab - 1) / rows_ab;
  const int64_t per_image = stripes_ab + stripes_l;
  parallel_for(
      n * per_image, threads,
      [&](int64_t item) {
        thread_local Scratch scratch;
        const int64_t img = item / per_image, j = item % per_image;
        const uint8_t* e = ext.data() + img * 3 * eplane;
        uint8_t* lab = dst + img * 3 * plane;
        if (j < stripes_ab) {
          const uint8_t* planes[2] = {e + eplane, e + 2 * eplane};
          uint8_t* outs[2] = {lab + plane, lab + 2 * plane};
          const int64_t y0 = j * rows_ab;
          nlm_stripe<2>(planes, ew, outs, w, y0, std::min(h, y0 + rows_ab), p.weights[1], p.shift, t2, s2, scratch);
        } else {
          const uint8_t* planes[2] = {e, e};
          uint8_t* outs[2] = {lab, lab};
          const int64_t y0 = (j - stripes_ab) * rows_l;
          nlm_stripe<1>(planes, ew, outs, w, y0, std::min(h, y0 + rows_l), p.weights[0], p.shift, t2, s2, scratch);
        }
      },
      /*dynamic=*/true);

  // 3. Back from Lab, in place.
  parallel_for(n * h, threads, [&](int64_t item) {
    const int64_t img = item / h, y = item % h;
    uint8_t* l = dst + img * 3 * plane + y * w;
    uint8_t* a = l + plane;
    uint8_t* b = a + plane;
    for (int64_t x = 0; x < w; ++x) lab_to_lbgr(p.lab, l[x], a[x], b[x], l[x], a[x], b[x]);
  });
}

}  // namespace ucfast::cpu
