// Package source fetches the bytes of a feed. A Source remembers what it fetched last and answers
// ErrNotModified when nothing changed, so a feed that is polled often costs a stat or a conditional
// request, not a parse. Parsers never see where bytes came from, so a new kind of source (HTTP, a zone
// transfer) needs no change to any format.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
)

// ErrNotModified is returned by Fetch when the feed has not changed since the last successful Fetch.
var ErrNotModified = errors.New("not modified")

// DefaultMaxSize bounds a feed body, so that a runaway file or server cannot exhaust memory.
const DefaultMaxSize = 256 << 20

// Source yields the current body of one feed.
type Source interface {
	// Fetch returns the whole body, or ErrNotModified when it is known to be unchanged since the last
	// call that returned a body. Fetch is never called concurrently for one Source.
	Fetch(ctx context.Context) ([]byte, error)
	// String names the source in logs, e.g. "file /var/lib/feeds/drop.txt".
	String() string
}

// Revalidator is implemented by sources that can ask "changed since?" across restarts: the validators of
// the last body fetched (an HTTP ETag and Last-Modified, for example) are saved with the cached body and
// restored at start-up, so the first fetch after a restart can be answered "not modified".
type Revalidator interface {
	Validators() map[string]string
	SetValidators(map[string]string)
}

// Redact returns a URL for logs and status pages: no user information, no query string (either may hold
// an API key).
func Redact(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "…"
	}
	c.Fragment = ""
	return c.String()
}

// File reads a local file. A change is noticed by its size, modification time or identity (a file
// replaced by rename is a new file), and a file that changes while being read is retried later rather
// than parsed half-written.
type File struct {
	Path    string
	MaxSize int64 // 0 means DefaultMaxSize

	last os.FileInfo
}

func (f *File) String() string { return "file " + f.Path }

// Fetch implements Source.
func (f *File) Fetch(context.Context) ([]byte, error) {
	before, err := os.Stat(f.Path)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", f.Path)
	}
	if f.last != nil && sameVersion(f.last, before) {
		return nil, ErrNotModified
	}
	limit := f.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	if before.Size() > limit {
		return nil, fmt.Errorf("%s has %d bytes, more than the limit of %d", f.Path, before.Size(), limit)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// Read exactly the size stat gave, plus one byte to notice growth: no doubling buffer, no copy.
	data := make([]byte, before.Size()+1)
	n, err := io.ReadFull(fh, data)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
	case err != nil:
		return nil, err
	}
	data = data[:n]
	opened, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	after, err := os.Stat(f.Path)
	if err != nil || !sameVersion(before, opened) || !sameVersion(before, after) || int64(len(data)) != before.Size() {
		return nil, fmt.Errorf("%s changed while being read; will read it again", f.Path)
	}
	f.last = before
	return data, nil
}

func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
