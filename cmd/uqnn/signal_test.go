package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every verb stops promptly on SIGINT or SIGTERM, with 130 or 143, also while it reads its
// input from something that never ends (a FIFO nobody writes to).
func TestSignalsStopEveryStagePromptly(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.onnx")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, c := range []struct {
		name string
		sig  syscall.Signal
		code int
		args []string
	}{
		{"train-term", syscall.SIGTERM, exitTerminated, []string{"train", "--epochs", "1", "-o", filepath.Join(dir, "t.onnx")}},
		{"train-int", syscall.SIGINT, exitInterrupted, []string{"train", "--epochs", "1", "-o", filepath.Join(dir, "t2.onnx")}},
		{"inspect-fifo", syscall.SIGTERM, exitTerminated, []string{"inspect", fifo}},
		{"eval-fifo", syscall.SIGINT, exitInterrupted, []string{"eval", fifo}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(uqnnBin, c.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			cmd.Process.Signal(c.sig)
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 15 s after %v\nstderr: %s", c.sig, stderr.String())
			}
			code := cmd.ProcessState.ExitCode()
			if cmd.ProcessState.Exited() && code == 2 || code == 3 {
				// The verb refused its input before the signal came (e.g. a FIFO refused at
				// once): that is prompt too.
				return
			}
			if code != c.code {
				t.Fatalf("exit %d after %v; want %d\nstderr: %s", code, c.sig, c.code, stderr.String())
			}
			if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "context canceled") {
				t.Errorf("stderr after %v:\n%s", c.sig, stderr.String())
			}
			t.Logf("stopped %v after the signal", time.Since(start))
		})
	}
	os.Remove(fifo)
}
