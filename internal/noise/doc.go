// Package noise draws standard normal noise fast and reproducibly, for the samplers' Gaussian
// kicks (bayes: one draw per weight per step) and sparse variational dropout's local
// reparameterization (internal/nn: one draw per output activation per step, about a million
// for LeNet-5 at batch 64).
//
// math/rand/v2's NormFloat64 through the *rand.Rand interface costs about three times an Adam
// update per weight, so the callers draw one seed per step from their own checkpointed stream
// (internal/seed; determinism and resume are unchanged) and generate the normals from it with
// a small inline generator, Gen (wyrand, 64 bits per call, two normals per call), and Marsaglia
// & Tsang's ziggurat (J. Stat. Softw. 5(8), 2000), exact up to float32 rounding. The local
// reparameterization's million draws per step come from kernels.NormalFill instead (FillSpans,
// Spans): 8 xoshiro128+ lanes and the Box–Muller transform, in AVX2 registers where the
// processor has them, and drawn inside the layer's forward pass itself (kernels.LRTNoiseForward).
//
// Invariants: the same (seed, index) gives the same draws on every machine; a buffer is cut
// into fixed spans, each with its own generator New(seed, span index), so the spans run on all
// cores (FillSpans and Spans with SpanState(seed, index), or train.EachSpan with Gen in the
// samplers) and the values do not depend on which goroutine takes which span. The output of
// Gen is frozen: seeded sampler runs and their checkpoints depend on it.
package noise
