// Package bayes holds what uqnn says about uncertainty: the samplers that draw ensembles
// (PSGLD, BAOAB, both train.Steppers run by train's one loop), the ensemble's per-example
// uncertainty and set-level scores, and the ensemble.onnx builder.
//
// # API
//
//	st := &bayes.PSGLD{Temperature: 1}             // or &bayes.BAOAB{Friction: γ}
//	train.Loop(ctx, net, data, st, cfg, train.L2Prior(1/(N·σ²)), record)
//	r, err := bayes.Combine(memberProbs, k)        // Probs, Entropy, ExpectedEntropy, MI, VariationRatio, Vote
//	s, err := r.Score(labels, 0)                   // accuracy, NLL, Brier, ECE
//	wrong, _ := r.Wrong(labels); auc, err := bayes.AUROC(r.MI, wrong)
//	bins, err := bayes.Reliability(r.Probs, k, labels, 0)
//	m, err := bayes.EnsembleGraph(members, logits) // outputs probs, entropy, mutual_information
//	man, err := bayes.Sample(ctx, bayes.SampleJob{Source, Data, Dir, Config}) // an ensemble folder
//	out, err := bayes.LoadEnsemble(ctx, dirOrEnsembleONNX, …)               // members' probabilities
//	a, err := bayes.Assess(out.Probs, out.Classes, labels, 0)              // uncertainty + scores + AUROCs
//	r, err := bayes.RHat(chains); e, err := bayes.ESS(chains)              // split R-hat, ESS
//	err := bayes.WriteAssessment(bayes.AssessmentFiles(dir), a, labels)    // uncertainty.csv and pictures
//	members, graph, err := bayes.EnsembleFiles(path)                       // a folder's member-NNN.onnx, or ensemble.onnx
//	e, err := bayes.NewGraphEnsemble(file, model, pp, k)                   // ensemble.onnx as an adversarial.Ensemble
//	h := bayes.Progress(os.Stderr, cfg)                                    // a progress-line hook for Sample's chains
//
// Sample is train.Fit with a sampler Stepper, train.L2Prior(1/(N·σ²)) as the prior, the source's
// zero weights as masks, and a hook that writes member-NNN.onnx as each member is drawn and
// keeps the member records and trace in its checkpointed state (so --resume continues to the
// same bytes). By default each chain is cyclical SG-MCMC (Zhang et al., ICLR 2020): the loop's
// Config.Schedule is train.Cyclical (a cosine step size restarted every cycle) and its
// Config.Explore is train.CyclicalExplore, which sets StepInfo.Explore on the first β of each
// cycle, where both samplers step as their optimizer (no noise); members are drawn at the end of
// each cycle. SampleConfig.Cycles < 0 runs the constant-step chain (burn-in, thinning) instead.
// An ensemble folder holds the members, manifest.json, trace.csv,
// trace-chainC.png and ensemble.onnx.
//
// # Conventions
//
// Temperature: a sampler at temperature T targets exp(−U(θ)/T), U the full-data negative log
// posterior (−Σᵢ log p(yᵢ|xᵢ,θ) − log prior). T = 1 is the Bayes posterior of the full-data
// likelihood; T < 1 is a cold posterior (sharper: for a Gaussian posterior the covariance is
// T times the posterior's); T = 0 in a Config field means the default 1.
//
// Gradients: the loop hands a Stepper the gradient of the MEAN minibatch loss plus the prior's
// share (one hook, train.L2Prior: decay = 1/(N·σ²) for a N(0, σ²) prior over N images), an
// unbiased estimate of ∇U/N. Samplers scale by N = StepInfo.N and never add a prior of their
// own. pSGLD's h is a learning rate on that gradient (Langevin time h/N per step); BAOAB's h is
// a time step with unit mass (force −N·g). Both doc comments derive the scaling, and the
// analytic tests check it on Bayesian linear regression.
//
// # Data model
//
// Member probabilities are row-major n×k float32 slices, one per member, as models emit them;
// everything computed from them is float64. Labels are n class indices. Metrics never modify
// their inputs. Entropies are in nats with 0·log 0 = 0; MI is clamped at 0 against rounding.
//
// # Invariants
//
//   - A NaN, infinite or negative probability is an error naming the member, example (image)
//     and class, never a panic.
//   - Sampler state (momenta, preconditioners, counters, the pending half-kick) is serialised
//     exactly, so train.Resume continues bit-identically; noise comes only from StepInfo.Rand.
//   - EnsembleGraph's outputs equal Combine on the members' outputs (within float32 rounding,
//     checked with onnxruntime); it keeps the members' opset so their nodes keep their meaning.
package bayes
