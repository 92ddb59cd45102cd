package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/uqnn/uqnn/adversarial"
)

// attackProgress reports on stderr: redrawn in place on a terminal, a line a second otherwise.
type attackProgress struct {
	w          io.Writer
	quiet, tty bool
	last       time.Time
	drawn      bool
}

func newAttackProgress(w io.Writer, quiet bool) *attackProgress {
	return &attackProgress{w: w, quiet: quiet, tty: isTerminal(w)}
}

func (p *attackProgress) logf(format string, a ...any) {
	if !p.quiet {
		fmt.Fprintf(p.w, format, a...)
	}
}

func (p *attackProgress) add(s adversarial.Progress) {
	if p.quiet || (time.Since(p.last) < time.Second && s.Done < s.Total) {
		return
	}
	p.last, p.drawn = time.Now(), true
	end := "\n"
	if p.tty {
		end = "\033[K\r"
	}
	fmt.Fprintf(p.w, "attack: %d/%d done, %d successful (%.1f%%), %.0f queries/s%s",
		s.Done, s.Total, s.Successes, 100*float64(s.Successes)/float64(max(s.Done, 1)), rate(int(s.Queries), s.Elapsed), end)
}

func (p *attackProgress) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func printAttack(w io.Writer, r adversarial.CampaignReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := "untargeted"
	if r.Params.Targeted {
		mode = "targeted (random target)"
	}
	c := r.Params.GenAttack
	fmt.Fprintf(tw, "model\t%s\n", r.Params.Model)
	fmt.Fprintf(tw, "preprocess\t%s\n", r.Params.Preprocess.Preprocess.Describe())
	fmt.Fprintf(tw, "attack\tGenAttack, %s, ε %.4g (%.0f/255 levels), budget %d queries per example, seed %d\n",
		mode, r.Params.Epsilon, math.Round(r.Params.EpsEffective*255), r.Params.Budget, r.Params.Seed)
	if c.Adaptive {
		fmt.Fprintf(tw, "settings\tN %d, τ %.3g, adaptive ρ = max(%.3g, %.3g·%.3g^k), α = max(%.3g, %.3g·%.3g^k), plateau %d\n",
			c.Population, c.Temperature, c.RhoMin, c.RhoInit, c.Decay, c.AlphaMin, c.AlphaInit, c.Decay, c.Plateau)
	} else {
		fmt.Fprintf(tw, "settings\tN %d, τ %.3g, ρ %.3g, α %.3g\n", c.Population, c.Temperature, c.Rho, c.Alpha)
	}
	fmt.Fprintf(tw, "examples\t%d attacked (first correctly classified of %d test images scanned)\n", r.Attacked, r.Selection.Scanned)
	fmt.Fprintf(tw, "success\t%d/%d = %.2f%%\n", r.Successes, r.Attacked, 100*r.SuccessRate)
	if r.Queries.N == 0 {
		fmt.Fprintf(tw, "queries\tn/a (no successful example)\nnorms\tn/a (no successful example)\n")
	} else {
		fmt.Fprintf(tw, "queries\tmean %.0f, median %.0f, p90 %.0f (successful examples)\n", r.Queries.Mean, r.Queries.Median, r.Queries.P90)
		fmt.Fprintf(tw, "norms\tL∞ mean %.4f, L2 mean %.3f (successful examples)\n", r.Linf.Mean, r.L2.Mean)
	}
	fmt.Fprintf(tw, "speed\t%.0f queries/s\n", r.QueriesPerSec)
	return tw.Flush()
}
