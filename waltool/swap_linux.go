package waltool

import "golang.org/x/sys/unix"

// exchangeDirs swaps a and b in one atomic rename, so that a crash leaves
// one or the other in each place, never neither.
func exchangeDirs(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
