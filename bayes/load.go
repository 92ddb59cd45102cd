package bayes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"

	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/onnxio"
)

// Member outputs of an ensemble run through onnxruntime.
type Outputs struct {
	Probs      [][]float32 // per member, n×Classes probabilities
	Classes    int
	From       string // "member files" or "ensemble.onnx"
	Preprocess pixel.Preprocess
	// Mean and MI are ensemble.onnx's own outputs (From == "ensemble.onnx"), float32.
	Mean, MI []float32
}

// ensembleChunk is the batch ensemble.onnx is run with (the activations of every member are
// live at once). The peak of a 100-member LeNet-5 ensemble is the model itself: held at once
// as IR, as the re-encoded bytes and inside onnxruntime it came to 1.06 GB; one or two copies
// at a time (runEnsembleGraph) keep it under 1 GiB, measured in the README.
const ensembleChunk = 50

// LoadEnsemble runs an ensemble on n images of raw 0..255 pixels (rows×cols each): path is an
// ensemble folder (its manifest's members, else every member-NNN.onnx, each in its own
// onnxruntime session, one at a time) or an ensemble.onnx built by EnsembleGraph (one session,
// the members' probabilities read from its "ensemble/member_probs" value). The pixel map is pp
// when set, else the models' metadata. onnxruntime must be set up (ort.Setup).
func LoadEnsemble(ctx context.Context, path string, ppSet bool, pp pixel.Preprocess, raw []float32, n, rows, cols int) (*Outputs, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return runEnsembleGraph(ctx, path, ppSet, pp, raw, n)
	}
	files, err := memberFiles(path)
	if err != nil {
		return nil, err
	}
	out := &Outputs{From: "member files"}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mpp := pp
		if !ppSet {
			m, err := onnxio.Load(f)
			if err != nil {
				return nil, err
			}
			var ok bool
			if mpp, ok = pixel.FromModel(m); !ok {
				return nil, fmt.Errorf("bayes: %s has no %q metadata; give the pixel preprocessing: %w", f, pixel.MetaKey, onnxio.ErrInvalidModel)
			}
		}
		if i == 0 {
			out.Preprocess = mpp
		}
		c, err := ort.Open(f, mpp, ort.Options{Height: rows, Width: cols})
		if err != nil {
			return nil, err
		}
		p, err := c.Probs(ctx, raw, n)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("bayes: %s: %w", f, err)
		}
		if i == 0 {
			out.Classes = c.Classes()
		} else if c.Classes() != out.Classes {
			return nil, fmt.Errorf("bayes: %s has %d classes, %s %d: %w", f, c.Classes(), files[0], out.Classes, onnxio.ErrInvalidModel)
		}
		out.Probs = append(out.Probs, p)
	}
	return out, nil
}

// memberFiles lists an ensemble folder's members: the manifest's, else member-NNN.onnx sorted.
func memberFiles(dir string) ([]string, error) {
	var files []string
	if man, err := ReadManifest(dir); err == nil {
		for _, m := range man.MemberList {
			files = append(files, filepath.Join(dir, m.File))
		}
	} else {
		g, _ := filepath.Glob(filepath.Join(dir, "member-*.onnx"))
		slices.Sort(g)
		files = g
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("bayes: %s holds no member-NNN.onnx files: %w", dir, onnxio.ErrInvalidModel)
	}
	return files, nil
}

// runEnsembleGraph runs ensemble.onnx with its member probabilities as an extra output, in
// fixed batches of ensembleChunk (the last padded with black images).
func runEnsembleGraph(ctx context.Context, path string, ppSet bool, pp pixel.Preprocess, raw []float32, n int) (*Outputs, error) {
	m, err := onnxio.Load(path)
	if err != nil {
		return nil, err
	}
	members, err := strconv.Atoi(metaOr(m, MetaEnsembleMembers))
	if err != nil || members < 1 {
		return nil, fmt.Errorf("bayes: %s: no %q metadata; want an ensemble.onnx written by uqnn sample: %w", path, MetaEnsembleMembers, onnxio.ErrInvalidModel)
	}
	if !ppSet {
		var ok bool
		if pp, ok = pixel.FromModel(m); !ok {
			return nil, fmt.Errorf("bayes: %s has no %q metadata; give the pixel preprocessing: %w", path, pixel.MetaKey, onnxio.ErrInvalidModel)
		}
	}
	// A decoded model keeps its protobuf beside the IR; the copy without it lets the 172 MB of
	// a 100-member LeNet-5 ensemble go before RunModel encodes the IR again.
	m = &onnxio.Model{IRVersion: m.IRVersion, Producer: m.Producer, ProducerVersion: m.ProducerVersion, Domain: m.Domain,
		ModelVersion: m.ModelVersion, Doc: m.Doc, Opsets: m.Opsets, Metadata: m.Metadata, Graph: m.Graph}
	debug.FreeOSMemory()
	g := m.Graph
	if g.Producer(memberProbsValue) == nil || len(g.Outputs) < 3 || g.Outputs[0].Name != EnsembleProbs {
		return nil, fmt.Errorf("bayes: %s has no %q value; want an ensemble.onnx written by uqnn sample: %w", path, memberProbsValue, onnxio.ErrInvalidModel)
	}
	g.Outputs = []*onnxio.ValueInfo{g.Outputs[0], g.Outputs[2], {Name: memberProbsValue, Tensor: true, DType: onnxio.Float}}
	in := g.DataInputs()
	if len(in) != 1 || !in[0].ShapeKnown || len(in[0].Shape) == 0 {
		return nil, fmt.Errorf("bayes: %s: want one data input of known rank: %w", path, onnxio.ErrUnsupported)
	}
	in[0].Shape[0] = onnxio.Dim{Value: ensembleChunk}
	per := len(raw) / max(n, 1)
	padded := (n + ensembleChunk - 1) / ensembleChunk * ensembleChunk
	x := make([]float32, padded*per)
	for i := range x {
		v := pp.Offset
		if i < len(raw) {
			v = raw[i]*pp.Scale + pp.Offset
		}
		x[i] = v
	}
	// Encoded, the IR goes (m and g are not used below) before onnxruntime reads the bytes,
	// and the bytes go before it runs (ort.RunEncoded): at each moment two copies of the
	// weights at most, not four.
	dims, input := in[0].Dims(), in[0].Name
	names := make([]string, len(g.Outputs))
	for i, o := range g.Outputs {
		names[i] = o.Name
	}
	data, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("bayes: %s: %w", path, err)
	}
	debug.FreeOSMemory()
	outs, err := ort.RunEncoded(ctx, data, input, dims, names, x, padded)
	if err != nil {
		return nil, fmt.Errorf("bayes: %s: %w", path, err)
	}
	if len(outs[0])%padded != 0 {
		return nil, fmt.Errorf("bayes: %s: %d probabilities for %d images", path, len(outs[0]), padded)
	}
	k := len(outs[0]) / padded
	res := &Outputs{Classes: k, From: EnsembleFile, Preprocess: pp, Mean: outs[0][:n*k], MI: outs[1][:n]}
	// member_probs is [members, chunk, k] per chunk, chunks one after another.
	mp := outs[2]
	if len(mp) != members*padded*k {
		return nil, fmt.Errorf("bayes: %s: member probabilities have %d values; want %d members × %d images × %d classes", path, len(mp), members, padded, k)
	}
	res.Probs = make([][]float32, members)
	for j := range members {
		res.Probs[j] = make([]float32, 0, n*k)
	}
	for c := 0; c < padded/ensembleChunk; c++ {
		block := mp[c*members*ensembleChunk*k : (c+1)*members*ensembleChunk*k]
		rowsHere := min(ensembleChunk, n-c*ensembleChunk)
		for j := range members {
			res.Probs[j] = append(res.Probs[j], block[j*ensembleChunk*k:(j*ensembleChunk+rowsHere)*k]...)
		}
	}
	return res, nil
}

// memberProbsValue is EnsembleGraph's [members, N, k] stack of the members' probabilities.
const memberProbsValue = "ensemble/member_probs"

func metaOr(m *onnxio.Model, key string) string {
	v, _ := m.Meta(key)
	return v
}
