// Package train is uqnn's one gradient loop.
//
// Training, retraining after pruning, regularised compression and Bayesian sampling are all
// "compute a minibatch gradient, then move the parameters". Loop does that once, for every
// method: a Net gives the loss and gradient of a minibatch, a Stepper moves the parameters
// (SGD, Adam; samplers such as pSGLD or BAOAB plug in the same way), and Hooks act around
// each step (add a prior term to the gradient, re-apply a pruning mask, record a sample,
// report progress).
//
// Data model: Data holds raw 8-bit images and labels for a training and a validation set and
// the affine pixel map (Scale, Offset) that turns them into network inputs; minibatches are
// converted on the fly so a 60,000-image set costs 47 MB, not 188 MB.
//
// Gradients are those of the mean minibatch cross-entropy. A sampler that wants the gradient of
// the negative log posterior scales by StepInfo.N (the training set size) and adds its prior;
// it draws noise from StepInfo.Rand, keeps momenta or preconditioners as its own state and
// serialises them in MarshalState, so checkpoints and Resume cover it like SGD and Adam. An
// AfterGrad hook can add a regulariser's gradient (a KL term, a shrinkage pull) before the step;
// an AfterStep hook can re-apply a pruning mask or record an ensemble member.
//
// Invariants:
//   - Determinism. Randomness comes from named PCG streams derived from Config.Seed (Stream):
//     "data order" shuffles the training set each epoch, "noise" is handed to the Stepper.
//     Same seed, data, net and config give bit-identical parameters.
//   - Every step feeds exactly Config.Batch images; the incomplete tail of a shuffled epoch is
//     skipped (a different tail each epoch), so nets built for a fixed batch size work.
//   - Validation images are never trained on.
//   - A Checkpoint holds everything the loop's future depends on (parameters, stepper state,
//     both RNG states, the epoch's permutation and position, curves), so Resume continues to the
//     bit-identical result of an uninterrupted run. When ctx is cancelled, Loop writes one
//     (atomically) at the last completed step and returns the context's error.
package train
