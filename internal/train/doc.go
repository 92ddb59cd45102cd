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
// Hooks have four plug points: AfterGrad (before the Stepper), AfterStep, EpochEnd (measure,
// before the epoch counts as done) and AfterEpoch. The package's own hooks are the pieces every
// run chooses from: L2Prior (the one prior term of optimizers and samplers), EvalHook (the
// end-of-epoch evaluation of the validation set and the first training images, into
// State.Eval), CurvesHook (the learning curves: State.Curves, Result.Curves) and Progress. The
// loop itself evaluates and records nothing: Job installs EvalHook, CurvesHook and L2Prior,
// compress its own; Loop and Resume add DefaultHooks (EvalHook and CurvesHook from
// Config.EvalTrain and Config.CurvesEvery) only when the caller passes neither.
//
// Around the loop: Fit (Model in, trained Model out, masks first-class), Job (optimizer,
// schedule, prior and data as a user asks for them; Save writes the model, the curves' CSV and
// figure), Start (the model a run starts from: Scratch with the "init" seed stream, or an ONNX
// file, with its pixel convention) and MNISTData (MNIST's one train/validation split as Data).
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
//     both RNG states, the epoch's permutation and position, and the state of every hook with a
//     Name and Save: the curves are hook "curves"), so Resume continues to the bit-identical
//     result of an uninterrupted run. When ctx is cancelled, Loop writes one (atomically) at the
//     last completed step — or, if cancelled during EpochEnd, at the end of the epoch's steps, so
//     Resume runs the evaluation again — and returns the context's error.
package train
