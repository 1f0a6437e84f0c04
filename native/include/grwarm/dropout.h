// Counter-based dropout masks.
//
// A mask bit is a pure function of (step seed, site, element index), so
//  - the backward pass regenerates the mask instead of storing it,
//  - the GR step's second forward/backward replays exactly the first pass's masks,
//  - results do not depend on the number of threads or on the device (CPU or CUDA).
// The element index is GLOBAL: a kernel passes the element's index within its batch tensor
// (batch outermost) and `index_offset` adds the elements of the samples before that batch
// (sample offset x elements per sample at this site). A data-parallel rank, or one shard of a
// batch, holding samples [s, s + b) of a global batch therefore draws exactly the masks a
// single process draws for those samples. index_offset = 0 is the single-process case.
#pragma once
#include "hd.h"

namespace grwarm {

struct DropoutSpec {
  uint64_t seed = 0;         // per-step seed
  uint32_t site = 0;         // which dropout in the network (layer * 8 + kind)
  float p = 0.0f;            // drop probability; 0 disables
  uint32_t threshold = 0;    // drop when the hash's top 32 bits are below p * 2^32
  double keep_scale = 1.0;   // 1 / (1 - p): inverted dropout keeps the expectation
  uint64_t index_offset = 0; // added to every element index (see above)
  GW_HD bool active() const { return p > 0.0f; }
};

inline DropoutSpec make_dropout(uint64_t seed, uint32_t site, float p) {
  DropoutSpec d;
  d.seed = seed;
  d.site = site;
  d.p = p;
  d.threshold = uint32_t(double(p) * 4294967296.0);
  d.keep_scale = 1.0 / (1.0 - double(p));
  return d;
}

// splitmix64 finaliser: a strong 64-bit mixer.
GW_HD uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The key of one (step seed, site) mask: the same for every element, so the compiler hoists it
// out of the element loops and an element costs one mix64.
GW_HD uint64_t dropout_key(const DropoutSpec& d) {
  return mix64(d.seed ^ mix64((uint64_t(d.site) << 40) ^ 0x9e3779b97f4a7c15ULL));
}

// True if element `idx` is kept: splitmix64 (the key plus idx times the golden gamma, then the
// finaliser), i.e. element idx of the site's own splitmix64 stream.
GW_HD bool dropout_keep(const DropoutSpec& d, uint64_t idx) {
  idx += d.index_offset;
  const uint64_t h = mix64(dropout_key(d) + idx * 0x9e3779b97f4a7c15ULL);
  return uint32_t(h >> 32) >= d.threshold;
}

// Multiplier applied to a kept/dropped element: 0 or 1/(1-p) (inverted dropout).
template <class T>
GW_HD T dropout_scale(const DropoutSpec& d, uint64_t idx) {
  if (!d.active()) return T(1);
  return dropout_keep(d, idx) ? T(d.keep_scale) : T(0);
}

}  // namespace grwarm
