// Command benchreport prints `make bench`'s ratio table: uqnn's Go benchmark results beside the
// PyTorch peer's timings measured in the same run.
//
// Usage: go run ./scripts/benchreport TORCH.jsonl GOBENCH.txt
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type peer struct {
	Peer     string  `json:"peer"`
	Threads  int     `json:"threads"`
	Arch     string  `json:"arch"`
	Batch    int     `json:"batch"`
	Train    float64 `json:"train_step_s"`
	Infer1   float64 `json:"infer_batch1_s_per_image"`
	Infer256 float64 `json:"infer_batch256_s_per_image"`
}

// bench maps a benchmark name (without the -GOMAXPROCS suffix) to its metrics by unit.
type bench map[string]map[string]float64

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func readBench(path string) (bench, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := bench{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err == nil {
				metrics[fields[i+1]] = v
			}
		}
		out[m[1]] = metrics
	}
	return out, sc.Err()
}

func readPeers(path string) (map[string]peer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]peer{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "{") {
			continue
		}
		var p peer
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		out[p.Arch] = p
	}
	return out, nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchreport TORCH.jsonl GOBENCH.txt")
		os.Exit(2)
	}
	bs, err := readBench(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	peers, err := readPeers(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport: no PyTorch peer figures:", err)
	}
	fmt.Println("\n== uqnn vs PyTorch (same machine, same run; ratio = uqnn time / PyTorch time, lower is better)")
	fmt.Printf("%-8s %-26s %12s %12s %8s\n", "arch", "measure", "uqnn", "pytorch", "ratio")
	for _, arch := range []string{"lenet5", "zoo"} {
		p, ok := peers[arch]
		row := func(what string, ours, theirs float64) {
			if ours == 0 {
				return
			}
			if !ok || theirs == 0 {
				fmt.Printf("%-8s %-26s %12.3g %12s %8s\n", arch, what, ours, "-", "-")
				return
			}
			fmt.Printf("%-8s %-26s %12.3g %12.3g %8.2f\n", arch, what, ours, theirs, ours/theirs)
		}
		row("train step s (batch 64)", bs["BenchmarkTrainStep/"+arch]["ns/op"]/1e9, p.Train)
		row("infer s/image (batch 1)", bs["BenchmarkInfer/"+arch+"/batch=1"]["s/image"], p.Infer1)
		row("infer s/image (batch 256)", bs["BenchmarkInfer/"+arch+"/batch=256"]["s/image"], p.Infer256)
	}
	fmt.Println("\n== uqnn vs bare onnxruntime (same session settings, interleaved; ratio = uqnn throughput / bare, higher is better)")
	names := make([]string, 0, len(bs))
	for name := range bs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// internal/ort reports "ratio" (eval), adversarial "oracle/bare".
		for _, unit := range []string{"ratio", "oracle/bare"} {
			if r, ok := bs[name][unit]; ok {
				fmt.Printf("%-64s %-12s %8.3f\n", name, unit, r)
			}
		}
	}
}
