package pixel

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

func TestParseAndString(t *testing.T) {
	for _, c := range []struct {
		in            string
		scale, offset float32
		back          string
	}{
		{"0..1", 1.0 / 255, 0, "0..1"},
		{"mnist", 1 / (255 * 0.3081), -0.1307 / 0.3081, "mnist"},
		{"scale=0.5,offset=-2", 0.5, -2, "scale=0.5,offset=-2"},
		{" scale = 1 ", 1, 0, "0..255"}, // the same map as a preset is named by it
	} {
		pp, auto, err := Parse(c.in)
		if err != nil || auto || pp.Scale != c.scale || pp.Offset != c.offset {
			t.Fatalf("Parse(%q) = %+v, %v, %v; want scale %v offset %v", c.in, pp, auto, err, c.scale, c.offset)
		}
		if got := pp.String(); got != c.back {
			t.Errorf("Parse(%q).String() = %q; want %q", c.in, got, c.back)
		}
		again, _, err := Parse(pp.String())
		if err != nil || again.Scale != pp.Scale || again.Offset != pp.Offset {
			t.Errorf("round trip of %q: %+v, %v", c.in, again, err)
		}
	}
	for _, bad := range []string{"scale=Inf,offset=0", "scale=NaN", "scale=1,offset=-Inf", "scale=1e39", "scale=0", "offset=1", "bogus", "scale=x"} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted; want an error", bad)
		}
	}
	if _, auto, err := Parse("auto"); !auto || err != nil {
		t.Fatalf("auto: %v %v", auto, err)
	}
}

func TestResolveOrder(t *testing.T) {
	ctx := context.Background()
	m := &onnxio.Model{}
	calls := 0
	cal := func(context.Context) (Preprocess, []Calibration, int, error) {
		calls++
		return Presets[3], []Calibration{{Preprocess: Presets[3], Accuracy: 1}}, 7, nil
	}
	// No metadata, no default: calibration decides.
	r, err := Resolve(ctx, "auto", m, nil, cal)
	if err != nil || r.Source != FromCalibration || r.Preprocess != Presets[3] || r.CalibImages != 7 || calls != 1 {
		t.Fatalf("calibration: %+v %v (calls %d)", r, err, calls)
	}
	// A default wins over calibration.
	if r, _ := Resolve(ctx, "", m, &UnitRange, cal); r.Source != FromDefault || r.Preprocess != UnitRange || calls != 1 {
		t.Fatalf("default: %+v (calls %d)", r, calls)
	}
	// Metadata wins over both.
	Presets[2].Store(m)
	if r, _ := Resolve(ctx, "auto", m, &UnitRange, cal); r.Source != FromMetadata || r.Preprocess != Presets[2] || calls != 1 {
		t.Fatalf("metadata: %+v (calls %d)", r, calls)
	}
	// A flag wins over everything.
	if r, _ := Resolve(ctx, "0..255", m, &UnitRange, cal); r.Source != FromFlag || r.Preprocess != Presets[1] {
		t.Fatalf("flag: %+v", r)
	}
	if _, err := Resolve(ctx, "auto", &onnxio.Model{}, nil, nil); err == nil || !strings.Contains(err.Error(), MetaKey) {
		t.Fatalf("nothing to go on: %v", err)
	}
	v := []float32{0, 255}
	Presets[3].Apply(v)
	if math.Abs(float64(v[0]+1)) > 1e-7 || math.Abs(float64(v[1]-1)) > 1e-7 {
		t.Fatalf("-1..1 Apply = %v", v)
	}
}
