package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("threatstop")

// A reload builds a new Store and a restart a new process; neither may cost the secondaries a transfer
// of what did not change (a zone of a million records, for a serial that moved for nothing). The
// registry remembers the last serial and content sum of every policy and zone by its identity, for the
// whole process, and a Store with a serial file (Persist) writes them beside the feed cache for the next
// start.
var (
	processSerials = &registry{recs: map[regKey]record{}}
	storeGen       atomic.Uint64
)

type registry struct {
	mu   sync.Mutex
	recs map[regKey]record
}

// A regKey is the first half of the SHA-256 of an identity ("policy BLOCK NAME", "zone BLOCK"), and a
// record keeps the first half of a content sum: with 10,000 policies the registry is one of the costs
// of each, and 128 bits tell contents apart as well as 256 here (no one chooses them to collide).
type (
	regKey [16]byte
	regSum [16]byte
)

type record struct {
	Serial uint32
	Sum    regSum
	gen    uint64 // the Store that wrote it; 0: read from a file
}

func keyOf(identity string) regKey {
	d := sha256.Sum256([]byte(identity))
	return regKey(d[:16])
}

func sumOf(sum [sha256.Size]byte) regSum { return regSum(sum[:16]) }

func policyKey(b *Block, name string) regKey { return keyOf("policy " + b.Key + " " + name) }
func zoneKey(b *Block) regKey                { return keyOf("zone " + b.Key) }

// serial returns the serial for key with content sum: the remembered one when the content is the same,
// a later one when it is not, now when nothing is remembered.
func (r *registry) serial(key regKey, full [sha256.Size]byte, now uint32) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.recs[key]
	sum := sumOf(full)
	switch {
	case !ok:
		return now
	case rec.Sum == sum:
		return rec.Serial
	default:
		return NextSerial(rec.Serial, now)
	}
}

// remember records next's serials in the registry, unless a newer Store has taken a key over (the old
// configuration of a reload keeps refreshing until it stops), and writes the serial file when one is set
// and a serial changed. Only what moved since prev (the last State this Store remembered, or nil) is
// looked at: with thousands of policies, a refresh or an edit changes a few.
func (st *Store) remember(prev, next *State) {
	r := st.reg
	r.mu.Lock()
	dirty := false
	put := func(key regKey, serial uint32, full [sha256.Size]byte) {
		sum := sumOf(full)
		old, ok := r.recs[key]
		if ok && old.gen > st.gen {
			return
		}
		if !ok || old.Serial != serial || old.Sum != sum || old.gen != st.gen {
			dirty = dirty || !ok || old.Serial != serial || old.Sum != sum
			r.recs[key] = record{Serial: serial, Sum: sum, gen: st.gen}
		}
	}
	for _, p := range next.Policies {
		i := p.Index
		if prev != nil && i < len(prev.Policies) && prev.Policies[i].Name == p.Name && prev.Policies[i].Block == p.Block && prev.Blocks[p.Block].Key == next.Blocks[p.Block].Key &&
			prev.Serials[i] == next.Serials[i] && prev.Sums[i] == next.Sums[i] {
			continue
		}
		put(policyKey(next.Blocks[p.Block], p.Name), next.Serials[i], next.Sums[i])
	}
	for _, b := range next.Blocks {
		if prev != nil && b.Index < len(prev.ZoneSerials) && prev.ZoneSerials[b.Index] == next.ZoneSerials[b.Index] && prev.Blocks[b.Index].Key == b.Key {
			continue
		}
		put(zoneKey(b), next.ZoneSerials[b.Index], blockSum(b, next.Sums))
	}
	var file map[string]fileRecord
	if st.file != "" && (dirty || !st.written) {
		file = map[string]fileRecord{}
		for key, rec := range r.recs {
			if rec.gen == st.gen {
				file[hex.EncodeToString(key[:])] = fileRecord{Serial: rec.Serial, Sum: hex.EncodeToString(rec.Sum[:])}
			}
		}
	}
	r.mu.Unlock()
	if file != nil {
		if err := writeSerials(st.file, file); err != nil {
			log.Warningf("serials not saved: %v", err)
		} else {
			st.written = true
		}
	}
}

type fileRecord struct {
	Serial uint32 `json:"serial"`
	Sum    string `json:"sum"`
}

// serialFile is the file: keys and sums as hex of their halves (a file of an earlier version, with
// identities and whole sums, reads as well).
type serialFile struct {
	Serials map[string]fileRecord `json:"serials"`
}

// Persist makes the Store keep its serials in path (beside the feed cache) and takes over those already
// there for keys the process does not remember yet (the first start of a process). It is called while
// the Corefile is parsed, before the first State. A damaged file is ignored: serials then start from the
// current time, as on a first start, and secondaries transfer the zones once.
func (st *Store) Persist(path string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.file = path
	b, err := os.ReadFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			log.Warningf("serials: %v", err)
		}
		return
	}
	var f serialFile
	if err := json.Unmarshal(b, &f); err != nil {
		log.Warningf("serials: %s: %v; starting afresh", path, err)
		return
	}
	r := st.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, fr := range f.Serials {
		sum, err := hex.DecodeString(fr.Sum)
		if err != nil || len(sum) != len(regSum{}) && len(sum) != sha256.Size {
			continue
		}
		rec := record{Serial: fr.Serial, Sum: regSum(sum[:16])}
		key := keyOf(name) // an identity, as an earlier version wrote it
		if k, err := hex.DecodeString(name); err == nil && len(k) == len(regKey{}) {
			key = regKey(k)
		}
		if _, ok := r.recs[key]; !ok {
			r.recs[key] = rec
		}
	}
}

// writeSerials writes the file atomically: a temporary file, synced, renamed over the old one.
func writeSerials(path string, recs map[string]fileRecord) error {
	b, err := json.MarshalIndent(serialFile{Serials: recs}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".serials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
