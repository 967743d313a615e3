package tidwall

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"unsafe"

	tw "github.com/tidwall/wal"
)

// closeLibrary closes the library. Its Close fsyncs the last segment and
// returns at once if that fails, leaving the segment's descriptor open until
// the garbage collector finds it: a reopen after an fsync error would run
// beside the old descriptor, and a mount under the WAL would stay busy. So
// when Close fails, the segment file is closed here, through the library's
// unexported field (the module version is pinned; closeSegmentFile's test
// fails if the field changes). The library's error is returned.
func closeLibrary(lib *tw.Log) error {
	err := lib.Close()
	if err != nil && !errors.Is(err, tw.ErrClosed) {
		if cerr := closeSegmentFile(lib); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = fmt.Errorf("%w (and closing its segment file: %v)", err, cerr)
		}
	}
	return err
}

// closeSegmentFile closes the *os.File the library appends to.
func closeSegmentFile(lib *tw.Log) error {
	v := reflect.ValueOf(lib).Elem().FieldByName("sfile")
	if !v.IsValid() || v.Type() != reflect.TypeFor[*os.File]() {
		return errors.New("tidwall: the library has no sfile *os.File field to close")
	}
	f := reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem().Interface().(*os.File)
	if f == nil {
		return nil
	}
	return f.Close()
}
