// Command golibvirt_faults shows how a go-libvirt client meets injected faults: an error
// reply, a call that never returns (bounded by a context deadline), a dropped connection.
// It prints one JSON object per step on stdout; the test decides what is right.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

type record map[string]interface{}

func emit(r record) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "json: %v\n", err)
		os.Exit(2)
	}
	fmt.Println(string(b))
}

func outcome(step string, err error, started time.Time, extra record) {
	r := record{"step": step, "ok": err == nil, "elapsed": time.Since(started).Seconds()}
	for k, v := range extra {
		r[k] = v
	}
	if err != nil {
		r["error"] = err.Error()
		var lerr libvirt.Error
		if errors.As(err, &lerr) {
			r["code"] = lerr.Code
			r["libvirt_error"] = true
		}
		r["interrupted"] = errors.Is(err, libvirt.ErrInterrupted)
	}
	emit(r)
}

// withDeadline runs call and returns when it does or, at the context's deadline, closes the
// connection under it: go-libvirt then fails every pending call, so nothing hangs.
func withDeadline(ctx context.Context, conn net.Conn, call func() error) error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		conn.Close()
		select {
		case err := <-done:
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(10 * time.Second):
			return errors.New("call still pending 10 s after the connection was closed")
		}
	}
}

func main() {
	unixPath := flag.String("unix", "", "unix socket of the libvirt server")
	mode := flag.String("mode", "error", "error, hang or drop")
	deadline := flag.Duration("deadline", time.Second, "context deadline for the hang mode")
	flag.Parse()

	conn, err := net.DialTimeout("unix", *unixPath, 10*time.Second)
	if err != nil {
		outcome("dial", err, time.Now(), nil)
		os.Exit(1)
	}
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	start := time.Now()
	if err := l.ConnectToURI(libvirt.TestDefault); err != nil {
		outcome("connect", err, start, nil)
		os.Exit(1)
	}
	dom, err := l.DomainLookupByName("test")
	if err != nil {
		outcome("lookup", err, start, nil)
		os.Exit(1)
	}

	switch *mode {
	case "error":
		start = time.Now()
		_, _, _, _, _, err = l.DomainGetInfo(dom)
		outcome("get_info_faulted", err, start, nil)
		start = time.Now()
		state, _, _, _, _, err := l.DomainGetInfo(dom)
		outcome("get_info_again", err, start, record{"state": state})
	case "hang":
		ctx, cancel := context.WithTimeout(context.Background(), *deadline)
		defer cancel()
		start = time.Now()
		err = withDeadline(ctx, conn, func() error {
			_, err := l.ConnectGetHostname()
			return err
		})
		outcome("hostname_with_deadline", err, start, record{
			"deadline_exceeded": errors.Is(err, context.DeadlineExceeded),
		})
	case "drop":
		start = time.Now()
		_, _, _, _, _, err = l.DomainGetInfo(dom)
		outcome("get_info_dropped", err, start, nil)
		select {
		case <-l.Disconnected():
			outcome("disconnected", nil, start, nil)
		case <-time.After(10 * time.Second):
			outcome("disconnected", errors.New("still connected"), start, nil)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", *mode)
		os.Exit(2)
	}
}
