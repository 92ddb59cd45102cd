package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/onnxio"
)

func init() { registerVerb(newDecompressCmd) }

type decompressOptions struct {
	archive, out string
	json         bool
	stdout       io.Writer
}

func newDecompressCmd(g *globals) *cobra.Command {
	o := &decompressOptions{}
	c := &cobra.Command{
		Use:   "decompress MODEL.uqz -o OUT.onnx",
		Short: "Restore the ONNX model held in a .uqz archive (uqnn compress --archive), exactly",
		Long: `Restores the ONNX model a .uqz archive holds (written by uqnn compress --archive): the
Huffman-coded relative indices and codebook indices of each coded tensor are expanded and put
back into the model, which is written to OUT.onnx byte for byte as it was compressed, so
onnxruntime computes bit-identical outputs. Prints the archive's ledger (Deep Compression's
columns: kept %, weight and index bits per non-zero before and after Huffman coding, bytes,
ratio, entropy floor). A truncated or corrupted archive is refused with exit code 3.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.archive, o.stdout = args[0], g.stdout
			return runDecompress(cmd.Context(), o)
		},
	}
	c.Flags().StringVarP(&o.out, "output", "o", "", "ONNX model to write")
	c.Flags().BoolVar(&o.json, "json", false, "print the ledger as one JSON document")
	return c
}

func runDecompress(_ context.Context, o *decompressOptions) error {
	if o.out == "" {
		return usagef("decompress: -o OUT.onnx is required")
	}
	if err := refuseAliases([]string{o.archive}, []string{o.out}); err != nil {
		return err
	}
	if err := checkOutputs(o.out); err != nil {
		return err
	}
	m, led, err := readArchive(o.archive)
	if err != nil {
		return err
	}
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("%s: %w", o.archive, err)
	}
	if err := atomicfile.WriteFile(o.out, b); err != nil {
		return err
	}
	return printArchiveLedger(o.stdout, led, o.json, fmt.Sprintf("wrote %s (%d bytes)\n", o.out, len(b)))
}

// readArchive reads and decodes a .uqz file (refusing anything but a regular file under 2 GiB).
func readArchive(path string) (*onnxio.Model, *compress.ArchiveLedger, error) {
	if err := checkModelFile(path); err != nil {
		return nil, nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > 2<<30 {
		return nil, nil, fmt.Errorf("%s: %w: not a regular file under 2 GiB", path, onnxio.ErrInvalidModel)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	m, led, err := compress.Unarchive(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, led, nil
}

func printArchiveLedger(w io.Writer, led *compress.ArchiveLedger, asJSON bool, tail string) error {
	if asJSON {
		return writeJSON(w, struct {
			UQNNVersion string `json:"uqnn_version"`
			*compress.ArchiveLedger
		}{version, led})
	}
	if err := led.WriteTable(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, tail)
	return err
}

// inspectArchive prints the ledger of a .uqz file and reports true; false when path is not one.
func inspectArchive(opts inspectOptions) (bool, error) {
	// Only a regular file is sniffed: opening a FIFO would wait for a writer (onnxio.Load
	// refuses it with a clear error instead).
	if st, err := os.Stat(opts.Model); err != nil || !st.Mode().IsRegular() {
		return false, nil // inspect's own loader names the problem
	}
	f, err := os.Open(opts.Model)
	if err != nil {
		return false, nil
	}
	head := make([]byte, len(compress.ArchiveMagic))
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || !bytes.Equal(head, []byte(compress.ArchiveMagic)) {
		return false, nil
	}
	_, led, err := readArchive(opts.Model)
	if err != nil {
		return true, err
	}
	return true, printArchiveLedger(opts.Stdout, led, opts.JSON, "")
}
