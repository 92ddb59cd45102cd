package train

import (
	"context"
	"fmt"

	"github.com/uqnn/uqnn/internal/prob"
)

// Evaluate returns the mean cross-entropy and the accuracy of net on s, feeding batches of
// exactly batch images (the last one padded with zero images whose outputs are ignored) so
// nets built for a fixed batch size work.
func Evaluate(ctx context.Context, net Net, s Set, scale, offset float32, batch int) (loss, acc float64, err error) {
	if err := s.Check("evaluation"); err != nil {
		return 0, 0, fmt.Errorf("train: %w", err)
	}
	if s.N == 0 {
		return 0, 0, fmt.Errorf("train: evaluation set is empty")
	}
	if batch <= 0 {
		batch = DefaultBatch
	}
	x := make([]float32, batch*s.Dim())
	y := make([]int, batch)
	idx := make([]int, 0, batch)
	var sum float64
	correct := 0
	for lo := 0; lo < s.N; lo += batch {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		n := min(batch, s.N-lo)
		idx = idx[:n]
		for i := range idx {
			idx[i] = lo + i
		}
		fill(s, idx, scale, offset, x, y)
		clear(x[n*s.Dim():])
		clear(y[n:])
		logits, err := net.Forward(x)
		if err != nil {
			return 0, 0, fmt.Errorf("train: forward on images %d..%d: %w", lo, lo+n-1, err)
		}
		if len(logits)%batch != 0 || len(logits) == 0 {
			return 0, 0, fmt.Errorf("train: forward on a batch of %d returned %d logits; want a multiple of %d", batch, len(logits), batch)
		}
		k := len(logits) / batch
		for r := 0; r < n; r++ {
			l, ok := prob.CrossEntropy(logits[r*k:(r+1)*k], y[r])
			sum += l
			if ok {
				correct++
			}
		}
	}
	return sum / float64(s.N), float64(correct) / float64(s.N), nil
}
