package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/uqnn/uqnn/onnxio"
)

func init() { registerVerb(newInspectCmd) }

// inspectOptions are the inputs of runInspect.
type inspectOptions struct {
	Model  string
	JSON   bool
	Stdout io.Writer
}

func newInspectCmd(g *globals) *cobra.Command {
	opts := inspectOptions{}
	c := &cobra.Command{
		Use:   "inspect MODEL.onnx",
		Short: "Show a model's metadata, inputs, outputs, nodes and parameters",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Model = args[0]
			opts.Stdout = g.stdout
			return runInspect(c.Context(), opts)
		},
	}
	c.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document instead of tables")
	return c
}

// inspectReport is what inspect prints; its JSON form is the --json document.
type inspectReport struct {
	UQNNVersion string `json:"uqnn_version"`
	File        string `json:"file"`
	FileBytes   int64  `json:"file_bytes"` // model file plus external data files
	onnxio.Summary
}

// runInspect loads opts.Model and prints its summary.
func runInspect(ctx context.Context, opts inspectOptions) error {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if ok, err := inspectArchive(opts); ok { // a .uqz archive: its ledger (decompress.go)
		return err
	}
	rep, err := inspectModel(opts.Model)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.Stdout, rep)
	}
	return rep.print(opts.Stdout)
}

func inspectModel(path string) (*inspectReport, error) {
	m, err := onnxio.Load(path)
	if err != nil {
		return nil, err
	}
	rep := &inspectReport{UQNNVersion: version, File: path, Summary: onnxio.Summarize(m)}
	for _, f := range append([]string{path}, rep.ExternalFiles...) {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		rep.FileBytes += st.Size()
	}
	return rep, nil
}

func shapeString(s []any) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (r *inspectReport) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s (%d bytes", r.File, r.FileBytes)
	if len(r.ExternalFiles) > 0 {
		fmt.Fprintf(tw, " incl. external data %s", strings.Join(r.ExternalFiles, ", "))
	}
	fmt.Fprintf(tw, ")\nproducer\t%s %s\nIR version\t%d\n", r.Producer, r.ProducerVersion, r.IRVersion)
	var ops []string
	for _, o := range r.Opsets {
		ops = append(ops, fmt.Sprintf("%s %d", o.Domain, o.Version))
	}
	fmt.Fprintf(tw, "opsets\t%s\n\n", strings.Join(ops, ", "))
	fmt.Fprintln(tw, "INPUT\tDTYPE\tSHAPE")
	for _, v := range r.Inputs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.DType, shapeString(v.Shape))
	}
	fmt.Fprintln(tw, "\nOUTPUT\tDTYPE\tSHAPE")
	for _, v := range r.Outputs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.DType, shapeString(v.Shape))
	}
	batch := "batch 1"
	if r.ShapeBatch == 0 {
		batch = "fixed batch"
	}
	fmt.Fprintf(tw, "\nNODE (%d)\tOP\tINPUTS -> OUTPUTS\tSHAPE (%s)\n", len(r.Nodes), batch)
	for _, n := range r.Nodes {
		op := n.Op
		if n.Domain != "" {
			op = n.Domain + "." + op
		}
		var shapes []string
		for _, s := range n.OutputShapes {
			if s == nil {
				shapes = append(shapes, "?")
			} else {
				shapes = append(shapes, fmt.Sprint(s))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s -> %s\t%s\n", n.Name, op, strings.Join(n.Inputs, ", "), strings.Join(n.Outputs, ", "), strings.Join(shapes, " "))
	}
	if r.ShapeError != "" {
		fmt.Fprintf(tw, "shapes not inferred: %s\n", r.ShapeError)
	}
	fmt.Fprintf(tw, "\nPARAMETER (%d)\tSHAPE\tCOUNT\tNON-ZEROS\n", len(r.Params))
	for _, p := range r.Params {
		fmt.Fprintf(tw, "%s\t%v\t%d\t%d\n", p.Name, p.Shape, p.Count, p.NonZeros)
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\n", r.TotalParams, r.TotalNonZeros)
	if len(r.Constants) > 0 {
		fmt.Fprintf(tw, "\nCONSTANT (%d)\tDTYPE\tSHAPE\n", len(r.Constants))
		for _, p := range r.Constants {
			fmt.Fprintf(tw, "%s\t%s\t%v\n", p.Name, p.DType, p.Shape)
		}
	}
	return tw.Flush()
}
