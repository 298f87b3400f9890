package threatlog

import (
	"encoding/base64"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/shared"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// stores are the open log databases, shared by the instances of a reload.
var stores = shared.New(logstore.Open)

func decodeSecret(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// entryStrings lists the entries of list id as strings: prefixes, names, and *.names.
func entryStrings(s *snapshot.Snapshot, id int) []string {
	e := s.Entries(id)
	out := make([]string, 0, e.Len())
	for _, v := range e.V4 {
		out = append(out, entryset.UnpackV4(v).String())
	}
	for _, v := range e.V6 {
		out = append(out, v.Prefix().String())
	}
	for _, n := range e.Names.All() {
		out = append(out, n)
	}
	for _, n := range e.Wildcards.All() {
		out = append(out, "*."+n)
	}
	return out
}

// prefixString writes a single address as itself and a shorter prefix in CIDR form.
func prefixString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}
