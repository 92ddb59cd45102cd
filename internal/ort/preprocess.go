package ort

import (
	"fmt"
	"strconv"
	"strings"
)

// Preprocess maps a raw pixel x in 0..255 to the model's input: x·Scale + Offset.
type Preprocess struct {
	Name   string  `json:"name"`
	Scale  float32 `json:"scale"`
	Offset float32 `json:"offset"`
}

// Presets are the pixel conventions `--preprocess auto` chooses among, in order of preference on ties.
var Presets = []Preprocess{
	{Name: "0..1", Scale: 1.0 / 255, Offset: 0},
	{Name: "0..255", Scale: 1, Offset: 0},
	{Name: "mnist", Scale: 1 / (255 * 0.3081), Offset: -0.1307 / 0.3081},
	{Name: "-1..1", Scale: 1 / 127.5, Offset: -1},
}

// ParsePreprocess reads a --preprocess value: "auto" (auto=true), a preset name, or
// "scale=S,offset=O".
func ParsePreprocess(s string) (pp Preprocess, auto bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "auto" {
		return Preprocess{}, true, nil
	}
	for _, p := range Presets {
		if s == p.Name {
			return p, false, nil
		}
	}
	if strings.Contains(s, "=") {
		pp = Preprocess{Name: s, Scale: 1}
		var haveScale bool
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			f, perr := strconv.ParseFloat(strings.TrimSpace(v), 32)
			if !ok || perr != nil {
				return Preprocess{}, false, fmt.Errorf("--preprocess %q: %q is not key=number", s, kv)
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
	return Preprocess{}, false, fmt.Errorf("--preprocess %q: want auto, 0..1, 0..255, mnist, -1..1 or scale=S,offset=O", s)
}
