// Command benchreport prints `make bench`'s report from the files scripts/bench.sh leaves in
// its output folder: uqnn's Go benchmark results beside the PyTorch peer's timings, measured
// in interleaved rounds, as the median of the per-round ratios with their range; the BLAS and
// core type each side used; the machine's load while it ran; and where a training step's
// time goes (per layer pass, FLOPs, achieved GFLOP/s against the same BLAS's large-SGEMM
// rate).
//
// Usage: go run ./scripts/benchreport DIR
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

type torchInfo struct {
	Version       string   `json:"version"`
	Threads       int      `json:"threads"`
	CPUCapability string   `json:"cpu_capability"`
	MKLDNN        bool     `json:"mkldnn"`
	MKLDNNVersion string   `json:"mkldnn_version"`
	MKL           bool     `json:"mkl"`
	BLASInfo      string   `json:"blas_info"`
	BLASLibs      []string `json:"blas_libs"`
	OpenBLASCore  string   `json:"openblas_core"`
}

// bench maps a benchmark name (without the -GOMAXPROCS suffix) to its metrics by unit.
type bench map[string]map[string]float64

// order lists the names of a benchmark file in the order they ran.
var order = map[string]int{}

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
		if _, ok := order[m[1]]; !ok {
			order[m[1]] = len(order)
		}
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

// stats are the median and range of a sample.
type stats struct{ med, lo, hi float64 }

func summarize(v []float64) stats {
	if len(v) == 0 {
		return stats{}
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{med, s[0], s[len(s)-1]}
}

// round is one interleaved round of one environment setting at one thread count.
type round struct {
	threads  int
	goRes    bench
	torch    map[string]peer
	torchCPU map[string]torchCPU
}

// torchCPU is scripts/benchreport/torchcpu.py's line: PyTorch's CPU time at one thread.
type torchCPU struct {
	Arch     string  `json:"arch"`
	Train    float64 `json:"train_step_cpu_s"`
	Infer256 float64 `json:"infer_batch256_cpu_s_per_image"`
}

func readTorchCPU(path string) map[string]torchCPU {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	out := map[string]torchCPU{}
	for _, line := range strings.Split(string(b), "\n") {
		var t torchCPU
		if json.Unmarshal([]byte(line), &t) == nil && t.Arch != "" {
			out[t.Arch] = t
		}
	}
	return out
}

// env is everything measured under one environment setting.
type env struct {
	name   string
	vars   []string
	blas   string
	torch  *torchInfo
	loads  [][]string
	rounds []round
	layers bench
}

func readEnv(dir, name string) (*env, error) {
	e := &env{name: name}
	p := func(f string) string { return filepath.Join(dir, name+"-"+f) }
	if b, err := os.ReadFile(p("env.txt")); err == nil {
		e.vars = strings.Fields(string(b))
	}
	b, err := os.ReadFile(p("blas.txt"))
	if err != nil {
		return nil, err
	}
	if _, s, ok := strings.Cut(strings.TrimSpace(string(b)), "blas: "); ok {
		e.blas = s
	}
	if b, err := os.ReadFile(p("torchinfo.json")); err == nil {
		var ti torchInfo
		if err := json.Unmarshal(b, &ti); err != nil {
			return nil, fmt.Errorf("%s: %v", p("torchinfo.json"), err)
		}
		e.torch = &ti
	}
	if b, err := os.ReadFile(p("load.txt")); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			e.loads = append(e.loads, strings.Fields(l))
		}
	}
	for _, th := range []int{2, 1} {
		for r := 1; ; r++ {
			g, err := readBench(p(fmt.Sprintf("go-t%d-%d.txt", th, r)))
			if err != nil {
				break
			}
			t, _ := readPeers(p(fmt.Sprintf("torch-t%d-%d.jsonl", th, r)))
			var tc map[string]torchCPU
			if th == 1 {
				tc = readTorchCPU(p(fmt.Sprintf("torchcpu-%d.jsonl", r)))
			}
			e.rounds = append(e.rounds, round{th, g, t, tc})
		}
	}
	if len(e.rounds) == 0 {
		return nil, fmt.Errorf("%s: no rounds (want %s)", dir, p("go-t2-1.txt"))
	}
	e.layers, _ = readBench(p("layers.txt"))
	return e, nil
}

// busyLoad says whether the machine had other work while the benchmark ran: the runnable
// tasks /proc/loadavg counted between two sides (less the one reading it) reached half the
// cores, or the one-minute load before the first round did.
func (e *env) busyLoad(cores int) (first, maxLoad1 float64, maxOthers int, busy bool) {
	for i, l := range e.loads {
		if len(l) < 5 {
			continue
		}
		l1, _ := strconv.ParseFloat(l[1], 64)
		if i == 0 {
			first = l1
		}
		maxLoad1 = max(maxLoad1, l1)
		if run, _, ok := strings.Cut(l[4], "/"); ok {
			n, _ := strconv.Atoi(run)
			maxOthers = max(maxOthers, n-1)
		}
	}
	half := float64(cores) / 2
	return first, maxLoad1, maxOthers, first >= half || float64(maxOthers) >= half
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchreport DIR (the folder scripts/bench.sh wrote)")
		os.Exit(2)
	}
	dir := os.Args[1]
	cores := 2
	if b, err := os.ReadFile(filepath.Join(dir, "machine.txt")); err == nil {
		fmt.Sscanf(string(b), "cores %d", &cores)
	}
	var envs []*env
	for _, name := range []string{"asis", "unset"} {
		e, err := readEnv(dir, name)
		if err != nil {
			if _, statErr := os.Stat(filepath.Join(dir, name+"-blas.txt")); statErr == nil {
				fmt.Fprintln(os.Stderr, "benchreport:", err)
				os.Exit(1)
			}
			continue
		}
		envs = append(envs, e)
	}
	if len(envs) == 0 {
		fmt.Fprintf(os.Stderr, "benchreport: %s holds no benchmark results; run scripts/bench.sh\n", dir)
		os.Exit(1)
	}
	for _, e := range envs {
		report(e, cores)
	}
	if ort, err := readBench(filepath.Join(dir, "ort.txt")); err == nil {
		reportORT(ort)
	}
	if bs, err := readBench(filepath.Join(dir, "bayes.txt")); err == nil {
		reportBayes(bs)
	}
	if bs, err := readBench(filepath.Join(dir, "compress.txt")); err == nil {
		reportCompress(bs)
	}
}

// reportCompress prints issue 9's epoch ratios (BenchmarkSVDEpoch: steady-state step times of a
// plain, a masked and an svd epoch, interleaved) and onnxruntime's speed-up on the filter-pruned
// LeNet-5 (BenchmarkFilterPrunedORT/interleaved), each a median of per-iteration ratios.
func reportCompress(bs bench) {
	fmt.Println("\n== compress (LeNet-5; interleaved inside each benchmark)")
	for _, name := range slices.Sorted(maps.Keys(bs)) {
		m := bs[name]
		switch {
		case strings.Contains(name, "SVDEpoch"):
			fmt.Printf("masked epoch / plain epoch                 %8.3f   (bar ≤ 1.1)\n", m["masked/plain"])
			fmt.Printf("svd epoch / plain epoch                    %8.3f   (bar ≤ 2; %.1f vs %.1f ms per step)\n", m["svd/plain"], m["svd-ms/step"], m["plain-ms/step"])
		case strings.Contains(name, "FilterPrunedORT"):
			fmt.Printf("onnxruntime b256, original / filter-pruned %8.3f   (speed-up; bar ≥ 1.5)\n", m["speedup"])
		}
	}
}

// reportBayes prints the samplers' step against Adam's (BenchmarkSamplingStep) and the
// ensemble graph against its members' sessions (BenchmarkEnsembleVsSessions), each a median of
// paired, interleaved timings inside the benchmark, on the machine's GOMAXPROCS (2).
func reportBayes(bs bench) {
	fmt.Println("\n== bayes (LeNet-5; interleaved pairs inside each benchmark; lower is better)")
	for _, name := range slices.Sorted(maps.Keys(bs)) {
		m := bs[name]
		switch {
		case strings.Contains(name, "SamplingStep"):
			sampler := name[strings.LastIndex(name, "/")+1:]
			if i := strings.LastIndex(sampler, "-"); i > 0 {
				sampler = sampler[:i]
			}
			fmt.Printf("%-8s sampling step / Adam training step  %8.3f   (%.4f s vs %.4f s)\n", sampler, m["ratio"], m[sampler+"-s/step"], m["adam-s/step"])
		case strings.Contains(name, "EnsembleVsSessions"):
			fmt.Printf("ensemble.onnx / 20 member sessions         %8.3f   (%.4f s vs %.4f s for 1,000 images)\n", m["ratio"], m["ensemble-s"], m["sessions-s"])
		}
	}
}

func report(e *env, cores int) {
	title := map[string]string{"asis": "environment as it is", "unset": "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"}[e.name]
	fmt.Printf("\n######## %s (%s)\n", title, strings.Join(e.vars, " "))
	fmt.Printf("uqnn    BLAS: %s\n", e.blas)
	if t := e.torch; t != nil {
		core := t.OpenBLASCore
		if core == "" {
			core = "-"
		}
		fmt.Printf("PyTorch BLAS: torch %s, BLAS_INFO=%s, libs %s, OpenBLAS core %s; CPU capability %s, oneDNN %v (%s, its convolutions), MKL %v; threads %d\n",
			t.Version, t.BLASInfo, strings.Join(t.BLASLibs, " "), core, t.CPUCapability, t.MKLDNN, t.MKLDNNVersion, t.MKL, t.Threads)
	}
	first, maxL, others, busy := e.busyLoad(cores)
	fmt.Printf("load: 1-min average %.2f before the first round, at most %.2f; at most %d other runnable tasks between sides (%d cores)\n",
		first, maxL, others, cores)
	if busy {
		fmt.Println("WARNING: the machine was busy with other work; absolute times are inflated and only the interleaved ratios compare")
	}

	for _, th := range []int{2, 1} {
		var rounds []round
		for _, r := range e.rounds {
			if r.threads == th {
				rounds = append(rounds, r)
			}
		}
		if len(rounds) > 0 {
			reportRatios(rounds, th)
		}
		if th == 1 {
			reportCPURatios(rounds)
		}
	}
	reportLimit(e)
}

// reportRatios prints the uqnn/PyTorch table for the rounds at one thread count.
func reportRatios(rounds []round, threads int) {
	fmt.Printf("\n== uqnn vs PyTorch, %d thread(s) each, %d interleaved rounds (ratio = uqnn time / PyTorch time, lower is better; median of per-round ratios [min–max])\n", threads, len(rounds))
	fmt.Printf("%-8s %-26s %12s %12s %8s %15s\n", "arch", "measure", "uqnn med", "pytorch med", "ratio", "range")
	for _, arch := range []string{"lenet5", "zoo", "mlp"} {
		row := func(what string, ours func(bench) float64, theirs func(peer) float64) {
			var o, t, ratio []float64
			for _, r := range rounds {
				ov := ours(r.goRes)
				if ov == 0 {
					continue
				}
				o = append(o, ov)
				if p, ok := r.torch[arch]; ok && theirs(p) > 0 {
					t = append(t, theirs(p))
					ratio = append(ratio, ov/theirs(p))
				}
			}
			if len(o) == 0 {
				return
			}
			so := summarize(o)
			if len(ratio) == 0 {
				fmt.Printf("%-8s %-26s %12.4g %12s %8s %15s\n", arch, what, so.med, "-", "-", "-")
				return
			}
			st, sr := summarize(t), summarize(ratio)
			fmt.Printf("%-8s %-26s %12.4g %12.4g %8.2f %15s\n", arch, what, so.med, st.med, sr.med, fmt.Sprintf("[%.2f–%.2f]", sr.lo, sr.hi))
		}
		row("train step s (batch 64)", func(b bench) float64 { return b["BenchmarkTrainStep/"+arch]["med-s/op"] },
			func(p peer) float64 { return p.Train })
		row("infer s/image (batch 1)", func(b bench) float64 { return b["BenchmarkInfer/"+arch+"/batch=1"]["med-s/image"] },
			func(p peer) float64 { return p.Infer1 })
		row("infer s/image (batch 256)", func(b bench) float64 { return b["BenchmarkInfer/"+arch+"/batch=256"]["med-s/image"] },
			func(p peer) float64 { return p.Infer256 })
	}
}

// reportCPURatios prints uqnn's CPU time per step and per image at one thread over PyTorch's.
func reportCPURatios(rounds []round) {
	type row struct {
		what   string
		ours   func(bench) float64
		theirs func(torchCPU) float64
	}
	var printed bool
	for _, arch := range []string{"lenet5", "zoo"} {
		for _, r := range []row{
			{"train step CPU s (batch 64)", func(b bench) float64 { return b["BenchmarkTrainStep/"+arch]["cpu-s/op"] },
				func(t torchCPU) float64 { return t.Train }},
			{"infer CPU s/image (b. 256)", func(b bench) float64 { return b["BenchmarkInfer/"+arch+"/batch=256"]["cpu-s/op"] / 256 },
				func(t torchCPU) float64 { return t.Infer256 }},
		} {
			var o, t, ratio []float64
			for _, rd := range rounds {
				tc, ok := rd.torchCPU[arch]
				ov := r.ours(rd.goRes)
				if !ok || ov <= 0 || r.theirs(tc) <= 0 {
					continue
				}
				o, t, ratio = append(o, ov), append(t, r.theirs(tc)), append(ratio, ov/r.theirs(tc))
			}
			if len(ratio) == 0 {
				continue
			}
			if !printed {
				fmt.Printf("\n== uqnn vs PyTorch in CPU time, 1 thread each, %d rounds (counts the work, not the waits for a core: the figure that holds on a busy machine)\n", len(ratio))
				fmt.Printf("%-8s %-26s %12s %12s %8s %15s\n", "arch", "measure", "uqnn med", "pytorch med", "ratio", "range")
				printed = true
			}
			so, st, sr := summarize(o), summarize(t), summarize(ratio)
			fmt.Printf("%-8s %-26s %12.4g %12.4g %8.2f %15s\n", arch, r.what, so.med, st.med, sr.med, fmt.Sprintf("[%.2f–%.2f]", sr.lo, sr.hi))
		}
	}
}

// reportLimit prints, per network, the step's work and rate against the large-SGEMM rate,
// and each layer pass's time, work and rate, so the report says where the time goes. Rates are
// work per CPU-second (cpu-s/op: the process's CPU time, all threads): on a machine other
// processes keep busy, wall time also counts the waits for a core, CPU time mostly does not.
func reportLimit(e *env) {
	top := 0
	for _, r := range e.rounds {
		top = max(top, r.threads)
	}
	cpuRate := func(m map[string]float64) float64 {
		if m["cpu-s/op"] <= 0 {
			return 0
		}
		return m["MFLOP"] / 1e3 / m["cpu-s/op"]
	}
	var peaks []float64
	for _, r := range e.rounds {
		if r.threads != top {
			continue
		}
		if v := cpuRate(r.goRes["BenchmarkPeakSGEMM/n=1024"]); v > 0 {
			peaks = append(peaks, v)
		}
	}
	if v := cpuRate(e.layers["BenchmarkPeakSGEMM/n=1024"]); v > 0 {
		peaks = append(peaks, v)
	}
	if len(peaks) == 0 {
		return
	}
	peak := summarize(peaks)
	fmt.Printf("\n== The physical limit: SGEMM 1024³ through kernels.Gemm does %.1f GFLOP per CPU-second [%.1f–%.1f] (the peak below; GFLOP/s per core busy)\n", peak.med, peak.lo, peak.hi)
	for _, arch := range []string{"lenet5", "zoo", "mlp"} {
		var steps, cpus, upd []float64
		var mflop float64
		for _, r := range e.rounds {
			if r.threads != top {
				continue
			}
			if v := r.goRes["BenchmarkTrainStep/"+arch]; v["med-s/op"] > 0 {
				steps = append(steps, v["med-s/op"])
				cpus = append(cpus, v["cpu-s/op"])
				mflop = v["MFLOP"]
			}
			if v := r.goRes["BenchmarkUpdate/"+arch]["cpu-s/op"]; v > 0 {
				upd = append(upd, v)
			}
		}
		if len(steps) == 0 {
			continue
		}
		step, cpu, update := summarize(steps).med, summarize(cpus).med, summarize(upd).med
		rate := mflop / 1e3 / cpu
		fmt.Printf("\n%s train step (batch 64): %.2f ms wall, %.2f ms CPU; %.1f MFLOP (forward+backward) at %.1f GFLOP/CPU-s = %.0f%% of peak; Adam update %.3f ms CPU (%.0f%% of the step's CPU)\n",
			arch, step*1e3, cpu*1e3, mflop, rate, 100*rate/peak.med, update*1e3, 100*update/cpu)
		fmt.Printf("  %-10s %-8s %9s %9s %9s %11s %7s %7s\n", "layer", "pass", "wall ms", "CPU ms", "MFLOP", "GFLOP/CPU-s", "%peak", "%CPU")
		prefix := "BenchmarkLayers/" + arch + "/"
		var names []string
		for name := range e.layers {
			if strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
		var sum float64
		for _, name := range names {
			m := e.layers[name]
			parts := strings.Split(strings.TrimPrefix(name, prefix), "/")
			t, c := m["med-s/op"], m["cpu-s/op"]
			sum += c
			if gemmBound := strings.HasPrefix(parts[0], "conv") || strings.HasPrefix(parts[0], "fc"); gemmBound {
				fmt.Printf("  %-10s %-8s %9.3f %9.3f %9.1f %11.1f %6.0f%% %6.0f%%\n", parts[0], parts[1], t*1e3, c*1e3, m["MFLOP"], cpuRate(m), 100*cpuRate(m)/peak.med, 100*c/cpu)
			} else {
				fmt.Printf("  %-10s %-8s %9.3f %9.3f %9s %11s %7s %6.0f%%\n", parts[0], parts[1], t*1e3, c*1e3, "", "", "", 100*c/cpu)
			}
		}
		rest := cpu - sum - update
		fmt.Printf("  %-19s %9s %9.3f %37.0f%%   (loss, graph, copies: step CPU − passes − update; passes are timed alone, so this is rough)\n", "everything else", "", rest*1e3, 100*rest/cpu)
	}
}

func reportORT(bs bench) {
	fmt.Println("\n== uqnn vs bare onnxruntime (same session settings, interleaved; ratio = uqnn throughput / bare, higher is better)")
	for _, name := range slices.Sorted(maps.Keys(bs)) {
		// internal/ort reports "ratio" (eval), adversarial "oracle/bare".
		for _, unit := range []string{"ratio", "oracle/bare"} {
			if r, ok := bs[name][unit]; ok {
				fmt.Printf("%-64s %-12s %8.3f\n", name, unit, r)
			}
		}
	}
}
