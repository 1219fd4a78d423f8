// Command golibvirt_snapshots drives snapshots, checkpoints, save images, managed save,
// core dumps and the screenshot stream of a libvirt server with the go-libvirt client
// library and prints one JSON object per step on stdout (results, or libvirt errors with
// their code and message). Creation times in XML are replaced by "T": they are the
// server's clock. It exits 2 on bad usage or when it cannot connect.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

type record map[string]interface{}

var creation = regexp.MustCompile(`<creationTime>\d+</creationTime>`)

func emit(r record) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "json: %v\n", err)
		os.Exit(2)
	}
	fmt.Println(string(b))
}

// step records a result, or the libvirt error (code and message) a call returned.
func step(name string, err error, value interface{}) {
	r := record{"step": name}
	if err != nil {
		var lerr libvirt.Error
		if errors.As(err, &lerr) {
			r["error"] = []interface{}{lerr.Code, lerr.Message}
		} else {
			r["error"] = err.Error()
		}
	} else {
		r["value"] = value
	}
	emit(r)
}

func masked(xml string) string { return creation.ReplaceAllString(xml, "<creationTime>T</creationTime>") }

func snapNames(snaps []libvirt.DomainSnapshot) []string {
	out := make([]string, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, s.Name)
	}
	return out
}

func main() {
	unixPath := flag.String("unix", "", "unix socket of the libvirt server")
	dir := flag.String("dir", "", "a directory both the server and this program can use")
	flag.Parse()
	if *unixPath == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: golibvirt_snapshots -unix SOCKET -dir DIR")
		os.Exit(2)
	}
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(*unixPath),
		dialers.WithLocalTimeout(10*time.Second)))
	if err := l.ConnectToURI(libvirt.TestDefault); err != nil {
		fmt.Fprintf(os.Stderr, "connect: %v\n", err)
		os.Exit(2)
	}
	defer l.Disconnect()

	d, err := l.DomainLookupByName("test")
	step("lookup", err, d.Name)

	// snapshots
	s1, err := l.DomainSnapshotCreateXML(d, "<domainsnapshot><name>g1</name></domainsnapshot>", 0)
	step("create g1", err, s1.Name)
	s2, err := l.DomainSnapshotCreateXML(d, "<domainsnapshot><name>g2</name></domainsnapshot>", 0)
	step("create g2", err, s2.Name)
	_, err = l.DomainSnapshotCreateXML(d, "<domainsnapshot><name>g3</name></domainsnapshot>",
		uint32(libvirt.DomainSnapshotCreateNoMetadata))
	step("create no metadata", err, nil)
	xml, err := l.DomainSnapshotGetXMLDesc(s1, 0)
	step("g1 xml", err, masked(xml))
	num, err := l.DomainSnapshotNum(d, 0)
	step("num", err, num)
	names, err := l.DomainSnapshotListNames(d, num, 0)
	sort.Strings(names)
	step("list names", err, names)
	snaps, ret, err := l.DomainListAllSnapshots(d, 1, uint32(libvirt.DomainSnapshotListTopological))
	step("list all topological", err, record{"names": snapNames(snaps), "ret": ret})
	_, ret, err = l.DomainListAllSnapshots(d, 0, 0)
	step("list all count", err, ret)
	children, ret, err := l.DomainSnapshotListAllChildren(s1, 1, 0)
	step("g1 children", err, record{"names": snapNames(children), "ret": ret})
	parent, err := l.DomainSnapshotGetParent(s2, 0)
	step("g2 parent", err, parent.Name)
	_, err = l.DomainSnapshotGetParent(s1, 0)
	step("g1 parent", err, nil)
	cur, err := l.DomainSnapshotCurrent(d, 0)
	step("current", err, cur.Name)
	isCur, err := l.DomainSnapshotIsCurrent(s1, 0)
	step("g1 is current", err, isCur)
	step("revert g1", l.DomainRevertToSnapshot(s1, 0), nil)
	step("revert both flags", l.DomainRevertToSnapshot(s1, 3), nil)
	step("delete g1 children", l.DomainSnapshotDelete(s1, libvirt.DomainSnapshotDeleteChildren), nil)
	_, err = l.DomainSnapshotLookupByName(d, "g2", 0)
	step("lookup g2 after", err, nil)

	// checkpoints
	c1, err := l.DomainCheckpointCreateXML(d, "<domaincheckpoint><name>k1</name></domaincheckpoint>", 0)
	step("checkpoint k1", err, c1.Name)
	c2, err := l.DomainCheckpointCreateXML(d, "<domaincheckpoint><name>k2</name></domaincheckpoint>", 0)
	step("checkpoint k2", err, c2.Name)
	xml, err = l.DomainCheckpointGetXMLDesc(c2, uint32(libvirt.DomainCheckpointXMLNoDomain))
	step("k2 xml", err, masked(xml))
	chks, ret, err := l.DomainListAllCheckpoints(d, 1, uint32(libvirt.DomainCheckpointListTopological))
	names = nil
	for _, c := range chks {
		names = append(names, c.Name)
	}
	step("checkpoints", err, record{"names": names, "ret": ret})
	cpar, err := l.DomainCheckpointGetParent(c2, 0)
	step("k2 parent", err, cpar.Name)
	step("delete k1 children", l.DomainCheckpointDelete(c1, libvirt.DomainCheckpointDeleteChildren), nil)

	// saving
	image := filepath.Join(*dir, "go.img")
	step("save", l.DomainSaveFlags(d, image, nil, 0), nil)
	step("save dxml", l.DomainSaveFlags(d, image, libvirt.OptString{"<domain/>"}, 0), nil)
	xml, err = l.DomainSaveImageGetXMLDesc(image, 0)
	step("image xml", err, xml)
	step("restore", l.DomainRestore(image), nil)
	st, reason, err := l.DomainGetState(d, 0)
	step("state after restore", err, []int32{st, reason})
	step("managed save", l.DomainManagedSave(d, 0), nil)
	has, err := l.DomainHasManagedSaveImage(d, 0)
	step("has managed save", err, has)
	step("start", l.DomainCreate(d), nil)
	step("dump kdump", l.DomainCoreDumpWithFormat(d, filepath.Join(*dir, "go.core"), 1, 0), nil)
	step("dump crash", l.DomainCoreDumpWithFormat(d, filepath.Join(*dir, "go.core"), 0,
		libvirt.DomainCoreDumpFlags(libvirt.DumpCrash)), nil)
	st, reason, err = l.DomainGetState(d, 0)
	step("state after crash", err, []int32{st, reason})

	// the screenshot stream
	var image2 bytes.Buffer
	mime, err := l.DomainScreenshot(d, &image2, 0, 0)
	sum := sha256.Sum256(image2.Bytes())
	step("screenshot", err, record{"mime": mime, "size": image2.Len(),
		"sha256": hex.EncodeToString(sum[:])})
}
