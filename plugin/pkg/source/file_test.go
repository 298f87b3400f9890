package source

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestFileFetch reads a file of about 1 MiB whole, then reports it unchanged, then reads the
// new version that a rename puts in its place.
func TestFileFetch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "feed.txt")
	want := bytes.Repeat([]byte("192.0.2.1\n198.51.100.7/32\n"), (1<<20)/26+11) // not a power of two
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &File{Path: path}
	got, err := f.Fetch(context.Background())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Fetch: %d bytes, %v; want %d bytes", len(got), err, len(want))
	}
	if _, err := f.Fetch(context.Background()); !errors.Is(err, ErrNotModified) {
		t.Fatalf("second Fetch: %v, want ErrNotModified", err)
	}
	next := append(bytes.Clone(want), "203.0.113.9\n"...)
	if err := os.WriteFile(path+".tmp", next, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Fetch(context.Background()); err != nil || !bytes.Equal(got, next) {
		t.Fatalf("Fetch after the rename: %d bytes, %v; want %d bytes", len(got), err, len(next))
	}
	if _, err := (&File{Path: path, MaxSize: 1000}).Fetch(context.Background()); err == nil {
		t.Fatal("a file over MaxSize was read")
	}
}
