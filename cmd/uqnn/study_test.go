package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/report"
	"github.com/uqnn/uqnn/study"
)

// tinyStudy is the smallest study that still fills every report section: 500 training images,
// one epoch, one compressed network, 2-member ensembles, 5 attacks, one sweep point per method.
const tinyStudy = `train: {epochs: 1, images: 500, val_images: 200, test_images: 200}
compress: {methods: [magnitude], retrain_epochs: 1, sdr_epochs: 1, filter_images: 50}
sample: {members: 2, burnin: 5, thin: 5}
attack: {n: 5, budget: 300, grid: 5, workers: 1}
sweep: {methods: [magnitude, filter, sdr, svd], removed: [0.5], attack_n: 3, bootstrap: 20}
`

func writeTiny(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(p, []byte(tinyStudy), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStudyEndToEnd runs the tiny study, kills it once the training stage is finished, reruns it
// to the end (the finished stage is not redone), reruns the finished study (everything cached,
// in ≤ 30 s), and opens report.html in headless Chromium.
func TestStudyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the end-to-end study under -short (study's unit tests cover the cache)")
	}
	testenv.ORT(t)
	cfg := writeTiny(t)
	dir := filepath.Join(t.TempDir(), "study")

	// 1. Kill mid-run, as soon as a stage is finished.
	cmd := exec.Command(uqnnBin, "study", "--quick", "--config", cfg, "-o", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	trainDone := filepath.Join(study.StageDir(dir, "train"), study.DoneFile)
	deadline := time.After(3 * time.Minute)
wait:
	for {
		if _, err := os.Stat(trainDone); err == nil {
			break
		}
		select {
		case err := <-exited: // finished or failed before the poll saw train done
			if _, serr := os.Stat(trainDone); serr == nil {
				break wait
			}
			t.Fatalf("uqnn study ended (%v) without finishing the train stage:\n%s", err, stderr.String())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the train stage did not finish within 3 minutes:\n%s", stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	before, err := os.ReadFile(trainDone)
	if err != nil {
		t.Fatal(err)
	}

	// 2. Rerun to the end: train is not redone.
	r := uqnn(t, "study", "--quick", "--config", cfg, "-o", dir)
	if r.code != 0 {
		t.Fatalf("study exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "study: train ") {
		t.Errorf("the rerun redid the finished train stage:\n%s", r.stderr)
	}
	if after, _ := os.ReadFile(trainDone); !bytes.Equal(before, after) {
		t.Errorf("train's done.json changed across the kill and rerun")
	}
	if !strings.Contains(r.stdout, filepath.Join(dir, "report.html")) {
		t.Errorf("stdout does not say where the report is:\n%s", r.stdout)
	}

	// 3. Rerun the finished study: nothing runs, ≤ 30 s.
	start := time.Now()
	r = uqnn(t, "study", "--quick", "--config", cfg, "-o", dir)
	if el := time.Since(start); r.code != 0 || el > 30*time.Second {
		t.Fatalf("rerun: exit %d in %v; want 0 within 30 s\n%s", r.code, el, r.stderr)
	}
	if strings.Contains(r.stderr, " done (") {
		t.Errorf("rerun of a finished study ran stages:\n%s", r.stderr)
	}

	// 4. Results: every (network, sampler) row has its detection figures.
	csv, err := os.ReadFile(filepath.Join(dir, study.ResultsCSV))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 5 {
		t.Fatalf("results.csv has %d lines; want a header and 4 rows (base, magnitude × psgld, baoab):\n%s", len(lines), csv)
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) < 16 || f[14] == "" {
			t.Errorf("row without a detection AUROC: %s", l)
		}
	}
	// The sweep: one point per method, with a detection AUROC where an attack succeeded, and
	// the AUROC figure in the report.
	var res study.Results
	if b, err := os.ReadFile(filepath.Join(dir, study.ResultsJSON)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	var methods []string
	aurocs := 0
	for _, p := range res.Sweep {
		methods = append(methods, p.Method)
		if p.AUROC != nil {
			aurocs++
			if p.Adversarial == 0 || p.Members != 3 || p.AUROC.Lo > p.AUROC.Value || p.AUROC.Value > p.AUROC.Hi {
				t.Errorf("sweep point %s: AUROC %+v on %d adversarial images with %d members; want an interval around the value, ≥ 1 image, 3 members", p.Method, *p.AUROC, p.Adversarial, p.Members)
			}
		} else if p.Adversarial != 0 {
			t.Errorf("sweep point %s: %d adversarial images but no AUROC", p.Method, p.Adversarial)
		}
	}
	if strings.Join(methods, ",") != "magnitude,filter,sdr,svd" || aurocs == 0 {
		t.Errorf("sweep points %v with %d AUROCs; want magnitude, filter, sdr, svd and at least one AUROC", methods, aurocs)
	}
	if _, err := os.Stat(filepath.Join(dir, study.FiguresDir, "sweep-auroc.png")); err != nil {
		t.Errorf("no AUROC sweep figure: %v", err)
	}
	checkReportRenders(t, filepath.Join(dir, study.ReportHTML))
}

// checkReportRenders opens the page in headless Chromium: the page's own script must find every
// section and every image decoded, and the screenshot must not be blank.
func checkReportRenders(t *testing.T, page string) {
	t.Helper()
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("skipping the browser check: chromium not installed (scripts/apt-deps.sh installs it)")
	}
	tmp := t.TempDir()
	shot := filepath.Join(tmp, "shot.png")
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(tmp, "profile"), "--window-size=1200,4000"}
	dom, err := exec.Command(chrome, append(flags, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if !bytes.Contains(dom, []byte("<title>"+report.RenderOK+"</title>")) {
		m := regexp.MustCompile(`<title>[^<]*</title>`).Find(dom)
		t.Fatalf("report did not render: %s", m)
	}
	m := regexp.MustCompile(`data-images="(\d+)" data-sections="(\d+)"`).FindSubmatch(dom)
	if m == nil {
		t.Fatal("no render-check element in the DOM")
	}
	imgs, _ := strconv.Atoi(string(m[1]))
	secs, _ := strconv.Atoi(string(m[2]))
	// curves 1, attack grids 2, MI 4, ROC 2, sweep 2 (the metrics and the detection AUROC).
	if secs != len(study.SectionIDs) || imgs < 11 {
		t.Errorf("rendered %d sections and %d images; want %d sections and at least 11 images", secs, imgs, len(study.SectionIDs))
	}
	if out, err := exec.Command(chrome, append(flags, "--screenshot="+shot, "file://"+page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if blank(img) {
		t.Error("the screenshot is one colour")
	}
}

func blank(img image.Image) bool {
	b := img.Bounds()
	r0, g0, b0, _ := img.At(b.Min.X, b.Min.Y).RGBA()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bb != b0 {
				return false
			}
		}
	}
	return true
}

// TestStudySlurm starts a one-node Slurm cluster (munged, slurmctld, slurmd with their state in
// a temporary folder) and runs the tiny study through `uqnn study --slurm`: every group a job
// array, the report written by the merge job.
func TestStudySlurm(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Slurm cluster under -short")
	}
	testenv.ORT(t)
	for _, b := range []string{"munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("skipping: %s not installed (scripts/apt-deps.sh installs slurmctld slurmd slurm-client munge)", b)
		}
	}
	tmp, err := os.MkdirTemp("", "uqnn-slurm") // short: munge's socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	// A cleanup, not a defer: cleanups run after the function returns, LIFO, so the folder goes
	// last, after the daemons' cleanups have read their pid files (a defer removed them first and
	// left munged running).
	t.Cleanup(func() { os.RemoveAll(tmp) })
	conf := startSlurm(t, tmp)
	env := append(os.Environ(), "SLURM_CONF="+conf)
	dir := filepath.Join(tmp, "study")
	cmd := exec.Command(uqnnBin, "study", "--quick", "--config", writeTiny(t), "-o", dir, "--slurm", "--slurm-cpus", "1")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("uqnn study --slurm: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "submitted "); n != 7 {
		t.Fatalf("submitted %d jobs; want 7 (six groups and the merge):\n%s", n, out)
	}
	waitSlurm(t, env, dir, out)
	for _, s := range study.Plan(mustTiny(t)) {
		if _, err := study.ReadDone(dir, s.Name); err != nil {
			t.Fatalf("stage %s not finished through Slurm: %v\n%s", s.Name, err, slurmOutputs(dir))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, study.ReportHTML)); err != nil {
		t.Fatalf("the merge job wrote no report: %v", err)
	}
}

// waitSlurm polls squeue until the queue is empty. A job waiting on a dependency that can never be
// satisfied means a job it waits for failed: the test cancels the rest and fails at once with the
// job scripts' output files (each holds its uqnn's stderr).
func waitSlurm(t *testing.T, env []string, dir string, submitted []byte) {
	t.Helper()
	var ids []string
	for _, m := range regexp.MustCompile(`as job (\d+)`).FindAllSubmatch(submitted, -1) {
		ids = append(ids, string(m[1]))
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		q := exec.Command("squeue", "-h", "-o", "%i %j %T %r")
		q.Env = env
		b, err := q.Output()
		if err != nil {
			t.Fatalf("squeue: %v", err)
		}
		queue := strings.TrimSpace(string(b))
		if queue == "" {
			return
		}
		failed := strings.Contains(queue, "DependencyNeverSatisfied")
		if failed || time.Now().After(deadline) {
			c := exec.Command("scancel", ids...)
			c.Env = env
			c.Run()
			why := "a job failed (its dependants can never run)"
			if !failed {
				why = "Slurm jobs still queued after 10 minutes"
			}
			t.Fatalf("%s:\n%s\n%s", why, queue, slurmOutputs(dir))
		}
		time.Sleep(time.Second)
	}
}

// slurmOutputs is every job's output file under DIR/slurm (stdout and stderr of its uqnn).
func slurmOutputs(dir string) string {
	logs, _ := filepath.Glob(filepath.Join(dir, "slurm", "*.out"))
	var b strings.Builder
	for _, l := range logs {
		c, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "== %s\n%s", l, c)
	}
	return b.String()
}

func mustTiny(t *testing.T) study.Config {
	c, err := study.ParseConfig(strings.NewReader(tinyStudy), study.Quick())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSlurm brings up munged, slurmctld and slurmd under tmp and returns the slurm.conf path;
// every daemon is stopped by its pid when the test ends.
func startSlurm(t *testing.T, tmp string) string {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"state", "spool"} {
		os.MkdirAll(filepath.Join(tmp, d), 0o755)
	}
	key := bytes.Repeat([]byte("uqnn-test-munge-key-"), 52)
	if err := os.WriteFile(filepath.Join(tmp, "munge.key"), key, 0o400); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(tmp, "munge.sock")
	p := func(n string) string { return filepath.Join(tmp, n) }
	conf := fmt.Sprintf(`ClusterName=uqnntest
SlurmctldHost=%s
AuthType=auth/munge
AuthInfo=socket=%s
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmctldPort=%d
SlurmdPort=%d
StateSaveLocation=%s
SlurmdSpoolDir=%s
SlurmctldPidFile=%s
SlurmdPidFile=%s
SlurmctldLogFile=%s
SlurmdLogFile=%s
SlurmUser=root
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=%s CPUs=%d State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`, host, sock, freePort(t), freePort(t), p("state"), p("spool"), p("ctld.pid"), p("d.pid"), p("ctld.log"), p("d.log"), host, runtime.NumCPU())
	confPath := p("slurm.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("munged", "--force", "--key-file="+p("munge.key"), "--socket="+sock,
		"--pid-file="+p("munged.pid"), "--log-file="+p("munged.log"), "--seed-file="+p("munge.seed")).CombinedOutput(); err != nil {
		t.Fatalf("munged: %v\n%s", err, out)
	}
	// munged daemonizes: its pid is in the pid file, read now while it surely exists.
	mungePID := 0
	if b, err := os.ReadFile(p("munged.pid")); err == nil {
		mungePID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	t.Cleanup(func() {
		if mungePID > 0 {
			syscall.Kill(mungePID, syscall.SIGTERM)
		}
	})
	env := append(os.Environ(), "SLURM_CONF="+confPath)
	for _, args := range [][]string{{"slurmctld", "-D", "-i"}, {"slurmd", "-D"}} {
		c := exec.Command(args[0], args[1:]...)
		c.Env = env
		if err := c.Start(); err != nil {
			t.Fatalf("%s: %v", args[0], err)
		}
		t.Cleanup(func() {
			c.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				c.Process.Kill()
				<-done
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := exec.Command("sinfo", "-h", "-o", "%t")
		c.Env = env
		b, _ := c.Output()
		if strings.TrimSpace(string(b)) == "idle" {
			return confPath
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(p("ctld.log"))
			t.Fatalf("the Slurm node is not idle after 30 s (sinfo: %q)\n%s", b, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
