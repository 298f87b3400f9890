package source_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/threatstop/threatstop/plugin/pkg/source"
)

// A File source returns the whole body, then ErrNotModified until the file
// changes; publishers replace a feed file by renaming a new one over it.
func ExampleFile() {
	dir, err := os.MkdirTemp("", "source-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "drop.txt")
	os.WriteFile(path, []byte("1.10.16.0/20\n"), 0o644)

	f := &source.File{Path: path}
	ctx := context.Background()
	body, err := f.Fetch(ctx)
	fmt.Printf("%q %v\n", body, err)
	_, err = f.Fetch(ctx)
	fmt.Println(errors.Is(err, source.ErrNotModified))

	os.WriteFile(path+".tmp", []byte("1.10.16.0/20\n185.220.101.0/24\n"), 0o644)
	os.Rename(path+".tmp", path)
	body, err = f.Fetch(ctx)
	fmt.Printf("%q %v\n", body, err)
	// Output:
	// "1.10.16.0/20\n" <nil>
	// true
	// "1.10.16.0/20\n185.220.101.0/24\n" <nil>
}

// An HTTP source asks "changed since?" with the ETag of the last body, so an
// unchanged feed costs a 304, not a download and a parse.
func ExampleHTTP() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, "bad.example\n")
	}))
	defer srv.Close()

	u, _ := url.Parse(srv.URL + "/feed.txt")
	h := &source.HTTP{URL: u, Retries: -1}
	ctx := context.Background()
	body, err := h.Fetch(ctx)
	fmt.Printf("%q %v %v\n", body, err, h.Validators())
	_, err = h.Fetch(ctx)
	fmt.Println(errors.Is(err, source.ErrNotModified))
	// Output:
	// "bad.example\n" <nil> map[etag:"v1"]
	// true
}

// Redact keeps credentials out of logs and status pages.
func ExampleRedact() {
	u, _ := url.Parse("https://user:secret@feeds.example/drop.txt?key=abc123")
	fmt.Println(source.Redact(u))
	// Output:
	// https://feeds.example/drop.txt?…
}
