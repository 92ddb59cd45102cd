// Command testprogress turns `go test -json` into progress a person can follow: a line per
// top-level test as it finishes (failures with their output), go test's own "ok"/"FAIL" line per
// package, and a closing "N passed, N failed, N skipped". It exits 1 when anything failed, so
// `set -o pipefail; go test -json ./... | testprogress` fails loudly.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := map[string][]string{} // test output kept until it passes or fails
	var passed, failed, skipped int
	badPkg := false
	for in.Scan() {
		var e event
		if err := json.Unmarshal(in.Bytes(), &e); err != nil {
			fmt.Println(in.Text()) // build errors and other plain lines
			continue
		}
		key := e.Package + " " + e.Test
		top := e.Test != "" && !strings.Contains(e.Test, "/")
		switch e.Action {
		case "output":
			if e.Test != "" {
				out[key] = append(out[key], e.Output)
			} else if strings.HasPrefix(e.Output, "ok  ") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "?   ") || strings.HasPrefix(e.Output, "---") || strings.Contains(e.Output, "[build failed]") {
				fmt.Print(e.Output)
			}
		case "pass", "fail", "skip":
			if e.Test == "" {
				if e.Action == "fail" {
					badPkg = true
				}
				continue
			}
			if top {
				switch e.Action {
				case "pass":
					passed++
					if e.Elapsed >= 5 {
						fmt.Printf("    pass %s %s (%.0f s)\n", short(e.Package), e.Test, e.Elapsed)
					}
				case "skip":
					skipped++
				case "fail":
					failed++
					fmt.Printf("--- FAIL: %s %s (%.1f s)\n%s", short(e.Package), e.Test, e.Elapsed, strings.Join(out[key], ""))
				}
			} else if e.Action == "fail" {
				fmt.Print(strings.Join(out[key], ""))
			}
			delete(out, key)
		}
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || badPkg {
		os.Exit(1)
	}
}

func short(pkg string) string { return strings.TrimPrefix(pkg, "github.com/uqnn/uqnn/") }
