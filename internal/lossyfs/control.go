package lossyfs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
)

// fusectlDir is where the FUSE control file system is mounted; its
// <connection>/abort files abort a connection.
const fusectlDir = "/sys/fs/fuse/connections"

// fusectlMagic is the control file system's statfs type.
const fusectlMagic = 0x65735543

// Available returns nil when this process can mount, abort and unmount a FUSE
// file system, or an error naming the prerequisite that is missing: an
// openable /dev/fuse, root (mount(2) and umount(2) are called directly, no
// fusermount is used), and the FUSE control file system at
// /sys/fs/fuse/connections, which it mounts if it is absent.
func Available() error {
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("lossyfs: /dev/fuse cannot be opened (no fuse kernel module, or no access): %w", err)
	}
	dev.Close()
	if euid := os.Geteuid(); euid != 0 {
		return fmt.Errorf("lossyfs: not root (euid %d): mounting with mount(2), unmounting with umount(2) and mounting fusectl need root", euid)
	}
	return mountFusectl()
}

var fusectlMu sync.Mutex // one mount attempt at a time in this process

// mountFusectl mounts the FUSE control file system unless it is mounted: a
// busy mount can only be taken down without a hang by aborting its
// connection there.
func mountFusectl() error {
	fusectlMu.Lock()
	defer fusectlMu.Unlock()
	var st syscall.Statfs_t
	if err := syscall.Statfs(fusectlDir, &st); err != nil {
		return fmt.Errorf("lossyfs: no %s for the FUSE control file system (is the fuse module loaded?): %w", fusectlDir, err)
	}
	if st.Type == fusectlMagic {
		return nil
	}
	err := syscall.Mount("fusectl", fusectlDir, "fusectl", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
	if err != nil {
		return fmt.Errorf("lossyfs: mount the FUSE control file system (fusectl) at %s: %w", fusectlDir, err)
	}
	return nil
}

// abort aborts FUSE connection conn through the control file system at ctl,
// so that every request waiting on it fails at once and its server stops.
func abort(ctl string, conn uint32) error {
	name := fmt.Sprintf("%s/%d/abort", ctl, conn)
	if err := os.WriteFile(name, []byte("1"), 0o200); err != nil {
		return fmt.Errorf("lossyfs: abort connection %d: %w", conn, err)
	}
	return nil
}

// takeDown removes the mount of connection conn at dir after umount(2) failed
// with cause: it aborts the connection through the control file system at ctl
// and detaches the mount lazily, even if the abort fails. It returns whether
// the connection was aborted (so its server stops) and cause with what was
// done. It touches dir only while conn is its newest mount: connection
// numbers are reused once a mount is gone.
func takeDown(dir, ctl string, conn uint32, cause error) (aborted bool, err error) {
	err = fmt.Errorf("lossyfs: unmount %s: %w", dir, cause)
	if !isMount(dir, conn) {
		return false, err
	}
	aerr := abort(ctl, conn)
	derr := syscall.Unmount(dir, syscall.MNT_DETACH)
	switch {
	case aerr != nil && derr != nil:
		return false, fmt.Errorf("%w; %v; detach: %v", err, aerr, derr)
	case derr != nil:
		return true, fmt.Errorf("%w; connection %d aborted; detach: %v", err, conn, derr)
	case aerr != nil:
		return false, fmt.Errorf("%w; %v; detached, its server serves what is open until it is closed", err, aerr)
	}
	return true, fmt.Errorf("%w; connection %d aborted and detached", err, conn)
}

// connection returns the FUSE connection number of the newest mount at dir:
// the minor of its device, read from /proc/self/mountinfo rather than by
// stat, which would reach the server and count as an operation on the FS.
func connection(dir string) (uint32, error) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, fmt.Errorf("lossyfs: find the connection of %s: %w", dir, err)
	}
	var conn uint32
	found := false
	for _, line := range strings.Split(string(info), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 || fields[4] != dir {
			continue
		}
		var major uint32
		if _, err := fmt.Sscanf(fields[2], "%d:%d", &major, &conn); err == nil {
			found = true // the last mount on dir is the newest
		}
	}
	if !found {
		return 0, fmt.Errorf("lossyfs: %s is not in /proc/self/mountinfo", dir)
	}
	return conn, nil
}

// isMount reports whether the newest mount at dir is FUSE connection conn.
func isMount(dir string, conn uint32) bool {
	got, err := connection(dir)
	return conn != 0 && err == nil && got == conn
}

// ErrBusy is wrapped by Unmount when files were still open on the mount.
var ErrBusy = errors.New("files still open")
