// Package adversarial attacks image classifiers as black boxes.
//
// # Data model
//
// Images are row-major float32 slices with pixel values in 0..1 (the raw 0..255 pixel divided
// by 255); a batch of n images is n*d values. A [Model] maps raw 0..255 pixels to class
// probabilities; *ort.Classifier satisfies it, and tests use small analytic models.
//
// An [Oracle] is the attacker's only view of a Model: it converts 0..1 images to raw pixels,
// returns probabilities only ([Oracle.Query], or their logarithms in float64 with
// [Oracle.LogProbs], which for a logits model keeps what float32 probabilities round to 0 or 1),
// and counts every image it evaluates against a hard budget.
// [GenAttack] runs the genetic attack of Alzantot et al. (2019) through an Oracle, and [Run]
// attacks many examples in parallel, one Oracle and one random stream per example.
//
// [Detect] measures how well a Bayesian [Ensemble]'s uncertainty (a [Score]: MI, entropy,
// variation ratio, 1 − max probability; larger is more suspicious) separates adversarial from
// clean images: [ROC] (AUROC, average precision, ties as one threshold), the TPR at thresholds
// set on clean validation images ([Threshold]), seeded [Bootstrap] intervals, the ensemble's
// accuracy and the MI ratios. A [Guard] in Config makes GenAttack detector-aware: the
// detector's score is penalised above its threshold, success needs it under, and the
// detector's evaluations are paid from the same budget (two queries per candidate).
// [WriteDetection] writes a Detection's ROC curve and MI histogram (drawn by report) and the
// caller's JSON document holding it.
//
// # Invariants
//
//   - An Oracle never evaluates more images than its budget, even under concurrent callers:
//     the images of a query are reserved atomically before the model runs, and a query that
//     does not fit is refused whole with an error that matches [ErrBudgetExhausted].
//   - Every candidate GenAttack evaluates lies in the L∞ ball of radius ε around the original
//     and in [0, 1]; by default it also lies on the 1/255 pixel grid, so the adversarial image
//     saved as uint8 is exactly the image whose success was observed.
//   - Same seed, same inputs: identical results, whatever the number of workers, because each
//     example draws from its own stream derived from (seed, example index).
package adversarial
