package ort

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
// cache filled by `make ort`. A flag or variable that names no library is an error, not a hint to
// look elsewhere: the user asked for that file. Only a regular file counts (dlopen of a FIFO
// would hang). The error names every place it looked and how to install the library.
func Locate(flag string) (string, error) {
	cache := CachePath()
	install := "install it with `make ort` (from the uqnn checkout)"
	if flag != "" {
		if err := checkLib(flag); err != nil {
			return "", fmt.Errorf("%w: --ort-lib %s %v; want the path of libonnxruntime.so.1 (%s); %s or drop --ort-lib",
				ErrNoLibrary, flag, err, Version, install)
		}
		return flag, nil
	}
	if env := os.Getenv(EnvLib); env != "" {
		if err := checkLib(env); err != nil {
			return "", fmt.Errorf("%w: $%s %s %v; want the path of libonnxruntime.so.1 (%s), or unset it to use the cache %s; %s",
				ErrNoLibrary, EnvLib, env, err, Version, cache, install)
		}
		return env, nil
	}
	if err := checkLib(cache); err != nil {
		return "", fmt.Errorf("%w: looked at the cache %s (it %v) and $%s is unset; %s or pass --ort-lib PATH",
			ErrNoLibrary, cache, err, EnvLib, install)
	}
	return cache, nil
}

// checkLib says why path cannot be the library ("does not exist", "is a folder"), or nil.
func checkLib(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("does not exist")
	case err != nil:
		return fmt.Errorf("cannot be read: %w", errors.Unwrap(err))
	case st.IsDir():
		return errors.New("is a folder")
	case !st.Mode().IsRegular():
		return errors.New("is not a regular file")
	}
	return nil
}

var initMu sync.Mutex
var initPath string

// Init loads the library at path and starts the onnxruntime environment with telemetry off
// (it sets ORT_DISABLE_TELEMETRY=1 in the process environment first, the only switch that acts
// before onnxruntime writes its device id) and logging limited to fatal messages. It is
// idempotent; the environment is process-wide, so a second call with another path is an error.
func Init(path string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ortgo.IsInitialized() {
		if initPath != "" && initPath != path {
			return fmt.Errorf("ort: already initialised with %s; cannot switch to %s", initPath, path)
		}
		return nil
	}
	if err := checkLib(path); err != nil {
		return fmt.Errorf("%w: %s %v; want the path of libonnxruntime.so.1 (%s)", ErrNoLibrary, path, err, Version)
	}
	// onnxruntime's telemetry starts with the environment, before DisableTelemetry can be
	// called: it writes a device id and an event queue under $XDG_CACHE_HOME/Microsoft and would
	// upload them. Its off switch is this variable, which the library reads as the environment starts.
	if err := os.Setenv(envDisableTelemetry, "1"); err != nil {
		return fmt.Errorf("ort: setting %s: %w", envDisableTelemetry, err)
	}
	ortgo.SetSharedLibraryPath(path)
	// Only fatal messages are logged: a failing run is reported once, as the error Run returns
	// (see RunError), not also as onnxruntime's own coloured multi-line log on stderr.
	if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelFatal()); err != nil {
		return fmt.Errorf("ort: loading %s (want onnxruntime %s): %w", path, Version, err)
	}
	if err := ortgo.DisableTelemetry(); err != nil {
		ortgo.DestroyEnvironment()
		return fmt.Errorf("ort: %s: disabling telemetry: %w", path, err)
	}
	initPath = path
	return nil
}

// envDisableTelemetry is onnxruntime's switch for its telemetry (device id, event queue, upload).
const envDisableTelemetry = "ORT_DISABLE_TELEMETRY"

// Setup is Locate followed by Init.
func Setup(flag string) error {
	p, err := Locate(flag)
	if err != nil {
		return err
	}
	return Init(p)
}
