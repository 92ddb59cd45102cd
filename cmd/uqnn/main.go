// Command uqnn compresses ONNX classifiers, samples weight ensembles, quantifies their
// uncertainty and attacks them. See README.md.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }
