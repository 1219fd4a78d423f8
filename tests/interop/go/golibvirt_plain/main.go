// Command golibvirt_plain opens a libvirt server with go-libvirt's plain Connect() (which
// always sends qemu:///system), checks what a QEMU host answers and drives the QEMU
// program: monitor command (QMP and HMP) and guest agent command. It prints one JSON
// object per step on stdout and exits 1 when a step failed, 2 on bad usage.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

type record map[string]interface{}

var failed bool

func emit(r record) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "json: %v\n", err)
		os.Exit(2)
	}
	fmt.Println(string(b))
}

func step(name string, err error, fields record) bool {
	r := record{"step": name, "ok": err == nil}
	for k, v := range fields {
		r[k] = v
	}
	if err != nil {
		r["error"] = err.Error()
		var lerr libvirt.Error
		if errors.As(err, &lerr) {
			r["code"] = lerr.Code
		}
		failed = true
	}
	emit(r)
	return err == nil
}

func finish() {
	emit(record{"step": "summary", "ok": !failed})
	if failed {
		os.Exit(1)
	}
	os.Exit(0)
}

// decoded returns JSON text as a JSON value when it parses, else as a string.
func decoded(raw string) interface{} {
	var v interface{}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return raw
	}
	return v
}

func main() {
	host := flag.String("host", "127.0.0.1", "TCP host of the libvirt server")
	port := flag.String("port", "16509", "TCP port of the libvirt server")
	unixPath := flag.String("unix", "", "unix socket of the libvirt server (instead of TCP)")
	dom := flag.String("dom", "test", "domain for the monitor and agent commands")
	timeout := flag.Duration("timeout", 10*time.Second, "dial timeout")
	flag.Parse()

	var dialer socket.Dialer
	var target string
	if *unixPath != "" {
		dialer = dialers.NewLocal(dialers.WithSocket(*unixPath), dialers.WithLocalTimeout(*timeout))
		target = "unix:" + *unixPath
	} else {
		dialer = dialers.NewRemote(*host, dialers.UsePort(*port), dialers.WithRemoteTimeout(*timeout))
		target = "tcp:" + net.JoinHostPort(*host, *port)
	}
	l := libvirt.NewWithDialer(dialer)
	if !step("connect", l.Connect(), record{"target": target}) {
		finish()
	}

	uri, err := l.ConnectGetUri()
	step("uri", err, record{"uri": uri})
	typ, err := l.ConnectGetType()
	step("type", err, record{"type": typ})
	ver, err := l.ConnectGetVersion()
	step("version", err, record{"version": ver})
	caps, err := l.ConnectGetCapabilities()
	step("capabilities", err, record{
		"kvm":  strings.Contains(caps, "<domain type='kvm'/>"),
		"qemu": strings.Contains(caps, "<domain type='qemu'/>"),
	})

	d, err := l.DomainLookupByName(*dom)
	if step("lookup", err, record{"name": d.Name, "id": d.ID}) {
		out, err := l.QEMUDomainMonitorCommand(d, `{"execute":"query-status"}`, 0)
		step("monitor_qmp", err, record{"result": decoded(out)})
		out, err = l.QEMUDomainMonitorCommand(d, "info status", 1)
		step("monitor_hmp", err, record{"result": out})
		res, err := l.QEMUDomainAgentCommand(d, `{"execute":"guest-ping"}`, -1, 0)
		fields := record{}
		if len(res) > 0 {
			fields["result"] = decoded(res[0])
		}
		step("agent_ping", err, fields)
	}

	step("disconnect", l.Disconnect(), nil)
	finish()
}
