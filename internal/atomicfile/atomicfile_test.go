package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new content")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	st, _ := os.Stat(p)
	if err != nil || string(b) != "new content" || st.Mode().Perm() != 0o644 {
		t.Fatalf("got %q mode %v err %v; want new content, 0644", b, st.Mode().Perm(), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d entries in the folder; want only the file (no temporary left)", len(ents))
	}
	// A folder that does not exist: an error naming the path, nothing written.
	bad := filepath.Join(dir, "missing", "x")
	if err := WriteFile(bad, []byte("x")); err == nil {
		t.Fatal("want an error for a missing folder")
	}
}
