package study

import (
	"os"
	"testing"
)

// TestArchiveColumn: a network with model.uqz shows its size, a float network (which the archive
// format cannot code) shows n/a, and one whose stage did not finish shows —.
func TestArchiveColumn(t *testing.T) {
	dir := t.TempDir()
	c := Quick()
	c.Compress.Methods = []string{Magnitude, Combined}
	c.Sample.Samplers = []string{PSGLD}
	nets := map[string]Network{
		Base:     {Name: Base, Kept: 1, NoArchive: "compress: archive: no initializer ...: unsupported model"},
		Combined: {Name: Combined, Kept: 0.01, ArchiveBytes: 1234},
	}
	for n, net := range nets {
		d := StageDir(dir, NetworkStage(n))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeJSON(d+"/"+NetworkFile, net); err != nil {
			t.Fatal(err)
		}
	}
	header, cells := c.Table(Rows(dir, c))
	col := -1
	for i, h := range header {
		if h == "archive bytes" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no archive bytes column in %v", header)
	}
	want := map[string]string{Base: "n/a", Magnitude: "—", Combined: "1234"}
	for _, row := range cells {
		if got := row[col]; got != want[row[0]] {
			t.Errorf("%s: archive bytes %q; want %q", row[0], got, want[row[0]])
		}
	}
	if len(cells) != 3 {
		t.Errorf("%d rows; want 3", len(cells))
	}
}
