package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// ActionKind is what the in-line firewall (and a policy's RPZ zone) does with a listed name or address.
// The kinds are ordered by severity: when lists of several categories hold an entry, the most severe
// action among them wins.
type ActionKind uint8

const (
	Passthru ActionKind = iota // answer normally: the category is off in this policy
	LogOnly                    // answer normally, log what would have been blocked (monitor mode)
	Redirect                   // answer with walled-garden addresses (a block page)
	NoData                     // NOERROR without records
	NXDomain                   // the name does not exist (the default)
	Drop                       // no answer at all
)

var actionNames = [...]string{Passthru: "passthru", LogOnly: "log-only", Redirect: "redirect", NoData: "nodata", NXDomain: "nxdomain", Drop: "drop"}

func (k ActionKind) String() string { return actionNames[k] }

// Blocks reports whether the action changes the answer.
func (k ActionKind) Blocks() bool { return k >= Redirect }

// IsAction reports whether word names an action kind.
func IsAction(word string) bool {
	for _, n := range actionNames {
		if n == word {
			return true
		}
	}
	return false
}

// Action is an action kind with its arguments.
type Action struct {
	Kind     ActionKind
	Redirect []netip.Addr // A and AAAA answers of a redirect
}

// String is the action as a Corefile writes it: "nxdomain", "redirect 192.0.2.80 2001:db8::80".
func (a Action) String() string {
	s := a.Kind.String()
	for _, r := range a.Redirect {
		s += " " + r.String()
	}
	return s
}

// DefaultAction is the action of a policy that sets none.
var DefaultAction = Action{Kind: NXDomain}

// ParseAction parses "nxdomain", "nodata", "drop", "passthru", "log-only" or "redirect ADDRESS...".
func ParseAction(args []string) (Action, error) {
	if len(args) == 0 {
		return Action{}, fmt.Errorf("an action needs a kind: %s", strings.Join(actionNames[:], ", "))
	}
	for k, n := range actionNames {
		if n != args[0] {
			continue
		}
		a := Action{Kind: ActionKind(k)}
		if a.Kind != Redirect {
			if len(args) > 1 {
				return Action{}, fmt.Errorf("action %s takes no arguments", n)
			}
			return a, nil
		}
		if len(args) == 1 {
			return Action{}, fmt.Errorf("action redirect needs at least one IPv4 or IPv6 address")
		}
		for _, s := range args[1:] {
			ip, err := netip.ParseAddr(s)
			if err != nil || ip.Zone() != "" {
				return Action{}, fmt.Errorf("redirect address %q is not an IP address", s)
			}
			a.Redirect = append(a.Redirect, ip.Unmap())
		}
		return a, nil
	}
	return Action{}, fmt.Errorf("unknown action %q (want %s)", args[0], strings.Join(actionNames[:], ", "))
}

// Hit is what decided a listed verdict: the action and the list it came from.
type Hit struct {
	Action   Action
	List     string // list name; CustomList for the policy's own block entries
	Category string
	ListID   int // shared list ID; -1 for own entries
}

// Decide picks the action for a listed verdict: the most severe among the policy's own block entries
// and the blocking lists that hold the entry; on a tie the own entries, then the lowest list ID.
func (p *Policy) Decide(s *snapshot.Snapshot, v Verdict) Hit {
	h := Hit{ListID: -1}
	found := false
	if v.Custom {
		h = Hit{Action: p.customAction, List: CustomList, Category: CustomList, ListID: -1}
		found = true
	}
	p.EachList(s, v, func(id int) {
		a := p.actions[id]
		if !found || a.Kind > h.Action.Kind {
			h = Hit{Action: a, List: s.Lists[id].Name, Category: s.Lists[id].Category, ListID: id}
			found = true
		}
	})
	return h
}

// EntryAddr is the entry of a hit's list that holds a, as the list states it.
func (p *Policy) EntryAddr(s *snapshot.Snapshot, h Hit, a netip.Addr) string {
	src, id := s, h.ListID
	if id < 0 {
		src, id = p.own, ownBlock
	}
	if pfx, ok := src.EntryAddr(id, a); ok {
		return pfx.String()
	}
	return a.String()
}

// EntryName is the entry of a hit's list that lists name: name itself or "*.parent".
func (p *Policy) EntryName(s *snapshot.Snapshot, h Hit, name string) string {
	src, id := s, h.ListID
	if id < 0 {
		src, id = p.own, ownBlock
	}
	if e, ok := src.EntryName(id, name); ok {
		return e
	}
	return name
}
