package threatlog

import (
	"encoding/base64"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// A database outlives a Corefile reload: the new instance opens it before the old one closes it, and
// bbolt locks the file, so open databases are shared per path with a count of their users.
type sharedStore struct {
	*logstore.Store
	path  string
	users int // guarded by storesMu
}

var (
	storesMu sync.Mutex
	stores   = map[string]*sharedStore{}
)

func openStore(path string) (*sharedStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	storesMu.Lock()
	defer storesMu.Unlock()
	s := stores[abs]
	if s == nil {
		st, err := logstore.Open(abs)
		if err != nil {
			return nil, err
		}
		s = &sharedStore{Store: st, path: abs}
		stores[abs] = s
	}
	s.users++
	return s, nil
}

func (s *sharedStore) release() {
	storesMu.Lock()
	defer storesMu.Unlock()
	if s.users--; s.users == 0 {
		delete(stores, s.path)
		if err := s.Close(); err != nil {
			log.Errorf("close %s: %v", s.path, err)
		}
	}
}

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
