//go:build !unix

package bbolt

import "os"

// unlock does nothing here: closing the file releases bbolt's lock.
func unlock(*os.File) error { return nil }
