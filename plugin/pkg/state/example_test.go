package state_test

import (
	"fmt"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// A Store as the plugins use it: threatfeed's lists and threatstop's policies are added while the
// Corefile is parsed, each new snapshot is published, and every answer reads one State.
func ExampleStore() {
	st := state.NewStore()
	st.AddList(snapshot.ListInfo{Name: "drop", Category: "spam"})
	p, _ := policy.New(policy.Config{Name: "demo", Block: []int{0}}, st.Catalog())
	st.AddBlock(0, "", []*state.Policy{{Policy: p}})

	var b entryset.Builder
	b.AddPrefix(netip.MustParsePrefix("1.10.16.0/20"))
	st.Publish(snapshot.Build([]snapshot.List{{Name: "drop", Category: "spam", Version: 1, Set: b.Set()}}, nil), nil)

	s := st.Load()
	demo := s.Blocks[0].Policy("demo")
	fmt.Println(s.Ready(), demo.MatchAddr(s.Snap, netip.MustParseAddr("1.10.16.5")).Listed)
	// Output: true true
}
