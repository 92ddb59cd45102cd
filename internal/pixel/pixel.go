// Package pixel is the one home of the pixel convention: how a raw 8-bit pixel x in 0..255
// becomes a model input, x·Scale + Offset. A Preprocess is parsed from a flag, formatted back,
// read from and written to a model's metadata (key MetaKey), and Resolve decides between the
// flag, the metadata and a calibration run in one place for every verb.
//
// Invariants: Scale is finite and non-zero and Offset finite (Parse refuses anything else, so
// no model ever sees NaN inputs because of a flag); String gives back a spelling Parse accepts
// and that parses to the same values (presets by name, others as scale=…,offset=…).
package pixel

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/uqnn/uqnn/onnxio"
)

// MetaKey is the model metadata key that records the pixel convention a model was trained with
// (written by uqnn train and compress; `--preprocess auto` honours it).
const MetaKey = "uqnn.preprocess"

// Preprocess maps a raw pixel x in 0..255 to the model's input: x·Scale + Offset.
type Preprocess struct {
	Name   string  `json:"name"`
	Scale  float32 `json:"scale"`
	Offset float32 `json:"offset"`
}

// Presets are the pixel conventions `--preprocess auto` chooses among, in order of preference
// on ties.
var Presets = []Preprocess{
	{Name: "0..1", Scale: 1.0 / 255, Offset: 0},
	{Name: "0..255", Scale: 1, Offset: 0},
	{Name: "mnist", Scale: 1 / (255 * 0.3081), Offset: -0.1307 / 0.3081},
	{Name: "-1..1", Scale: 1 / 127.5, Offset: -1},
}

// UnitRange is the 0..1 preset, the convention of the networks uqnn builds.
var UnitRange = Presets[0]

// Auto is the flag value that asks Resolve to choose.
const Auto = "auto"

// Parse reads a --preprocess value: "auto" or "" (auto=true), a preset name, or
// "scale=S,offset=O" with S finite and non-zero and O finite.
func Parse(s string) (pp Preprocess, auto bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == Auto {
		return Preprocess{}, true, nil
	}
	for _, p := range Presets {
		if s == p.Name {
			return p, false, nil
		}
	}
	if !strings.Contains(s, "=") {
		return Preprocess{}, false, fmt.Errorf("--preprocess %q: want auto, 0..1, 0..255, mnist, -1..1 or scale=S,offset=O", s)
	}
	pp = Preprocess{Name: s, Scale: 1}
	var haveScale bool
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		f, perr := strconv.ParseFloat(strings.TrimSpace(v), 32)
		if !ok || perr != nil {
			return Preprocess{}, false, fmt.Errorf("--preprocess %q: %q is not key=number", s, kv)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || math.IsInf(float64(float32(f)), 0) {
			return Preprocess{}, false, fmt.Errorf("--preprocess %q: %s=%s is not a finite float32; want a finite number", s, strings.TrimSpace(k), strings.TrimSpace(v))
		}
		switch strings.TrimSpace(k) {
		case "scale":
			pp.Scale, haveScale = float32(f), true
		case "offset":
			pp.Offset = float32(f)
		default:
			return Preprocess{}, false, fmt.Errorf("--preprocess %q: unknown key %q; want scale=S,offset=O", s, k)
		}
	}
	if !haveScale || pp.Scale == 0 {
		return Preprocess{}, false, fmt.Errorf("--preprocess %q: want a non-zero scale=S", s)
	}
	return pp, false, nil
}

// String is the --preprocess spelling of pp: the preset's name when pp is a preset, else
// scale=S,offset=O.
func (p Preprocess) String() string {
	for _, q := range Presets {
		if q.Scale == p.Scale && q.Offset == p.Offset && (p.Name == q.Name || p.Name == "" || strings.Contains(p.Name, "=")) {
			return q.Name
		}
	}
	return fmt.Sprintf("scale=%g,offset=%g", p.Scale, p.Offset)
}

// Describe is String with the affine map spelled out, for people.
func (p Preprocess) Describe() string {
	return fmt.Sprintf("%s (x·%.6g %+.6g)", p.Name, p.Scale, p.Offset)
}

// Apply maps raw 0..255 pixels to model inputs in place.
func (p Preprocess) Apply(v []float32) {
	for i, x := range v {
		v[i] = x*p.Scale + p.Offset
	}
}

// FromModel reads the convention recorded in m's metadata; ok is false when there is none or
// it does not parse to a fixed convention.
func FromModel(m *onnxio.Model) (Preprocess, bool) {
	if m == nil {
		return Preprocess{}, false
	}
	v, ok := m.Meta(MetaKey)
	if !ok {
		return Preprocess{}, false
	}
	pp, auto, err := Parse(v)
	if err != nil || auto {
		return Preprocess{}, false
	}
	return pp, true
}

// Store records p in m's metadata.
func (p Preprocess) Store(m *onnxio.Model) { m.SetMeta(MetaKey, p.String()) }

// Calibration is one candidate convention and how well the model does with it.
type Calibration struct {
	Preprocess Preprocess `json:"preprocess"`
	Accuracy   float64    `json:"accuracy"`
	NLL        float64    `json:"nll"`
}

// How a convention was chosen.
const (
	FromFlag        = "flag"        // the flag named it
	FromMetadata    = "metadata"    // auto: the model's MetaKey metadata
	FromCalibration = "calibration" // auto: the best preset on labelled validation images
	FromDefault     = "default"     // nothing said: the caller's default (0..1 for built networks)
)

// Resolved is the convention a command uses and how it was chosen.
type Resolved struct {
	Preprocess
	Auto        bool          `json:"auto"`
	Source      string        `json:"source"`
	CalibImages int           `json:"calibration_images,omitempty"`
	Candidates  []Calibration `json:"candidates,omitempty"`
}

// Calibrator scores every preset on labelled images and returns the best, every candidate and
// how many images it used.
type Calibrator func(ctx context.Context) (best Preprocess, all []Calibration, images int, err error)

// Resolve decides the convention, in this order: a fixed flag value; for "auto" (or ""), the
// model's metadata; then def when it is not nil (a convention the caller knows, such as 0..1
// for a network it built itself); then calibrate. A bad flag is an error that names it; with
// nothing to go on (no metadata, def and calibrate nil) it says what is missing.
func Resolve(ctx context.Context, flag string, m *onnxio.Model, def *Preprocess, calibrate Calibrator) (Resolved, error) {
	pp, auto, err := Parse(flag)
	if err != nil {
		return Resolved{}, err
	}
	if !auto {
		return Resolved{Preprocess: pp, Source: FromFlag}, nil
	}
	if pp, ok := FromModel(m); ok {
		return Resolved{Preprocess: pp, Auto: true, Source: FromMetadata}, nil
	}
	if def != nil {
		return Resolved{Preprocess: *def, Auto: true, Source: FromDefault}, nil
	}
	if calibrate == nil {
		return Resolved{}, fmt.Errorf("--preprocess auto: the model records no %s metadata and there is nothing to calibrate on; name the convention (0..1, 0..255, mnist, -1..1 or scale=S,offset=O)", MetaKey)
	}
	best, all, n, err := calibrate(ctx)
	if err != nil {
		return Resolved{}, err
	}
	return Resolved{Preprocess: best, Auto: true, Source: FromCalibration, CalibImages: n, Candidates: all}, nil
}
