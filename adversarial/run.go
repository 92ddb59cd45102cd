package adversarial

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/uqnn/uqnn/internal/seed"
)

// Task is one example to attack.
type Task struct {
	Index int       // the example's index in its data set; it names the example's random stream
	Image []float32 // d pixels in 0..1
	Goal  Goal
}

// Outcome is a finished Task.
type Outcome struct {
	Task
	Result
}

// RunOptions configure Run.
type RunOptions struct {
	Config  Config
	Budget  int64  // queries per example, > 0
	Seed    uint64 // the attack's seed; example i draws from seed.Indexed(Seed, "genattack", i)
	Workers int    // attacks in parallel; 0 means runtime.NumCPU()
	// Queries, when not nil, is increased by every image any example's oracle evaluates, so a
	// caller can report throughput while attacks are in flight.
	Queries *atomic.Int64
}

// RandomTarget draws a target class other than label, uniformly among the classes - 1 others.
func RandomTarget(rng *rand.Rand, label, classes int) int {
	t := rng.IntN(classes - 1)
	if t >= label {
		t++
	}
	return t
}

// Run attacks every task with GenAttack, opts.Workers at a time, each through its own Oracle
// with opts.Budget queries, and calls done (never concurrently) with each outcome as it
// finishes. Outcomes do not depend on the number of workers. When ctx is done, Run stops
// starting tasks, lets done see every task that finished, and returns ctx's error; attacks
// interrupted midway are not reported. An error from done or from an attack stops Run too.
func Run(ctx context.Context, m Model, tasks []Task, opts RunOptions, done func(Outcome) error) error {
	cfg := opts.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if opts.Budget <= 0 {
		return fmt.Errorf("adversarial: Run: budget %d: want a positive number of queries per example", opts.Budget)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range min(workers, len(tasks)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) || ctx.Err() != nil {
					return
				}
				t := tasks[i]
				o, err := NewOracle(m, opts.Budget)
				if err != nil {
					fail(err)
					return
				}
				o.total = opts.Queries
				r, err := GenAttack(ctx, o, t.Image, t.Goal, cfg, seed.Indexed(opts.Seed, "genattack", t.Index))
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("adversarial: example %d: %w", t.Index, err))
					}
					return
				}
				mu.Lock()
				if firstErr == nil {
					if err := done(Outcome{Task: t, Result: r}); err != nil {
						firstErr = err
						cancel()
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return parent.Err()
}
