package threatlog

import (
	"cmp"
	"slices"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/logstore"
)

// Report is one customer's report over a period.
type Report struct {
	Policy   string    `json:"policy"`
	Device   string    `json:"device,omitempty"` // the one device reported, "" for all
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Step     string    `json:"step"` // hour or day
	Events   int       `json:"events"`
	Listed   int       `json:"listed"`   // events whose remote side the policy lists
	Blocked  int       `json:"blocked"`  // listed events the device blocked
	Passed   int       `json:"passed"`   // listed events the device let through (accept, pass, log-only, ...)
	Allowed  int       `json:"allowed"`  // events the policy's allow entries or lists cover
	Inbound  int       `json:"inbound"`  // listed events from a listed source
	Outbound int       `json:"outbound"` // listed events to a listed destination

	Lists      []Count    `json:"lists"`      // per list (each feed is a list; custom: own entries)
	Categories []Count    `json:"categories"` // per category
	Devices    []Count    `json:"devices"`
	Top        []Remote   `json:"top_remotes"` // most frequent listed remote addresses and names
	Infected   []Infected `json:"likely_infected"`
	Series     []Bucket   `json:"series"`
	Threshold  int        `json:"infected_threshold"`
}

// Count is hits of one key.
type Count struct {
	Name string `json:"name"`
	Hits int    `json:"hits"`
}

// Remote is a listed remote address or name.
type Remote struct {
	Remote string   `json:"remote"`
	Hits   int      `json:"hits"`
	Lists  []string `json:"lists"`
}

// Infected is an inside host that keeps contacting listed destinations.
type Infected struct {
	Inside       string    `json:"inside"`
	Contacts     int       `json:"contacts"`
	Destinations int       `json:"destinations"`
	Last         time.Time `json:"last"`
}

// Bucket is one step of the time series.
type Bucket struct {
	Start  time.Time `json:"start"`
	Events int       `json:"events"`
	Listed int       `json:"listed"`
}

// passing actions: the device logged the packet or query and let it through.
var passing = map[string]bool{"accept": true, "pass": true, "log": true, "log-only": true, "passthru": true}

// report computes the report of customer over [from, to).
// With device not "", only that device's events are counted, but Devices still counts every device (the
// choice of devices to filter by).
func (t *Threatlog) report(customer, device string, from, to time.Time, step time.Duration, top int) (*Report, error) {
	rep := &Report{Policy: customer, Device: device, From: from, To: to, Step: "hour", Threshold: t.infected}
	if step == 24*time.Hour {
		rep.Step = "day"
	}
	lists, cats, devices := map[string]int{}, map[string]int{}, map[string]int{}
	remotes := map[string]*Remote{}
	type host struct {
		contacts int
		dests    map[string]bool
		last     time.Time
	}
	hosts := map[string]*host{}
	n := int(to.Sub(from.Truncate(step))/step) + 1
	if n > 10000 {
		n = 10000
	}
	start := from.Truncate(step)
	rep.Series = make([]Bucket, 0, n)
	for i := 0; i < n && start.Add(time.Duration(i)*step).Before(to); i++ {
		rep.Series = append(rep.Series, Bucket{Start: start.Add(time.Duration(i) * step)})
	}
	err := t.store.Each(customer, from, to, func(r *logstore.Record) error {
		devices[r.Device]++
		if device != "" && r.Device != device {
			return nil
		}
		rep.Events++
		b := int(r.Time.Sub(start) / step)
		if b >= 0 && b < len(rep.Series) {
			rep.Series[b].Events++
		}
		if r.Allowed {
			rep.Allowed++
		}
		if !r.Listed() {
			return nil
		}
		rep.Listed++
		if b >= 0 && b < len(rep.Series) {
			rep.Series[b].Listed++
		}
		if passing[r.Action] {
			rep.Passed++
		} else {
			rep.Blocked++
		}
		for _, l := range r.Lists {
			lists[l]++
		}
		for _, c := range r.Categories {
			cats[c]++
		}
		rm := remotes[r.Remote]
		if rm == nil {
			rm = &Remote{Remote: r.Remote, Lists: r.Lists}
			remotes[r.Remote] = rm
		}
		rm.Hits++
		switch r.Dir {
		case "in":
			rep.Inbound++
		case "out":
			rep.Outbound++
			if r.Inside != "" {
				h := hosts[r.Inside]
				if h == nil {
					h = &host{dests: map[string]bool{}}
					hosts[r.Inside] = h
				}
				h.contacts++
				h.dests[r.Remote] = true
				if r.Time.After(h.last) {
					h.last = r.Time
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Lists, rep.Categories, rep.Devices = counts(lists), counts(cats), counts(devices)
	// Empty lists are [] in the JSON, not null: clients iterate over them without a check.
	rep.Top, rep.Infected = []Remote{}, []Infected{}
	for _, rm := range remotes {
		rep.Top = append(rep.Top, *rm)
	}
	slices.SortFunc(rep.Top, func(a, b Remote) int {
		return cmp.Or(cmp.Compare(b.Hits, a.Hits), cmp.Compare(a.Remote, b.Remote))
	})
	if len(rep.Top) > top {
		rep.Top = rep.Top[:top]
	}
	for in, h := range hosts {
		if h.contacts >= t.infected {
			rep.Infected = append(rep.Infected, Infected{Inside: in, Contacts: h.contacts, Destinations: len(h.dests), Last: h.last})
		}
	}
	slices.SortFunc(rep.Infected, func(a, b Infected) int {
		return cmp.Or(cmp.Compare(b.Contacts, a.Contacts), cmp.Compare(a.Inside, b.Inside))
	})
	return rep, nil
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.Hits, a.Hits), cmp.Compare(a.Name, b.Name)) })
	return out
}
