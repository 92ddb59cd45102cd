package onnxio

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxModelBytes is the largest model file Load reads. Protobuf cannot encode or parse a message
// of 2 GiB or more, so a bigger .onnx file is not a model; big weights belong in external data.
const MaxModelBytes = 1<<31 - 1

// framingFields bounds how many top-level fields readModelFile checks before reading a file.
// Models have a dozen (ir_version, opsets, producer, graph, metadata); each check is one ReadAt.
const framingFields = 64

// notRegularError reports a path that is not a regular file; kind says what it is instead.
type notRegularError struct{ kind string }

func (e *notRegularError) Error() string { return "is " + e.kind }

// fileKind names a non-regular file mode for messages ("a FIFO", "a folder").
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}

// openRegular opens path for reading if, and only if, it is a regular file, without ever
// blocking: the path is stat'ed first (lstat when follow is false, so a symlink is refused), then
// opened non-blocking (opening a FIFO for reading would otherwise wait for a writer, and a device
// could be anything) and the opened descriptor stat'ed again, which closes the race of a file
// swapped in between. The returned FileInfo is the descriptor's; its Size bounds every read.
// A path that is not a regular file gives a *notRegularError; other failures the OS error.
func openRegular(path string, follow bool) (*os.File, fs.FileInfo, error) {
	stat := os.Stat
	if !follow {
		stat = os.Lstat
	}
	st, err := stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, &notRegularError{fileKind(st.Mode())}
	}
	f, err := openNonblock(path, follow)
	if err != nil {
		return nil, nil, err
	}
	fst, err := f.Stat()
	if err == nil && !fst.Mode().IsRegular() {
		err = &notRegularError{fileKind(fst.Mode())}
	}
	if err == nil {
		err = setBlocking(f)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fst, nil
}

// readModelFile reads a model file after checking, without reading its content, that it is a
// regular file within protobuf's size limit whose top-level fields are framed like a protobuf
// message. A file of zeros, text or random bytes is refused after one small read, whatever its
// size; a model is read in full with reads bounded by the size stat'ed on the open descriptor.
func readModelFile(path string) ([]byte, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("onnxio: %s: %s: %w", path, fmt.Sprintf(format, a...), ErrInvalidModel)
	}
	f, st, err := openRegular(path, true)
	if err != nil {
		return nil, fail("%s", describeOpenError(err, "want a regular .onnx file"))
	}
	defer f.Close()
	size := st.Size()
	if size > MaxModelBytes {
		return nil, fail("is %s; protobuf models are at most 2 GiB (bigger weights go in external data)", humanBytes(size))
	}
	if err := checkFraming(f, size); err != nil {
		return nil, fail("not an ONNX model (%d bytes): %v", size, err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		if errors.Is(err, io.EOF) {
			return nil, fail("shrank while being read (was %d bytes)", size)
		}
		return nil, fail("cannot read: %v", unwrapPathError(err))
	}
	return data, nil
}

// describeOpenError turns an openRegular error into the text after the file name.
func describeOpenError(err error, want string) string {
	var nr *notRegularError
	if errors.As(err, &nr) {
		return nr.Error() + "; " + want
	}
	return "cannot open: " + unwrapPathError(err).Error()
}

// unwrapPathError drops the operation and path of an *fs.PathError, which the caller names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkFraming walks the first top-level fields of a serialized message of size bytes held in r,
// reading only each field's tag and length: every tag must be valid and every length-delimited
// field must end inside the file. It accepts whatever proto.Unmarshal would accept (a group, which
// ONNX never writes, ends the check), so it only refuses files early, never wrongly.
func checkFraming(r io.ReaderAt, size int64) error {
	var head [2 * binaryMaxVarint]byte
	off := int64(0)
	for range framingFields {
		if off == size {
			return nil
		}
		n, err := r.ReadAt(head[:min(int64(len(head)), size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		b := head[:n]
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return fmt.Errorf("byte %d: bad field tag: %v", off, protowire.ParseError(tl))
		}
		var body int64
		switch typ {
		case protowire.VarintType:
			_, vl := protowire.ConsumeVarint(b[tl:])
			if vl < 0 {
				return fmt.Errorf("byte %d: field %d: bad varint: %v", off, num, protowire.ParseError(vl))
			}
			body = int64(vl)
		case protowire.Fixed32Type:
			body = 4
		case protowire.Fixed64Type:
			body = 8
		case protowire.BytesType:
			l, vl := protowire.ConsumeVarint(b[tl:])
			if vl < 0 {
				return fmt.Errorf("byte %d: field %d: bad length: %v", off, num, protowire.ParseError(vl))
			}
			if l > uint64(size) {
				return fmt.Errorf("byte %d: field %d claims %d bytes; the file has %d", off, num, l, size)
			}
			body = int64(vl) + int64(l)
		case protowire.StartGroupType:
			return nil
		default:
			return fmt.Errorf("byte %d: field %d has wire type %d, which no protobuf message uses here", off, num, typ)
		}
		if body > size-off-int64(tl) {
			return fmt.Errorf("byte %d: field %d runs past the end of the file", off, num)
		}
		off += int64(tl) + body
	}
	return nil
}

// binaryMaxVarint is the longest varint encoding (10 bytes).
const binaryMaxVarint = 10

// humanBytes formats a size for messages: "2.5 GB", "812 MB", "4096 bytes".
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d bytes", n)
}

// FileSHA256 is the hex SHA-256 of a file's bytes: the "source model" hash that compress,
// sample and attack records carry, so a result names exactly the file it came from.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
