// Package feedcache keeps the last good body of each feed on disk, so that a restart serves the last data
// at once, before the first fetch and whether or not the sources can be reached. A file is written to a
// temporary name, synced and renamed, so a crash leaves the old file or the new one, never half of one;
// a checksum over the body detects a file damaged any other way, which is then ignored.
//
// File layout: one header line `threatstop-feed-cache 1 <sha256 hex> <body length>`, one line of JSON
// metadata, then the body bytes exactly as fetched.
package feedcache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const magic = "threatstop-feed-cache 1"

// ErrNone means there is no cache file for the feed.
var ErrNone = errors.New("no cached version")

// Meta describes a cached body.
type Meta struct {
	Feed       string            `json:"feed"`
	Source     string            `json:"source"` // the source as configured when it was written
	Format     string            `json:"format"`
	Fetched    time.Time         `json:"fetched"`
	Validators map[string]string `json:"validators,omitempty"` // e.g. HTTP ETag, for a conditional first fetch
}

// Dir is a cache directory.
type Dir struct{ Path string }

func (d Dir) file(feed string) string { return filepath.Join(d.Path, feed+".feed") }

// Save writes body as the cached version of m.Feed, atomically.
func (d Dir) Save(m Meta, body []byte) error {
	if err := os.MkdirAll(d.Path, 0o750); err != nil {
		return err
	}
	head, err := header(m, body)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.Path, "."+m.Feed+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	w := bufio.NewWriter(tmp)
	w.Write(head)
	w.Write(body)
	if err := w.Flush(); err != nil {
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
	if err := os.Rename(tmp.Name(), d.file(m.Feed)); err != nil {
		return err
	}
	// Make the rename itself durable.
	if dir, err := os.Open(d.Path); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// header is what precedes body in the file of m: the header line and the metadata line.
func header(m Meta, body []byte) ([]byte, error) {
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return fmt.Appendf(nil, "%s %s %d\n%s\n", magic, hex.EncodeToString(sum[:]), len(body), meta), nil
}

// Load reads the cached version of feed. It returns ErrNone when there is none, and an error describing
// the damage when the file is not a complete, intact cache file.
func (d Dir) Load(feed string) (Meta, []byte, error) {
	data, err := os.ReadFile(d.file(feed))
	if errors.Is(err, os.ErrNotExist) {
		return Meta{}, nil, ErrNone
	}
	if err != nil {
		return Meta{}, nil, err
	}
	m, body, err := parse(data)
	if err != nil {
		return Meta{}, nil, fmt.Errorf("%s: %w", d.file(feed), err)
	}
	return m, body, nil
}

// parse reads the content of a cache file.
func parse(data []byte) (Meta, []byte, error) {
	head, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || !strings.HasPrefix(string(head), magic+" ") {
		return Meta{}, nil, errors.New("not a feed cache file")
	}
	f := strings.Fields(strings.TrimPrefix(string(head), magic+" "))
	if len(f) != 2 {
		return Meta{}, nil, errors.New("bad header")
	}
	want, err := hex.DecodeString(f[0])
	n, err2 := strconv.Atoi(f[1])
	if err != nil || err2 != nil || len(want) != sha256.Size {
		return Meta{}, nil, errors.New("bad header")
	}
	metaLine, body, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return Meta{}, nil, errors.New("truncated")
	}
	var m Meta
	if err := json.Unmarshal(metaLine, &m); err != nil {
		return Meta{}, nil, fmt.Errorf("bad metadata: %v", err)
	}
	if len(body) != n {
		return Meta{}, nil, fmt.Errorf("body has %d bytes, header says %d", len(body), n)
	}
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], want) {
		return Meta{}, nil, errors.New("checksum mismatch")
	}
	return m, body, nil
}

// Remove deletes the cached version of feed, if any.
func (d Dir) Remove(feed string) error {
	err := os.Remove(d.file(feed))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
