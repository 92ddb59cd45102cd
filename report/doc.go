// Package report is uqnn's one home for pictures and pages: learning curves, attack grids,
// weight histograms, reliability diagrams, ROC curves, MI histograms and the study's HTML page.
// It is the only package that imports gonum/plot.
//
// Data model: every function takes plain values (slices, small structs defined here or in the
// package whose results it draws) and returns the encoded bytes (PNG, HTML); callers write them
// with internal/atomicfile. Nothing here reads files, flags or the environment.
//
// Invariants: same input, same bytes (no timestamps, fixed fonts and sizes); colours are the
// colour-blind-safe pair blue #1f77b4 / orange #ff7f0e plus greys.
package report
