// Package bayes holds what uqnn says about uncertainty: the metrics computed from one network's
// or an ensemble's predictive probabilities (accuracy, negative log-likelihood, expected
// calibration error, predictive entropy, mutual information, AUROC), and the samplers that draw
// the ensembles.
//
// Data model: probabilities are row-major n×k float32 slices (n examples, k classes); labels are
// n class indices. Metrics never modify their inputs.
package bayes
