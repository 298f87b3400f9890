// Package shared opens a file-backed resource once per path for every plugin instance of the process. A
// Corefile reload starts the new instance before it stops the old one, and bbolt locks its file against a
// second open, so the instances share one handle with a count of its users; the last release closes it.
package shared

import (
	"io"
	"path/filepath"
	"sync"
)

// Registry holds the open resources of one kind, by absolute path.
type Registry[T io.Closer] struct {
	open func(path string) (T, error)
	mu   sync.Mutex
	m    map[string]*entry[T]
}

type entry[T io.Closer] struct {
	v     T
	users int
}

// New returns a registry that opens a resource with open.
func New[T io.Closer](open func(path string) (T, error)) *Registry[T] {
	return &Registry[T]{open: open, m: map[string]*entry[T]{}}
}

// Acquire returns the resource at path, opening it unless an instance holds it already, and the function
// that gives it back (call it once).
func (r *Registry[T]) Acquire(path string) (T, func() error, error) {
	var zero T
	abs, err := filepath.Abs(path)
	if err != nil {
		return zero, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[abs]
	if e == nil {
		v, err := r.open(abs)
		if err != nil {
			return zero, nil, err
		}
		e = &entry[T]{v: v}
		r.m[abs] = e
	}
	e.users++
	var once sync.Once
	release := func() error {
		var err error
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if e.users--; e.users == 0 {
				delete(r.m, abs)
				err = e.v.Close()
			}
		})
		return err
	}
	return e.v, release, nil
}
