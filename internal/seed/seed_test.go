package seed

import "testing"

// The streams are frozen: checkpoints, attack records and same-seed tests depend on them.
func TestStreamsFrozen(t *testing.T) {
	// Pinned first draws (the values the two forms gave when they lived in train and
	// adversarial; a change here breaks every stored checkpoint and seeded result).
	if got, want := Rand(1, "data order").Uint64(), uint64(1068315294744789157); got != want {
		t.Fatalf("Rand(1, \"data order\") first draw %d; want %d", got, want)
	}
	if got, want := Indexed(7, "genattack", 3).Uint64(), uint64(17970787443225338366); got != want {
		t.Fatalf("Indexed(7, \"genattack\", 3) first draw %d; want %d", got, want)
	}
	if Rand(1, "data order").Uint64() == Rand(1, "noise").Uint64() {
		t.Fatal("different names gave the same first draw")
	}
	if Indexed(7, "genattack", 3).Uint64() == Indexed(7, "genattack", 4).Uint64() {
		t.Fatal("different indices gave the same first draw")
	}
}
