//go:build unix

package onnxio

import (
	"os"
	"syscall"
)

// openNonblock opens path read-only with O_NONBLOCK, so that opening a FIFO or a device that
// slipped in after the stat check cannot wait; with follow false a symlink is refused too.
func openNonblock(path string, follow bool) (*os.File, error) {
	flag := os.O_RDONLY | syscall.O_NONBLOCK
	if !follow {
		flag |= syscall.O_NOFOLLOW
	}
	return os.OpenFile(path, flag, 0)
}

// setBlocking clears O_NONBLOCK on a regular file opened by openNonblock (it has no effect on
// regular files on Linux, but the descriptor should not surprise a later reader).
func setBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
