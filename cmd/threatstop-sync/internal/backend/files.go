package backend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/state"
)

// Pf writes the block list into File, one CIDR a line, and replaces pf table TABLE with it:
// `pfctl -t TABLE -T replace -f FILE` (pf swaps the table at once). With Pfctl "" only the file is
// written and the command is reported (a host that is not the pf box; pf does not run on Linux).
// pf.conf refers to the table, see the README.
type Pf struct {
	File  string
	Table string // default "threatstop"
	Pfctl string // the pfctl command; "" only writes the file
	Run   Runner
}

// Name implements Backend.
func (p *Pf) Name() string { return "pf" }

// Command is the pfctl command line that loads the file.
func (p *Pf) Command() []string {
	t := p.Table
	if t == "" {
		t = "threatstop"
	}
	return []string{"-t", t, "-T", "replace", "-f", p.File}
}

// Apply implements Backend.
func (p *Pf) Apply(ctx context.Context, u *Update) (string, error) {
	if err := writeIfChanged(p.File, PfTable(u)); err != nil {
		return "", err
	}
	if p.Pfctl == "" {
		return fmt.Sprintf("wrote %s; load it with: pfctl %s", p.File, joinArgs(p.Command())), nil
	}
	if _, err := p.Run.Run(ctx, nil, p.Pfctl, p.Command()...); err != nil {
		return "", err
	}
	return fmt.Sprintf("table replaced from %s", p.File), nil
}

func joinArgs(a []string) string {
	var b bytes.Buffer
	for i, s := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

// PfTable is the table file: a comment naming zone and serial, then the prefixes.
func PfTable(u *Update) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# threatstop-sync: %s serial %d, %d entries\n", u.Zone, u.Serial, u.List.Entries)
	for _, p := range u.List.Prefixes() {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Text writes the minimal CIDR list, one a line, IPv4 first, for any other device; NamesFile (optional)
// gets the blocking QNAME triggers, one a line ("*.name" for a name's subdomains).
type Text struct {
	File      string
	NamesFile string
}

// Name implements Backend.
func (t *Text) Name() string { return "text" }

// Apply implements Backend.
func (t *Text) Apply(_ context.Context, u *Update) (string, error) {
	var b bytes.Buffer
	for _, p := range u.List.Prefixes() {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	if t.File != "" {
		if err := writeIfChanged(t.File, b.Bytes()); err != nil {
			return "", err
		}
	}
	if t.NamesFile != "" && u.Content != nil {
		var nb bytes.Buffer
		for _, n := range u.Content.Names {
			if n.Action.Blocks() {
				nb.WriteString(n.Name)
				nb.WriteByte('\n')
			}
		}
		if err := writeIfChanged(t.NamesFile, nb.Bytes()); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d prefixes", u.List.Entries), nil
}

// JSON writes a report of the list for any other device or for monitoring.
type JSON struct {
	File  string
	Names bool // include the QNAME triggers
}

// Name implements Backend.
func (j *JSON) Name() string { return "json" }

// Report is the JSON file.
type Report struct {
	Zone    string         `json:"zone"`
	Serial  uint32         `json:"serial"`
	Entries int            `json:"entries"`
	IPv4    []netip.Prefix `json:"ipv4"`
	IPv6    []netip.Prefix `json:"ipv6"`

	BlockTriggers int `json:"block_triggers"` // rpz-ip triggers that block
	AllowTriggers int `json:"allow_triggers"` // rpz-ip passthru triggers, subtracted

	LeftOut         []LeftOut      `json:"left_out"` // in the order they would have been taken
	LeftOutByAction map[string]int `json:"left_out_by_action"`

	NameTriggers int            `json:"name_triggers"` // QNAME triggers: not for a packet filter
	Ignored      map[string]int `json:"ignored_triggers"`
	Names        []Name         `json:"names,omitempty"`
}

// LeftOut is a trigger that did not fit.
type LeftOut struct {
	Prefix netip.Prefix `json:"prefix"`
	Action string       `json:"action"`
}

// Name is a QNAME trigger.
type Name struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// Apply implements Backend.
func (j *JSON) Apply(_ context.Context, u *Update) (string, error) {
	data, err := json.MarshalIndent(ReportOf(u, j.Names), "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeIfChanged(j.File, append(data, '\n')); err != nil {
		return "", err
	}
	return "report written", nil
}

// ReportOf is the report of u.
func ReportOf(u *Update, names bool) Report {
	r := Report{
		Zone: u.Zone, Serial: u.Serial, Entries: u.List.Entries,
		IPv4: u.List.V4.Prefixes(), IPv6: u.List.V6.Prefixes(),
		BlockTriggers: u.List.Blocked, AllowTriggers: u.List.Allowed,
		LeftOut: []LeftOut{}, LeftOutByAction: map[string]int{}, Ignored: map[string]int{},
	}
	if r.IPv4 == nil {
		r.IPv4 = []netip.Prefix{}
	}
	if r.IPv6 == nil {
		r.IPv6 = []netip.Prefix{}
	}
	for _, t := range u.List.LeftOut {
		r.LeftOut = append(r.LeftOut, LeftOut{t.Prefix, t.Action.String()})
	}
	for a, n := range u.List.LeftOutBy {
		r.LeftOutByAction[a.String()] = n
	}
	if c := u.Content; c != nil {
		r.NameTriggers = len(c.Names)
		for k, v := range c.Ignored {
			r.Ignored[k] = v
		}
		if names {
			for _, n := range c.Names {
				r.Names = append(r.Names, Name{n.Name, n.Action.String()})
			}
		}
	}
	return r
}

// writeIfChanged replaces path atomically unless it already holds data.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return state.WriteFile(path, 0o644, func(w *bufio.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
