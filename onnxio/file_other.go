//go:build !unix

package onnxio

import "os"

// openNonblock opens path read-only; without O_NONBLOCK, the stat check before it is the guard.
func openNonblock(path string, follow bool) (*os.File, error) { return os.Open(path) }

func setBlocking(*os.File) error { return nil }
