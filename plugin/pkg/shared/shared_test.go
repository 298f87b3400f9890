package shared

import (
	"errors"
	"path/filepath"
	"testing"
)

type res struct {
	path   string
	closed int
}

func (r *res) Close() error { r.closed++; return nil }

// TestAcquire: one open per path however many instances hold it, closed by the last release only, opened
// anew after that; a failed open holds nothing.
func TestAcquire(t *testing.T) {
	opens := 0
	r := New(func(path string) (*res, error) {
		if filepath.Base(path) == "bad" {
			return nil, errors.New("no")
		}
		opens++
		return &res{path: path}, nil
	})
	dir := t.TempDir()
	a, relA, err := r.Acquire(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	b, relB, _ := r.Acquire(filepath.Join(dir, ".", "db"))
	if a != b || opens != 1 {
		t.Fatalf("two handles (%v) or %d opens for one path", a != b, opens)
	}
	relA()
	relA() // a second call is a no-op
	if a.closed != 0 {
		t.Fatal("closed while an instance holds it")
	}
	relB()
	if a.closed != 1 {
		t.Fatalf("closed %d times after the last release", a.closed)
	}
	c, relC, _ := r.Acquire(filepath.Join(dir, "db"))
	if c == a || opens != 2 {
		t.Error("not opened anew after the last release")
	}
	relC()
	if _, _, err := r.Acquire(filepath.Join(dir, "bad")); err == nil || len(r.m) != 0 {
		t.Errorf("a failed open: %v, %d held", err, len(r.m))
	}
}
