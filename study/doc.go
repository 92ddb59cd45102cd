// Package study runs the whole uqnn experiment end to end: train (or take) a classifier, compress
// it four ways, sample pSGLD and BAOAB ensembles of every network, attack every network with
// GenAttack, evaluate detection, sweep the sparsity of each pruning method, and assemble one
// report (report.html, report.md, results.csv, results.json).
//
// Data model. A study is a folder DIR and a Config (written to DIR/config.yaml). The work is a
// list of Stages (Plan), each named by group and instance ("compress/magnitude",
// "attack/sdr", "sample/filter/baoab") with the stages it reads from. Every stage writes into
// its own folder DIR/stages/<name with - for />, and nothing else.
//
// Invariants.
//   - A stage's key is the SHA-256 of its name, its code version, the slice of the Config it
//     reads (JSON) and the digests of its inputs' outputs. A finished stage folder holds
//     done.json (key, digest, files with their SHA-256) and is made visible by one rename of its
//     work folder, so it is either complete or absent.
//   - A rerun skips every stage whose done.json carries the key it would have now; a stage
//     whose key changed is run again, and so is everything downstream (their keys change with
//     its digest).
//   - An interrupted stage leaves its work folder (DIR/stages/<name>.work with the key it was
//     started under); the next run continues in it when the key still matches (training
//     checkpoints, an attack campaign's records), and starts it afresh otherwise.
//   - A stage whose library is not in this build fails with an error matching ErrNotAvailable
//     that lists what is missing; its dependents are skipped; the report marks them. No result is
//     ever made up.
//   - Same Config and seed: the same artifacts. Each stage draws from its own seed stream.
//
// Scale-out. Stages of one group do not depend on each other, so `--stage GROUP --shard i/n`
// runs instance j of the group when j mod n = i (ParseShard reads "i/n"), and `--merge`
// assembles the report; Slurm (SlurmJobs, written and submitted by Submit) runs each group as a
// job array after the previous one. Prepare makes the study folder and its config.yaml.
//
// The library never reads flags or the environment and never exits; cmd/uqnn/study.go is the
// shell.
package study
