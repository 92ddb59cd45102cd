package train

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/uqnn/uqnn/internal/atomicfile"
)

// checkpointMagic versions the checkpoint format.
const checkpointMagic = "uqnn-train-checkpoint-2"

// ErrBadCheckpoint marks a checkpoint that cannot be read or does not match the run resumed.
var ErrBadCheckpoint = errors.New("bad checkpoint")

// Checkpoint is everything the rest of a run depends on.
type Checkpoint struct {
	Magic        string
	Seed         uint64
	Batch        int
	TrainN, ValN int
	Epochs       int // Config.Epochs of the run that wrote it
	Epoch, Step  int
	Pos          int     // images of the current epoch consumed
	Perm         []int32 // the current epoch's order; nil between epochs
	DataRNG      []byte  // "data order" PCG state
	NoiseRNG     []byte  // "noise" PCG state
	Stepper      []byte
	Names        []string
	Values       [][]float32
	LastLR       float64
	Images       int64
	Seconds      float64
	// Settings are Config.Settings of the run that wrote it; Resume refuses any difference.
	Settings map[string]string
	// Hooks holds the state of every hook with a Name and a Save func, by name (the learning
	// curves are hook "curves").
	Hooks map[string][]byte
}

func (r *run) writeCheckpoint(path string) error {
	dr, err := r.dataPCG.MarshalBinary()
	if err != nil {
		return err
	}
	nr, err := r.noise.MarshalBinary()
	if err != nil {
		return err
	}
	sb, err := r.st.MarshalState()
	if err != nil {
		return fmt.Errorf("stepper state: %w", err)
	}
	ck := Checkpoint{
		Magic: checkpointMagic, Seed: r.cfg.Seed, Batch: r.batch, TrainN: r.data.Train.N, ValN: r.data.Val.N,
		Epochs: r.cfg.Epochs, Epoch: r.epoch, Step: r.step, Pos: r.pos, Perm: r.perm,
		DataRNG: dr, NoiseRNG: nr, Stepper: sb, LastLR: r.lastLR, Images: r.images, Seconds: r.elapsed(),
		Settings: r.cfg.Settings, Hooks: map[string][]byte{},
	}
	for _, h := range r.hooks {
		if h.Name != "" && h.Save != nil {
			b, err := h.Save()
			if err != nil {
				return fmt.Errorf("hook %s state: %w", h.Name, err)
			}
			ck.Hooks[h.Name] = b
		}
	}
	for _, p := range r.params {
		ck.Names = append(ck.Names, p.Name)
		ck.Values = append(ck.Values, p.Value)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&ck); err != nil {
		return fmt.Errorf("encoding checkpoint: %w", err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// ReadCheckpoint reads a checkpoint written by Loop.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var ck Checkpoint
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&ck); err != nil || ck.Magic != checkpointMagic {
		if err == nil {
			err = fmt.Errorf("format %q, want %q", ck.Magic, checkpointMagic)
		}
		return nil, fmt.Errorf("train: checkpoint %s: %w: %v", path, ErrBadCheckpoint, err)
	}
	return &ck, nil
}

func (r *run) restore(ck *Checkpoint) error {
	mismatch := func(what string, got, want any) error {
		return fmt.Errorf("%w: it was written with %s %v; this run has %v", ErrBadCheckpoint, what, got, want)
	}
	switch {
	case ck.Seed != r.cfg.Seed:
		return newSettingError("seed", fmt.Sprint(ck.Seed), fmt.Sprint(r.cfg.Seed))
	case ck.Batch != r.batch:
		return newSettingError("batch", fmt.Sprint(ck.Batch), fmt.Sprint(r.batch))
	case ck.TrainN != r.data.Train.N:
		return mismatch("training set size", ck.TrainN, r.data.Train.N)
	case ck.ValN != r.data.Val.N:
		return mismatch("validation set size", ck.ValN, r.data.Val.N)
	case ck.Epochs != r.cfg.Epochs:
		return newSettingError("epochs", fmt.Sprint(ck.Epochs), fmt.Sprint(r.cfg.Epochs))
	case len(ck.Names) != len(r.params) || len(ck.Values) != len(r.params):
		return mismatch("parameter count", len(ck.Names), len(r.params))
	case ck.Epoch < 0 || ck.Epoch > ck.Epochs || ck.Step < 0 || ck.Pos < 0 || ck.Pos%r.batch != 0 || ck.Pos > r.data.Train.N:
		return fmt.Errorf("%w: epoch %d of %d, step %d, position %d is not a state a run of batch %d over %d images reaches",
			ErrBadCheckpoint, ck.Epoch, ck.Epochs, ck.Step, ck.Pos, r.batch, r.data.Train.N)
	case ck.Perm != nil && len(ck.Perm) != r.data.Train.N:
		return fmt.Errorf("%w: permutation of %d for %d training images", ErrBadCheckpoint, len(ck.Perm), r.data.Train.N)
	}
	if err := compareSettings(ck.Settings, r.cfg.Settings); err != nil {
		return err
	}
	for _, h := range r.hooks {
		if h.Name == "" || h.Load == nil {
			continue
		}
		b, ok := ck.Hooks[h.Name]
		if !ok {
			return fmt.Errorf("%w: it holds no state for hook %q", ErrBadCheckpoint, h.Name)
		}
		if err := h.Load(b); err != nil {
			return fmt.Errorf("%w: hook %q: %v", ErrBadCheckpoint, h.Name, err)
		}
	}
	seen := make([]bool, len(ck.Perm))
	for _, v := range ck.Perm {
		if v < 0 || int(v) >= len(seen) || seen[v] {
			return fmt.Errorf("%w: the data order is not a permutation of 0..%d", ErrBadCheckpoint, len(seen)-1)
		}
		seen[v] = true
	}
	for i, p := range r.params {
		if ck.Names[i] != p.Name || len(ck.Values[i]) != len(p.Value) {
			return fmt.Errorf("%w: parameter %d is %q with %d values; this net has %q with %d",
				ErrBadCheckpoint, i, ck.Names[i], len(ck.Values[i]), p.Name, len(p.Value))
		}
	}
	if err := r.dataPCG.UnmarshalBinary(ck.DataRNG); err != nil {
		return fmt.Errorf("%w: data order stream: %v", ErrBadCheckpoint, err)
	}
	if err := r.noise.UnmarshalBinary(ck.NoiseRNG); err != nil {
		return fmt.Errorf("%w: noise stream: %v", ErrBadCheckpoint, err)
	}
	if err := r.st.Init(r.params); err != nil {
		return fmt.Errorf("stepper: %w", err)
	}
	if err := r.st.UnmarshalState(ck.Stepper); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	for i, p := range r.params {
		copy(p.Value, ck.Values[i])
	}
	r.epoch, r.step, r.pos, r.perm = ck.Epoch, ck.Step, ck.Pos, ck.Perm
	r.lastLR = ck.LastLR
	r.images, r.seconds = ck.Images, ck.Seconds
	return nil
}

// SettingError is a resume refused because settings that change the result differ from the
// checkpoint's. It matches ErrBadCheckpoint with errors.Is.
type SettingError struct {
	Name            string // the first differing setting (sorted), as Config.Settings names it
	Checkpoint, Run string // its value in the checkpoint and in this run ("" when absent)
	// Diffs lists every differing setting as "name checkpoint-value → run-value".
	Diffs []string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("%v: it was written with other settings: %s (resume with the same settings, or start afresh)", ErrBadCheckpoint, strings.Join(e.Diffs, "; "))
}

// Is makes errors.Is(err, ErrBadCheckpoint) true.
func (e *SettingError) Is(target error) bool { return target == ErrBadCheckpoint }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func settingDiff(name, ck, run string) string {
	return fmt.Sprintf("%s %s in the checkpoint, %s now", name, orNone(ck), orNone(run))
}

func newSettingError(name, ck, run string) *SettingError {
	return &SettingError{Name: name, Checkpoint: ck, Run: run, Diffs: []string{settingDiff(name, ck, run)}}
}

// compareSettings names every setting that differs (sorted).
func compareSettings(ck, run map[string]string) error {
	keys := map[string]bool{}
	for k := range ck {
		keys[k] = true
	}
	for k := range run {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var e *SettingError
	for _, k := range names {
		if ck[k] != run[k] {
			if e == nil {
				e = &SettingError{Name: k, Checkpoint: ck[k], Run: run[k]}
			}
			e.Diffs = append(e.Diffs, settingDiff(k, ck[k], run[k]))
		}
	}
	if e == nil {
		return nil
	}
	return e
}
