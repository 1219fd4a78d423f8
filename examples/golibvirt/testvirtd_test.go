// Package example tests go-libvirt code against testvirtd: `go test` starts the daemon on a
// private unix socket, runs the tests against it and stops it.
//
//	TESTVIRTD="python3 -m daemons.testvirtd" go test ./...   # or testvirtd on PATH
package example

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

var socketPath string

// daemon is a running testvirtd and where it listens.
type daemon struct {
	cmd    *exec.Cmd
	dir    string
	socket string
}

// startTestvirtd runs $TESTVIRTD (e.g. "python3 -m daemons.testvirtd"), else testvirtd from
// PATH, on a unix socket in a new directory, and waits until it prints "ready".
func startTestvirtd(extra ...string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "testvirtd-go-")
	if err != nil {
		return nil, err
	}
	d := &daemon{dir: dir, socket: filepath.Join(dir, "libvirt-sock")}
	argv := strings.Fields(os.Getenv("TESTVIRTD"))
	if len(argv) == 0 {
		argv = []string{"testvirtd"}
	}
	args := append(argv[1:], "--listen", "unix://"+d.socket, "--no-admin",
		"--qmp-dir", "none", "--keep-state")
	d.cmd = exec.Command(argv[0], append(args, extra...)...)
	d.cmd.Stderr = os.Stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if lines.Text() == "ready" {
			go io.Copy(io.Discard, stdout)
			return d, nil
		}
	}
	d.stop()
	return nil, errors.New("testvirtd exited before it was ready")
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	os.RemoveAll(d.dir)
}

func TestMain(m *testing.M) {
	d, err := startTestvirtd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	socketPath = d.socket
	code := m.Run()
	d.stop()
	os.Exit(code)
}

func connect(t *testing.T, socket string) *libvirt.Libvirt {
	t.Helper()
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket)))
	if err := l.ConnectToURI(libvirt.TestDefault); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { l.Disconnect() })
	return l
}

func TestDefaultDomainRuns(t *testing.T) {
	l := connect(t, socketPath)
	dom, err := l.DomainLookupByName("test")
	if err != nil {
		t.Fatal(err)
	}
	state, _, _, _, _, err := l.DomainGetInfo(dom)
	if err != nil || state != uint8(libvirt.DomainRunning) {
		t.Fatalf("state %d, err %v", state, err)
	}
}

func TestDefineStartUndefine(t *testing.T) {
	l := connect(t, socketPath)
	dom, err := l.DomainDefineXML(`<domain type='test'><name>go-vm</name>` +
		`<memory>65536</memory><os><type>hvm</type></os></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DomainCreate(dom); err != nil {
		t.Fatal(err)
	}
	state, _, err := l.DomainGetState(dom, 0)
	if err != nil || state != int32(libvirt.DomainRunning) {
		t.Fatalf("state %d, err %v", state, err)
	}
	if err := l.DomainDestroy(dom); err != nil {
		t.Fatal(err)
	}
	if err := l.DomainUndefine(dom); err != nil {
		t.Fatal(err)
	}
}

// Faults apply to every client of a daemon: a test that wants one starts its own.
func TestErrorsReachTheCaller(t *testing.T) {
	d, err := startTestvirtd("--fault", "DOMAIN_GET_INFO:error=1/10/injected failure,times=1")
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	l := connect(t, d.socket)
	dom, err := l.DomainLookupByName("test")
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _, _, err = l.DomainGetInfo(dom)
	var lerr libvirt.Error
	if !errors.As(err, &lerr) || lerr.Code != 1 || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("want the injected error, got %v", err)
	}
	if _, _, _, _, _, err = l.DomainGetInfo(dom); err != nil {
		t.Fatalf("the second call should work: %v", err)
	}
}

// go-libvirt calls take no context: bound one by closing the connection at the deadline,
// which makes go-libvirt fail every pending call.
func TestHungCallEndsAtItsDeadline(t *testing.T) {
	d, err := startTestvirtd("--fault", "CONNECT_GET_HOSTNAME:hang")
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	conn, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	if err := l.ConnectToURI(libvirt.TestDefault); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := l.ConnectGetHostname(); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("the hung call returned early: %v", err)
	case <-ctx.Done():
		conn.Close()
	}
	if err := <-done; !errors.Is(err, libvirt.ErrInterrupted) {
		t.Fatalf("want ErrInterrupted, got %v", err)
	}
}
