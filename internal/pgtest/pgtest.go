// Package pgtest gives tests a fresh PostgreSQL database each: on the
// server NAUTILUS_TEST_PG_DSN names, else on a throwaway server started
// once per test binary from the local PostgreSQL installation.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) { dsn := pgtest.DSN(t); ... }
//
// Without PostgreSQL binaries the tests skip, naming the Debian package to
// install; with NAUTILUS_TEST_REQUIRE_PG=1 (as CI sets) they fail instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Environment variables the package reads.
const (
	EnvDSN     = "NAUTILUS_TEST_PG_DSN"     // a server to create the databases on, as a superuser or CREATEDB role
	EnvRequire = "NAUTILUS_TEST_REQUIRE_PG" // "1": fail rather than skip without PostgreSQL
)

var (
	startOnce sync.Once
	srv       *server
	startErr  error
)

// DSN returns the connection string of a new, empty database, dropped when
// t ends.
func DSN(t testing.TB) string {
	t.Helper()
	startOnce.Do(func() { srv, startErr = start() })
	if startErr != nil {
		var nb *notInstalledError
		if errors.As(startErr, &nb) {
			missing(t, os.Getenv(EnvRequire) == "1", startErr)
			return ""
		}
		t.Fatalf("pgtest: %v", startErr)
	}
	name := "nautilus_test_" + randomHex(8)
	ctx := context.Background()
	if err := srv.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// FORCE: a test that failed may still hold connections.
		if err := srv.exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(srv.admin, name)
}

// Main runs the tests and then stops the server DSN started, if any.
func Main(m *testing.M) int {
	code := m.Run()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// missing skips t, or fails it when PostgreSQL is required.
func missing(t testing.TB, required bool, err error) {
	t.Helper()
	if required {
		t.Fatalf("pgtest: %v (%s=1: PostgreSQL is required)", err, EnvRequire)
		return
	}
	t.Skipf("pgtest: %v", err)
}

// notInstalledError says the PostgreSQL server binaries are not found.
type notInstalledError struct{ looked []string }

func (e *notInstalledError) Error() string {
	return fmt.Sprintf("PostgreSQL server binaries (initdb, pg_ctl) not found in %s: install the Debian package postgresql, "+
		"or set %s to a server's DSN", strings.Join(e.looked, ", "), EnvDSN)
}

// findBinDir returns the directory holding initdb and pg_ctl: the newest
// version under the Debian layout root (/usr/lib/postgresql/*/bin), else
// the first directory of path (a PATH value) that has both.
func findBinDir(root, path string) (string, error) {
	var dirs []string
	if vs, _ := filepath.Glob(filepath.Join(root, "*", "bin")); len(vs) > 0 {
		slices.SortFunc(vs, func(a, b string) int { return versionOf(b) - versionOf(a) })
		dirs = append(dirs, vs...)
	}
	dirs = append(dirs, filepath.SplitList(path)...)
	for _, d := range dirs {
		if d != "" && executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", &notInstalledError{looked: []string{filepath.Join(root, "*", "bin"), "PATH"}}
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// server is the server the databases are created on.
type server struct {
	admin string // DSN of the maintenance database
	// Set when started here:
	bin, dir string
	cred     *syscall.Credential // run as this user (initdb refuses root)
}

func start() (*server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return &server{admin: dsn}, nil
	}
	bin, err := findBinDir("/usr/lib/postgresql", os.Getenv("PATH"))
	if err != nil {
		return nil, err
	}
	s := &server{bin: bin}
	if s.dir, err = os.MkdirTemp("", "nautilus-pg-*"); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if err := s.runAsPostgres(); err != nil {
			os.RemoveAll(s.dir)
			return nil, err
		}
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// A free port can be taken between finding it and the server binding
	// it; then start again on another.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(s.dir)
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", port, s.dir)
		// -w waits until the server accepts connections (pg_ctl polls it).
		out, err := s.command("pg_ctl", "-D", data, "-l", filepath.Join(s.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			s.admin = fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", port)
			return s, nil
		}
		if attempt == 3 {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			os.RemoveAll(s.dir)
			return nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
		}
	}
}

// runAsPostgres hands the server's directory to the postgres system user,
// which Debian's package creates, and runs the binaries as it.
func (s *server) runAsPostgres() error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, PostgreSQL needs a non-root user to run as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(s.dir, uid, gid); err != nil {
		return err
	}
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return nil
}

func (s *server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func (s *server) stop() error {
	if s.dir == "" {
		return nil // not started here
	}
	defer os.RemoveAll(s.dir)
	out, err := s.command("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// withDatabase returns dsn naming database name instead.
func withDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + name
			return u.String()
		}
	}
	return dsn + " dbname=" + name // a later keyword overrides an earlier one
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
