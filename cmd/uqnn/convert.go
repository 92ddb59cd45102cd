package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/uqnn/uqnn/onnxio"
)

func init() { registerVerb(newConvertCmd) }

// convertOptions are the inputs of runConvert.
type convertOptions struct {
	In           string
	Out          string
	ExternalData bool  // large initializers go to OUT.data
	Threshold    int64 // bytes; 0 means onnxio.DefaultExternalThreshold
	Fold         bool  // replace constant shape subgraphs by initializers (onnxio.FoldConstants)
	Quiet        bool
	Stderr       io.Writer
}

func newConvertCmd(g *globals) *cobra.Command {
	opts := convertOptions{}
	c := &cobra.Command{
		Use:   "convert IN.onnx -o OUT.onnx",
		Short: "Read a model (with its external data) and write it back: self-contained, or with external data",
		Long: "convert decodes IN.onnx with uqnn's reader (which checks every tensor and external data file) and " +
			"writes it to OUT.onnx atomically. With --external-data, initializers of at least --threshold bytes go to " +
			"OUT.onnx.data beside it. The computation is unchanged: onnxruntime gives bit-identical outputs.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.In = args[0]
			opts.Quiet = g.quiet
			opts.Stderr = g.stderr
			return runConvert(c.Context(), opts)
		},
	}
	c.Flags().StringVarP(&opts.Out, "output", "o", "", "output model file (required)")
	c.Flags().BoolVar(&opts.ExternalData, "external-data", false, "write large initializers to OUT.data")
	c.Flags().Int64Var(&opts.Threshold, "threshold", 0, fmt.Sprintf("smallest initializer in bytes moved to the external data file (default %d)", onnxio.DefaultExternalThreshold))
	c.Flags().BoolVar(&opts.Fold, "fold", false, "fold Constant nodes and shape subgraphs (Shape, Gather, Concat, ... feeding Reshape) into initializers")
	return c
}

// runConvert loads opts.In and saves it to opts.Out.
func runConvert(ctx context.Context, opts convertOptions) error {
	if opts.Out == "" {
		return usagef("convert: --output/-o is required")
	}
	if opts.Threshold < 0 {
		return usagef("convert: --threshold %d: want a size in bytes >= 0", opts.Threshold)
	}
	if opts.Threshold > 0 && !opts.ExternalData {
		return usagef("convert: --threshold needs --external-data")
	}
	outs := []string{opts.Out}
	if opts.ExternalData {
		outs = append(outs, opts.Out+".data")
	}
	if err := refuseAliases([]string{opts.In}, outs); err != nil {
		return err
	}
	if err := checkOutputs(outs...); err != nil {
		return err
	}
	m, err := onnxio.Load(opts.In)
	if err != nil {
		return err
	}
	if err := refuseAliases(append([]string{opts.In}, m.ExternalFiles()...), outs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.Fold {
		if err := onnxio.FoldConstants(m); err != nil {
			return err
		}
	}
	if err := m.Save(opts.Out, onnxio.SaveOptions{ExternalData: opts.ExternalData, Threshold: opts.Threshold}); err != nil {
		return err
	}
	if !opts.Quiet && opts.Stderr != nil {
		fmt.Fprintf(opts.Stderr, "wrote %s\n", opts.Out)
	}
	return nil
}
