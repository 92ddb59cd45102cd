package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"
)

// Version is the onnxruntime release that `make ort` installs and uqnn is tested with.
const Version = "1.30.0"

// EnvLib names the environment variable that may point to libonnxruntime.so.
const EnvLib = "UQNN_ORT_LIB"

// ErrNoLibrary reports that no onnxruntime library was found.
var ErrNoLibrary = errors.New("onnxruntime library not found")

// CachePath is where `make ort` puts the library: $XDG_CACHE_HOME/uqnn/onnxruntime-VERSION/ (or ~/.cache).
func CachePath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = filepath.Join(os.TempDir(), "uqnn-cache")
	}
	return filepath.Join(dir, "uqnn", "onnxruntime-"+Version, "libonnxruntime.so.1")
}

// Locate finds the onnxruntime shared library: the flag value if set, then $UQNN_ORT_LIB, then the
// cache filled by `make ort`. The error lists every place it looked and how to install the library.
func Locate(flag string) (string, error) {
	type cand struct{ from, path string }
	var cands []cand
	if flag != "" {
		cands = append(cands, cand{"--ort-lib", flag})
	}
	if env := os.Getenv(EnvLib); env != "" {
		cands = append(cands, cand{"$" + EnvLib, env})
	}
	cands = append(cands, cand{"cache", CachePath()})
	var tried []string
	for _, c := range cands {
		st, err := os.Stat(c.path)
		if err == nil && !st.IsDir() {
			return c.path, nil
		}
		tried = append(tried, fmt.Sprintf("%s %s", c.from, c.path))
		if c.from == "--ort-lib" {
			break // an explicit flag that is wrong is an error, not a hint to look elsewhere
		}
	}
	return "", fmt.Errorf("%w: looked at %s; install it with `make ort` (from the uqnn checkout) or pass --ort-lib PATH",
		ErrNoLibrary, strings.Join(tried, ", "))
}

var initMu sync.Mutex
var initPath string

// Init loads the library at path and starts the onnxruntime environment. It is idempotent;
// the environment is process-wide, so a second call with another path is an error.
func Init(path string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ortgo.IsInitialized() {
		if initPath != "" && initPath != path {
			return fmt.Errorf("ort: already initialised with %s; cannot switch to %s", initPath, path)
		}
		return nil
	}
	ortgo.SetSharedLibraryPath(path)
	if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
		return fmt.Errorf("ort: loading %s (want onnxruntime %s): %w", path, Version, err)
	}
	initPath = path
	return nil
}

// Setup is Locate followed by Init.
func Setup(flag string) error {
	p, err := Locate(flag)
	if err != nil {
		return err
	}
	return Init(p)
}
