package ort

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/uqnn/uqnn/onnxio"
)

// maxRunMessage bounds onnxruntime's message in a RunError: enough for the node, op and reason.
const maxRunMessage = 300

var (
	// ansiCode matches terminal colour and style sequences (ESC [ ... m).
	ansiCode = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")
	// logPrefix matches a log line's "2026-12-01 22:37:26.47 [E:onnxruntime:, file.cc:671 Func] ".
	logPrefix = regexp.MustCompile(`^(?:\d{4}-\d\d-\d\d [\d:.]+ )?\[[EWIVF]:onnxruntime:[^\]]*\] *`)
	// srcLocation matches "/onnxruntime_src/.../bfc_arena.cc:360 void* ns::F(size_t, bool) ",
	// the source position and C++ signature onnxruntime puts before a kernel's own message.
	srcLocation = regexp.MustCompile(`\S*onnxruntime_src/\S+:\d+ (?:[^()]*\([^()]*\)(?: const)? )?`)
	// nodeFailure matches onnxruntime's report of a failing kernel.
	nodeFailure = regexp.MustCompile(`^Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message: *(.*)$`)
)

// RunError turns the error of an onnxruntime run of the model at path into one line that wraps
// onnxio.ErrInvalidModel (the model could not be run on valid input, exit code 3) and the original
// error: colour codes, log prefixes, source positions and the binding's own prefix are dropped,
// message lines are joined, a failing kernel is named as `node "N" (Op)`, and the text is cut at
// maxRunMessage characters. It returns nil for a nil err.
func RunError(path string, err error) error {
	if err == nil {
		return nil
	}
	return &runError{path: path, msg: cleanRunMessage(err.Error()), err: err}
}

type runError struct {
	path, msg string
	err       error
}

func (e *runError) Error() string {
	return fmt.Sprintf("%s: %v: onnxruntime cannot run it: %s", e.path, onnxio.ErrInvalidModel, e.msg)
}

func (e *runError) Unwrap() []error { return []error{onnxio.ErrInvalidModel, e.err} }

// cleanRunMessage reduces an onnxruntime message to one readable line.
func cleanRunMessage(s string) string {
	s = ansiCode.ReplaceAllString(s, "")
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(logPrefix.ReplaceAllString(strings.TrimSpace(line), ""))
		line = strings.TrimPrefix(line, "Error running network: ")
		if line != "" {
			parts = append(parts, line)
		}
	}
	s = strings.Join(parts, "; ")
	s = srcLocation.ReplaceAllString(s, "")
	if m := nodeFailure.FindStringSubmatch(s); m != nil {
		s = fmt.Sprintf("node %q (%s): %s", m[2], m[1], m[3])
	}
	if s == "" {
		s = "no message"
	}
	if r := []rune(s); len(r) > maxRunMessage {
		s = string(r[:maxRunMessage]) + "…"
	}
	return s
}
