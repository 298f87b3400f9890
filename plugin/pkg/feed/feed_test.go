package feed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/source"
)

func newFeed(t *testing.T, body string) (*Feed, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feed.txt")
	write(t, path, body)
	p, err := format.New("plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Feed{Name: "f", Category: "c", Source: &source.File{Path: path}, Parser: p}, path
}

// write replaces the file the way feed publishers do: a temporary file renamed over the old one.
func write(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func update(t *testing.T, f *Feed) (bool, error) {
	t.Helper()
	changed, _, err := f.Update(context.Background())
	return changed, err
}

func entries(f *Feed) int { return f.Content().Set.Len() }

func TestUpdate(t *testing.T) {
	f, path := newFeed(t, "192.0.2.1\n198.51.100.0/24\nbad.example\n")
	if changed, err := update(t, f); !changed || err != nil {
		t.Fatalf("first load: changed=%v err=%v", changed, err)
	}
	if entries(f) != 3 || f.Content().Version != 1 {
		t.Fatalf("first load: %d entries, version %d", entries(f), f.Content().Version)
	}
	if changed, err := update(t, f); changed || err != nil {
		t.Fatalf("unchanged file: changed=%v err=%v", changed, err)
	}

	// The same entries in other bytes keep the version; other entries make a new one.
	write(t, path, "# reordered\nbad.example\n198.51.100.0/24\n192.0.2.1\n")
	if changed, err := update(t, f); changed || err != nil || f.Content().Version != 1 {
		t.Fatalf("same entries: changed=%v err=%v version=%d", changed, err, f.Content().Version)
	}
	write(t, path, "192.0.2.1\n192.0.2.2\n")
	if changed, err := update(t, f); !changed || err != nil || f.Content().Version != 2 || entries(f) != 2 {
		t.Fatalf("new entries: changed=%v err=%v version=%d entries=%d", changed, err, f.Content().Version, entries(f))
	}
}

func TestKeepsLastGood(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(path string) error
		want   error
	}{
		{"empty", func(p string) error { return os.WriteFile(p, nil, 0o644) }, ErrEmpty},
		{"only comments", func(p string) error { return os.WriteFile(p, []byte("# nothing today\n"), 0o644) }, ErrEmpty},
		{"html error page", func(p string) error {
			return os.WriteFile(p, []byte("<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<h1>502</h1>\n</body>\n</html>\n"), 0o644)
		}, ErrGarbage},
		{"mostly garbage", func(p string) error {
			return os.WriteFile(p, []byte("192.0.2.9\nfoo bar\nbaz qux\n%%%\n"), 0o644)
		}, ErrGarbage},
		{"binary", func(p string) error { return os.WriteFile(p, []byte("\x00\x01\xff\xfe\n\x89PNG\r\n\x1a\n"), 0o644) }, ErrGarbage},
		{"deleted", os.Remove, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, path := newFeed(t, "192.0.2.1\n198.51.100.0/24\nbad.example\n")
			if _, err := update(t, f); err != nil {
				t.Fatal(err)
			}
			good := f.Content()
			if err := tc.break_(path); err != nil {
				t.Fatal(err)
			}
			changed, err := update(t, f)
			if changed || !errors.Is(err, tc.want) {
				t.Fatalf("changed=%v err=%v, want %v", changed, err, tc.want)
			}
			if f.Content() != good {
				t.Fatal("the last good content was replaced")
			}
			st := f.Status()
			if st.LastError == nil || st.LastSuccess.After(st.LastAttempt) || !st.LastSuccess.Before(st.LastAttempt) {
				t.Fatalf("status after failure: %+v", st)
			}
			// Seen again unchanged, the rejected version stays rejected in the status.
			if _, err := update(t, f); tc.want != os.ErrNotExist && err != nil {
				t.Fatalf("second look: %v", err)
			}
			if f.Status().LastError == nil {
				t.Fatal("a rejected version became a success when seen again")
			}
			// A good file again is taken.
			write(t, path, "192.0.2.7\n")
			if changed, err := update(t, f); !changed || err != nil || entries(f) != 1 || f.Status().LastError != nil {
				t.Fatalf("recovery: changed=%v err=%v entries=%d", changed, err, entries(f))
			}
		})
	}
}

// TestFirstLoadEmpty: a feed that is empty from the start (a retired list) is loaded, not an error.
func TestFirstLoadEmpty(t *testing.T) {
	f, _ := newFeed(t, "; this list is retired\n; EOF\n")
	if changed, err := update(t, f); !changed || err != nil || entries(f) != 0 {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
}

func TestFileChangingWhileRead(t *testing.T) {
	// A file whose size differs from what was read is retried, not parsed half-written: simulate by a
	// Source that sees a new version between stat and read.
	f, path := newFeed(t, "192.0.2.1\n")
	src := f.Source.(*source.File)
	if _, err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background()); !errors.Is(err, source.ErrNotModified) {
		t.Fatalf("unchanged file: %v", err)
	}
	// Same size, new modification time: a new version.
	write(t, path, "192.0.2.2\n")
	os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if data, err := src.Fetch(context.Background()); err != nil || string(data) != "192.0.2.2\n" {
		t.Fatalf("changed file: %q %v", data, err)
	}
}

func TestMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(path, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	src := &source.File{Path: path, MaxSize: 1024}
	if _, err := src.Fetch(context.Background()); err == nil {
		t.Fatal("a file over the size limit was read")
	}
}
