// Command goqemu drives a QMP endpoint with go-qemu's qmp package and prints one JSON
// object per step on stdout.
//
// -mode socket: qmp.NewSocketMonitor on a QMP unix (or TCP) socket.
// -mode libvirt: qmp.NewLibvirtRPCMonitor over a go-libvirt connection; go-qemu calls
// go-libvirt's Connect(), which always opens qemu:///system.
//
// Exit status: 0 all steps worked, 1 a step failed, 2 bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

type record map[string]interface{}

var (
	failed bool
	outMu  sync.Mutex
)

func emit(r record) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "json: %v\n", err)
		os.Exit(2)
	}
	outMu.Lock()
	fmt.Println(string(b))
	outMu.Unlock()
}

func step(name string, err error, fields record) bool {
	r := record{"step": name, "ok": err == nil}
	for k, v := range fields {
		r[k] = v
	}
	if err != nil {
		r["error"] = err.Error()
		failed = true
	}
	emit(r)
	return err == nil
}

// decoded returns raw QMP/JSON output as a JSON value when it parses, else as a string.
func decoded(raw []byte) interface{} {
	var v interface{}
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return v
}

func finish() {
	emit(record{"step": "summary", "ok": !failed})
	if failed {
		os.Exit(1)
	}
	os.Exit(0)
}

func main() {
	mode := flag.String("mode", "socket", "socket (QMP socket) or libvirt (QMP over libvirt RPC)")
	qmpPath := flag.String("qmp", "", "socket mode: QMP unix socket path")
	qmpTCP := flag.String("qmp-tcp", "", "socket mode: QMP TCP address host:port (instead of -qmp)")
	host := flag.String("host", "127.0.0.1", "libvirt mode: TCP host of the libvirt server")
	port := flag.String("port", "16509", "libvirt mode: TCP port of the libvirt server")
	unixPath := flag.String("unix", "", "libvirt mode: unix socket of the libvirt server (instead of TCP)")
	dom := flag.String("dom", "test", "libvirt mode: domain name")
	cmd := flag.String("cmd", `{"execute":"query-status"}`, "QMP command to Run")
	withFile := flag.Bool("with-file", false, "socket mode: also RunWithFile, passing a temp file descriptor")
	fileCmd := flag.String("file-cmd", `{"execute":"getfd","arguments":{"fdname":"netrpc-fd"}}`, "command for RunWithFile")
	eventSecs := flag.Float64("events", 0, "listen for events for this many seconds (0: skip)")
	maxEvents := flag.Int("max-events", 0, "stop listening after this many events (0: no limit)")
	trigger := flag.String("trigger", "", "QMP command to Run after subscribing to events")
	timeout := flag.Duration("timeout", 10*time.Second, "dial timeout")
	flag.Parse()

	var mon qmp.Monitor
	switch *mode {
	case "socket":
		network, addr := "unix", *qmpPath
		if *qmpTCP != "" {
			network, addr = "tcp", *qmpTCP
		}
		if addr == "" {
			fmt.Fprintln(os.Stderr, "socket mode needs -qmp PATH or -qmp-tcp HOST:PORT")
			os.Exit(2)
		}
		sm, err := qmp.NewSocketMonitor(network, addr, *timeout)
		if !step("dial", err, record{"network": network, "addr": addr}) {
			finish()
		}
		err = sm.Connect()
		fields := record{"mode": "socket"}
		if err == nil {
			fields["version"] = sm.Version.String()
			fields["package"] = sm.Version.Package
			fields["capabilities"] = sm.Capabilities
		}
		if !step("connect", err, fields) {
			finish()
		}
		mon = sm
		emit(record{"step": "features", "run_with_file": true, "libvirt_rpc_monitor": true})
		if *withFile {
			f, ferr := os.CreateTemp("", "goqemu-fd-")
			if ferr != nil {
				step("run_with_file", ferr, nil)
			} else {
				out, rerr := sm.RunWithFile([]byte(*fileCmd), f)
				step("run_with_file", rerr, record{"command": *fileCmd, "response": decoded(out)})
				f.Close()
				os.Remove(f.Name())
			}
		}
	case "libvirt":
		network, addr := "tcp", net.JoinHostPort(*host, *port)
		if *unixPath != "" {
			network, addr = "unix", *unixPath
		}
		conn, err := net.DialTimeout(network, addr, *timeout)
		if !step("dial", err, record{"network": network, "addr": addr}) {
			finish()
		}
		lm := qmp.NewLibvirtRPCMonitor(*dom, conn)
		err = lm.Connect()
		fields := record{"mode": "libvirt", "uri": "qemu:///system", "domain": *dom}
		if err != nil {
			fields["hint"] = "go-qemu's libvirt monitor opens qemu:///system; the server must accept that URI and the QEMU program"
		}
		if !step("connect", err, fields) {
			conn.Close()
			finish()
		}
		mon = lm
	default:
		fmt.Fprintf(os.Stderr, "unknown -mode %q\n", *mode)
		os.Exit(2)
	}

	out, err := mon.Run([]byte(*cmd))
	step("run", err, record{"command": *cmd, "response": decoded(out)})

	if *eventSecs > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*eventSecs*float64(time.Second)))
		events, err := mon.Events(ctx)
		if step("events_subscribe", err, nil) {
			var wg sync.WaitGroup
			count := 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case e, ok := <-events:
						if !ok {
							return
						}
						count++
						emit(record{
							"step":  "event",
							"event": e.Event,
							"data":  e.Data,
							"ts":    []int64{e.Timestamp.Seconds, e.Timestamp.Microseconds},
						})
						if *maxEvents > 0 && count >= *maxEvents {
							cancel()
							return
						}
					}
				}
			}()
			if strings.TrimSpace(*trigger) != "" {
				tout, terr := mon.Run([]byte(*trigger))
				step("trigger", terr, record{"command": *trigger, "response": decoded(tout)})
			}
			wg.Wait()
			// keep the monitor's reader unblocked until Disconnect
			go func() {
				for range events {
				}
			}()
			emit(record{"step": "events_done", "ok": true, "count": count})
		}
		cancel()
	}

	step("disconnect", mon.Disconnect(), nil)
	finish()
}
