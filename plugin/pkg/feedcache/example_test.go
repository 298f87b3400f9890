package feedcache_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/feedcache"
)

// Save writes a feed's last good body atomically; Load gives it back after a
// restart, or ErrNone when there is none, or an error when the file is damaged.
func ExampleDir() {
	path, err := os.MkdirTemp("", "feedcache-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(path)
	d := feedcache.Dir{Path: path}

	_, _, err = d.Load("drop")
	fmt.Println(errors.Is(err, feedcache.ErrNone))

	err = d.Save(feedcache.Meta{
		Feed: "drop", Source: "https://feeds.example/drop.txt", Format: "plain",
		Fetched:    time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC),
		Validators: map[string]string{"etag": `"v42"`},
	}, []byte("1.10.16.0/20\n"))
	fmt.Println(err)

	m, body, err := d.Load("drop")
	fmt.Printf("%s %s %s %q %q %v\n", m.Feed, m.Format, m.Fetched.Format(time.RFC3339), m.Validators["etag"], body, err)

	// A damaged file is refused, never served.
	files, _ := filepath.Glob(filepath.Join(path, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		b[len(b)-2] = '9'
		os.WriteFile(f, b, 0o644)
	}
	_, _, err = d.Load("drop")
	fmt.Println(err != nil && !errors.Is(err, feedcache.ErrNone))

	fmt.Println(d.Remove("drop"))
	_, _, err = d.Load("drop")
	fmt.Println(errors.Is(err, feedcache.ErrNone))
	// Output:
	// true
	// <nil>
	// drop plain 2026-11-23T15:00:00Z "\"v42\"" "1.10.16.0/20\n" <nil>
	// true
	// <nil>
	// true
}
