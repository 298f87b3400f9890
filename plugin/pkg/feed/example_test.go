package feed_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/guard"
	"github.com/threatstop/threatstop/plugin/pkg/source"
)

// versions is a Source that returns the next body on each Fetch, and
// ErrNotModified once they run out.
type versions []string

func (v *versions) Fetch(context.Context) ([]byte, error) {
	if len(*v) == 0 {
		return nil, source.ErrNotModified
	}
	body := (*v)[0]
	*v = (*v)[1:]
	return []byte(body), nil
}

func (v *versions) String() string { return "example" }

// Update fetches, parses, guards and judges each version; a version that
// loses too many entries is held, and the last good one keeps being served.
func ExampleFeed_Update() {
	p, _ := format.New("plain", nil)
	f := &feed.Feed{
		Name: "drop", Category: "malware", Format: "plain", Parser: p,
		Guard: guard.Default(), MaxShrink: feed.DefaultMaxShrink,
		Source: &versions{
			"185.220.101.0/24\n45.9.148.7\n91.92.109.9\n10.0.0.1\nbad.example\n", // 10.0.0.1 is private: dropped
			"bad.example\n", // loses 3 of 4 entries: held
		},
	}
	show := func() {
		changed, _, err := f.Update(context.Background())
		c := f.Content()
		fmt.Printf("changed=%v shrink=%v serving v%d with %d entries\n", changed, errors.Is(err, feed.ErrShrink), c.Version, c.Set.Len())
	}
	show()
	fmt.Println("dropped:", f.Content().Dropped.Count)
	show()
	if h := f.Held(); h != nil {
		fmt.Println("held:", h.Set.Len(), h.Reason)
	}
	// An operator accepts it (or the source keeps serving it for MaxShrinkHold, on ShrinkFetches fetches).
	fmt.Println("accepted:", f.Accept(), f.Content().Version, f.Content().Set.Len())
	// Output:
	// changed=true shrink=false serving v1 with 4 entries
	// dropped: map[private:1]
	// changed=false shrink=true serving v1 with 4 entries
	// held: 1 1 entries, down from 4 (more than 50% lost)
	// accepted: true 2 1
}

// A body with more invalid lines than entries is rejected.
func ExampleErrGarbage() {
	p, _ := format.New("plain", nil)
	f := &feed.Feed{Name: "f", Parser: p, Guard: guard.Default(), MaxShrink: feed.DefaultMaxShrink,
		Source: &versions{"<html>\n<body>\nnot a feed\n</body>\n"}}
	_, _, err := f.Update(context.Background())
	fmt.Println(errors.Is(err, feed.ErrGarbage), f.Content() == nil, strings.Contains(err.Error(), "invalid"))
	// Output:
	// true true true
}
