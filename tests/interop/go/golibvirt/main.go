// Command golibvirt drives a libvirt server with the go-libvirt client library and
// prints one JSON object per step on stdout. It exits 1 when a step that should have
// worked did not, and 2 on bad usage.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
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
		addCode(r, err)
		failed = true
	}
	emit(r)
	return err == nil
}

// expectError records a step that must fail with a libvirt error.
func expectError(name string, err error, fields record) {
	r := record{"step": name, "ok": err != nil}
	for k, v := range fields {
		r[k] = v
	}
	if err == nil {
		r["error"] = "expected an error, got none"
		failed = true
	} else {
		r["message"] = err.Error()
		addCode(r, err)
	}
	emit(r)
}

func addCode(r record, err error) {
	var lerr libvirt.Error
	if errors.As(err, &lerr) {
		r["code"] = lerr.Code
		r["libvirt_error"] = true
	} else {
		r["libvirt_error"] = false
	}
	r["not_found"] = libvirt.IsNotFound(err)
}

func domRecord(d libvirt.Domain) record {
	return record{"name": d.Name, "id": d.ID, "uuid": hex.EncodeToString(d.UUID[:])}
}

func domList(ds []libvirt.Domain) []record {
	out := make([]record, 0, len(ds))
	for _, d := range ds {
		out = append(out, domRecord(d))
	}
	return out
}

func state(l *libvirt.Libvirt, name string, d libvirt.Domain) (int32, bool) {
	st, reason, err := l.DomainGetState(d, 0)
	return st, step(name, err, record{"state": st, "reason": reason})
}

func main() {
	host := flag.String("host", "127.0.0.1", "TCP host of the libvirt server")
	port := flag.String("port", "16509", "TCP port of the libvirt server")
	unixPath := flag.String("unix", "", "unix socket of the libvirt server (instead of TCP)")
	uri := flag.String("uri", string(libvirt.TestDefault), "driver URI sent in CONNECT_OPEN")
	plain := flag.Bool("plain-connect", false, "use Connect() (opens qemu:///system) instead of ConnectToURI")
	dom := flag.String("dom", "test", "domain to look up and cycle")
	missing := flag.String("missing", "no-such-domain", "domain name that must not exist")
	cycle := flag.Bool("cycle", true, "destroy and re-create the domain (restores its state afterwards)")
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

	var err error
	openedURI := *uri
	if *plain {
		openedURI = string(libvirt.QEMUSystem)
		err = l.Connect()
	} else {
		err = l.ConnectToURI(libvirt.ConnectURI(*uri))
	}
	if !step("connect", err, record{"target": target, "uri": openedURI, "plain": *plain}) {
		emit(record{"step": "summary", "ok": false})
		os.Exit(1)
	}

	ver, err := l.ConnectGetLibVersion()
	step("lib_version", err, record{"version": ver})

	doms, err := l.Domains()
	step("domains", err, record{"domains": domList(doms)})

	all, ret, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive|libvirt.ConnectListDomainsInactive)
	step("list_all_domains", err, record{"domains": domList(all), "ret": ret})

	d, err := l.DomainLookupByName(*dom)
	if step("lookup", err, record{"domain": domRecord(d)}) {
		st, ok := state(l, "state", d)
		if ok && *cycle {
			if st == int32(libvirt.DomainRunning) || st == int32(libvirt.DomainPaused) {
				step("destroy", l.DomainDestroy(d), nil)
				state(l, "state_after_destroy", d)
				step("create", l.DomainCreate(d), nil)
				state(l, "state_after_create", d)
			} else {
				step("create", l.DomainCreate(d), nil)
				state(l, "state_after_create", d)
				step("destroy", l.DomainDestroy(d), nil)
				state(l, "state_after_destroy", d)
			}
		}
		byUUID, err := l.DomainLookupByUUID(d.UUID)
		step("lookup_by_uuid", err, record{"domain": domRecord(byUUID)})
	}

	_, err = l.DomainLookupByName(*missing)
	expectError("lookup_missing", err, record{"name": *missing})

	err = l.Disconnect()
	step("disconnect", err, nil)

	emit(record{"step": "summary", "ok": !failed})
	if failed {
		os.Exit(1)
	}
}
