package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/backend"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/blocklist"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/cidrset"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/state"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/transfer"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

// runOnce is one sync: load the state, fetch, build the list, apply it to every backend, save the state.
// Any error leaves every backend as it was (each backend is atomic on its own) and the state file as it
// was, except that an inconsistent transfer marks the state so that the next fetch is an AXFR.
func runOnce(ctx context.Context, cfg *config, out io.Writer) error {
	st, err := state.Load(cfg.statePath)
	if err != nil {
		log.Printf("ignoring the state file (the next transfer is an AXFR, the next apply a full replace): %v", err)
		st = nil
	}
	if st != nil && st.Zone != cfg.zone {
		log.Printf("state file %s is of zone %s, not %s: ignoring it", cfg.statePath, st.Zone, cfg.zone)
		st = nil
	}
	var held *zone.Zone
	if st != nil {
		if held, err = st.ZoneOf(); err != nil {
			log.Printf("ignoring the zone in the state file: %v", err)
			held = nil
		}
	}
	client := &transfer.Client{Servers: cfg.servers, Zone: cfg.zone, Key: cfg.key, Timeout: cfg.timeout}
	forceAXFR := cfg.axfr || (st != nil && st.ForceAXFR)
	res, ferr := client.Fetch(ctx, held, forceAXFR)
	if res.Zone == nil {
		var te *transfer.Error
		if errors.As(ferr, &te) && st != nil && !st.ForceAXFR && !cfg.dryRun && inconsistent(ferr) {
			st.ForceAXFR = true
			if err := state.Save(cfg.statePath, st); err != nil {
				log.Printf("could not mark the state for an AXFR: %v", err)
			}
		}
		if st != nil && !cfg.dryRun && ctx.Err() == nil {
			return restoreApplied(ctx, cfg, st, ferr)
		}
		return ferr
	}
	if ferr != nil {
		log.Printf("servers before %s failed: %v", res.Server, ferr)
	}

	content := res.Zone.Content()
	list := blocklist.Build(content, cfg.list)
	u := &backend.Update{Zone: cfg.zone, Serial: res.Zone.Serial, Server: res.Server, List: list, Content: &content}
	if st != nil {
		u.Have4, u.Have6 = cidrset.Build(false, st.Applied), cidrset.Build(true, st.Applied)
		u.HaveSerial, u.HaveValid = st.Serial, true
	} else {
		u.Have6 = cidrset.Build(true, nil)
	}
	summary := summarize(res, held, content, list)
	if content.Bad > 0 {
		log.Printf("%d records could not be decoded and were skipped, e.g. %s", content.Bad, strings.Join(content.BadFirst, "; "))
	}
	if len(list.LeftOut) > 0 {
		log.Printf("capacity: %d blocking triggers left out to stay within %d entries (%s), e.g. %s",
			len(list.LeftOut), cfg.list.MaxEntries, leftOutBy(list), list.LeftOut[0].Prefix)
	}

	if cfg.dryRun {
		printDiff(out, st, list)
		fmt.Fprintf(out, "%s\n", summary)
		return nil
	}

	var errs []error
	for _, b := range cfg.backends {
		what, err := b.Apply(ctx, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.Name(), err))
			log.Printf("%s: apply failed, left as it was: %v", b.Name(), err)
			continue
		}
		log.Printf("%s: %s", b.Name(), what)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if res.Kind == transfer.Unchanged && st != nil && !st.ForceAXFR && u.Unchanged() {
		log.Printf("%s", summary)
		return nil
	}
	ns := state.FromZone(res.Zone, list.Prefixes())
	ns.Server, ns.Updated = res.Server, time.Now().UTC()
	if err := state.Save(cfg.statePath, ns); err != nil {
		return fmt.Errorf("applied serial %d, but could not save the state (the next run replaces everything): %w", res.Zone.Serial, err)
	}
	log.Printf("%s", summary)
	return nil
}

// restoredError is a failed sync after which backends that had lost the last applied set (a reboot, a
// flush) got it again from the state file.
type restoredError struct {
	err      error
	serial   uint32
	backends []string
}

func (e *restoredError) Error() string { return e.err.Error() }
func (e *restoredError) Unwrap() error { return e.err }

// outcome says what a failed sync did to the firewall, for its log line.
func outcome(err error) string {
	var r *restoredError
	if errors.As(err, &r) {
		return fmt.Sprintf("%s restored to the last applied set (serial %d) from the state file", strings.Join(r.backends, ", "), r.serial)
	}
	return "firewall left as it was"
}

// restoreApplied runs when no server gave a zone: a backend whose device no longer holds the set the state
// says was applied (the kernel's tables and sets do not survive a reboot or a flush) gets that set again,
// so that the firewall fails closed with the last known policy rather than open until a server answers.
// A backend that holds it is not touched. The sync still failed: the result is ferr, with what was
// restored, or with why a restore failed.
func restoreApplied(ctx context.Context, cfg *config, st *state.State, ferr error) error {
	l := blocklist.List{V4: cidrset.Build(false, st.Applied), V6: cidrset.Build(true, st.Applied)}
	l.Entries = l.V4.PrefixCount() + l.V6.PrefixCount()
	// HaveValid false: a full replace, whatever the device holds now.
	u := &backend.Update{Zone: cfg.zone, Serial: st.Serial, Server: st.Server, List: l, Content: &zone.Content{},
		Have6: cidrset.Build(true, nil)}
	errs := []error{ferr}
	var restored []string
	for _, b := range cfg.backends {
		h, ok := b.(backend.Holder)
		if !ok { // files: they survive a reboot
			continue
		}
		why := h.Holds(ctx, u)
		if why == nil {
			continue
		}
		log.Printf("%s: does not hold the last applied set (%v): no server answered, so applying serial %d (%d entries) from the state file %s again",
			b.Name(), why, st.Serial, l.Entries, cfg.statePath)
		what, err := b.Apply(ctx, u)
		if err != nil {
			log.Printf("%s: restoring the last applied set failed: %v", b.Name(), err)
			errs = append(errs, fmt.Errorf("%s: restoring serial %d from the state file: %w", b.Name(), st.Serial, err))
			continue
		}
		log.Printf("%s: restored serial %d from the state file: %s", b.Name(), st.Serial, what)
		restored = append(restored, b.Name())
	}
	err := ferr
	if len(errs) > 1 {
		err = errors.Join(errs...)
	}
	if len(restored) > 0 {
		return &restoredError{err: err, serial: st.Serial, backends: restored}
	}
	return err
}

// inconsistent reports whether any of the joined errors is an answer that arrived but was wrong.
func inconsistent(err error) bool {
	var found bool
	var walk func(error)
	walk = func(e error) {
		if te, ok := e.(*transfer.Error); ok && te.Inconsistent {
			found = true
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return found
}

func summarize(res transfer.Result, held *zone.Zone, c zone.Content, l blocklist.List) string {
	var how string
	switch res.Kind {
	case transfer.Unchanged:
		how = "unchanged"
	case transfer.Delta:
		how = fmt.Sprintf("IXFR from %d: %d records deleted, %d added", held.Serial, res.Deleted, res.Added)
	default:
		how = fmt.Sprintf("AXFR: %d records", len(res.Zone.Records))
	}
	ignored := 0
	for _, n := range c.Ignored {
		ignored += n
	}
	return fmt.Sprintf("%s serial %d from %s (%s); rpz-ip triggers: %d block, %d allow, %d other; "+
		"%d QNAME triggers and %d other triggers are not for a packet filter; "+
		"entries %d (IPv4 %d, IPv6 %d prefixes; %d ranges); left out %d",
		res.Zone.Origin, res.Zone.Serial, res.Server, how, l.Blocked, l.Allowed, l.Other,
		len(c.Names), ignored, l.Entries, l.V4.PrefixCount(), l.V6.PrefixCount(), l.V4.Len()+l.V6.Len(), len(l.LeftOut))
}

func leftOutBy(l blocklist.List) string {
	var parts []string
	for _, a := range []zone.Action{zone.Drop, zone.NXDomain, zone.NoData, zone.Redirect} {
		if n := l.LeftOutBy[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", a, n))
		}
	}
	return strings.Join(parts, ", ")
}

// printDiff writes the prefixes the device would lose ("-") and gain ("+").
func printDiff(out io.Writer, st *state.State, l blocklist.List) {
	var have []netip.Prefix
	if st != nil {
		have = st.Applied
	}
	want := l.Prefixes()
	in := func(ps []netip.Prefix) map[netip.Prefix]bool {
		m := make(map[netip.Prefix]bool, len(ps))
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	hm, wm := in(have), in(want)
	var gone, added []netip.Prefix
	for _, p := range have {
		if !wm[p] {
			gone = append(gone, p)
		}
	}
	for _, p := range want {
		if !hm[p] {
			added = append(added, p)
		}
	}
	cmp := func(a, b netip.Prefix) int {
		if d := a.Addr().Compare(b.Addr()); d != 0 {
			return d
		}
		return a.Bits() - b.Bits()
	}
	slices.SortFunc(gone, cmp)
	for _, p := range gone {
		fmt.Fprintf(out, "- %s\n", p)
	}
	for _, p := range added {
		fmt.Fprintf(out, "+ %s\n", p)
	}
	fmt.Fprintf(out, "dry run: %d prefixes to delete, %d to add, %d kept\n", len(gone), len(added), len(want)-len(added))
}
