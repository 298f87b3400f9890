package threatlog

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coredns/caddy"

	"github.com/threatstop/threatstop/plugin/pkg/alert"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
)

// Alerts: per customer, rules over what its devices upload, delivered by package alert (webhooks and
// email, deduplicated and rate-limited):
//   - hit CATEGORY...: a stored event on an address or name that a list of these categories holds, once
//     per category, remote and inside host within `every` (default an hour);
//   - infected: an inside host becomes likely infected (the report's threshold over the last 24 hours),
//     once per host in 7 days;
//   - silent DURATION: a device that uploaded before and not for DURATION, once until it uploads again.

// alertRules are one policy's rules.
type alertRules struct {
	hit      map[string]bool // categories
	infected bool
	silent   time.Duration

	checking sync.Mutex // one infected check of the policy at a time
	checked  time.Time  // the last one
}

// Alert windows of the rules other than hit.
const (
	infectedWindow = 7 * 24 * time.Hour
	forever        = 100 * 365 * 24 * time.Hour
)

// alertMemory is what deduplication and the rate limit remember, and deviceSeen when each device last
// uploaded (a duplicate too, which stores nothing), by "policy/device": the process's, so that a reload
// tells nothing twice.
var (
	alertMemory = alert.NewMemory()
	deviceSeen  sync.Map // string → time.Time
)

// alertTick is how often silent devices are looked for, and infectedEvery how often at most a policy's
// likely infected hosts are computed after its uploads.
var (
	alertTick     = time.Minute
	infectedEvery = 30 * time.Second
)

// parseAlert reads "alert POLICY { ... }".
func (t *Threatlog) parseAlert(c *caddy.Controller, args []string) error {
	if len(args) != 1 {
		return c.Errf("alert needs one policy")
	}
	pol := args[0]
	if t.alerts == nil {
		t.alerts = &alert.Dispatcher{Routes: map[string]*alert.Route{}, Now: clock, Memory: alertMemory, OnResult: func(kind string, ok bool) {
			alertsSent.WithLabelValues(kind, strconv.FormatBool(ok)).Inc()
		}}
		t.alertRules = map[string]*alertRules{}
	}
	if t.alerts.Routes[pol] != nil {
		return c.Errf("alert %s: defined twice", pol)
	}
	r := &alert.Route{Windows: map[string]time.Duration{"hit": time.Hour, "infected": infectedWindow, "silent": forever}}
	rules := &alertRules{hit: map[string]bool{}}
	for c.NextBlock() {
		key, args := c.Val(), c.RemainingArgs()
		switch key {
		case "hit":
			if len(args) == 0 {
				return c.Errf("alert %s: hit needs one category or more", pol)
			}
			for _, a := range args {
				rules.hit[a] = true
			}
		case "infected":
			if len(args) != 0 {
				return c.ArgErr()
			}
			rules.infected = true
		case "silent":
			d, err := time.ParseDuration(strings.Join(args, ""))
			if err != nil || len(args) != 1 || d < time.Minute {
				return c.Errf("alert %s: silent needs a duration of a minute or more", pol)
			}
			rules.silent = d
		case "webhook":
			if len(args) != 2 {
				return c.Errf("alert %s: webhook needs a URL and a secret", pol)
			}
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return c.Errf("alert %s: webhook %q is not an http(s) URL", pol, args[0])
			}
			if len(args[1]) < 16 {
				return c.Errf("alert %s: a webhook secret needs at least 16 characters", pol)
			}
			r.Webhooks = append(r.Webhooks, alert.Webhook{URL: args[0], Secret: []byte(args[1])})
		case "email":
			if len(args) == 0 {
				return c.ArgErr()
			}
			for _, a := range args {
				if _, err := mail.ParseAddress(a); err != nil {
					return c.Errf("alert %s: email %q: %v", pol, a, err)
				}
			}
			r.Emails = append(r.Emails, args...)
		case "every":
			d, err := time.ParseDuration(strings.Join(args, ""))
			if err != nil || len(args) != 1 || d <= 0 {
				return c.Errf("alert %s: every needs a duration", pol)
			}
			r.Windows["hit"] = d
		case "max":
			n, err := strconv.Atoi(strings.Join(args, ""))
			if err != nil || len(args) != 1 || n < 1 {
				return c.Errf("alert %s: max needs a number of alerts an hour", pol)
			}
			r.Max = n
		default:
			return c.Errf("alert %s: unknown property %q", pol, key)
		}
	}
	if len(rules.hit) == 0 && !rules.infected && rules.silent == 0 {
		return c.Errf("alert %s: no rule (hit, infected or silent)", pol)
	}
	if len(r.Webhooks) == 0 && len(r.Emails) == 0 {
		return c.Errf("alert %s: no webhook or email to send to", pol)
	}
	t.alerts.Routes[pol], t.alertRules[pol] = r, rules
	return nil
}

// parseSMTP reads "smtp HOST:PORT FROM [USER PASSWORD]".
func (t *Threatlog) parseSMTP(c *caddy.Controller, args []string) error {
	if len(args) != 2 && len(args) != 4 {
		return c.Errf("smtp needs HOST:PORT and a from address, and optionally a user and a password")
	}
	if _, _, err := net.SplitHostPort(args[0]); err != nil {
		return c.Errf("smtp %q is not HOST:PORT", args[0])
	}
	if _, err := mail.ParseAddress(args[1]); err != nil {
		return c.Errf("smtp from %q: %v", args[1], err)
	}
	t.smtp = &alert.SMTP{Addr: args[0], From: args[1]}
	if len(args) == 4 {
		t.smtp.User, t.smtp.Password = args[2], args[3]
	}
	return nil
}

// startAlerts starts delivery and the silent-device watch, until ctx ends.
func (t *Threatlog) startAlerts(ctx context.Context) {
	if t.alerts == nil {
		return
	}
	t.alerts.SMTP = t.smtp
	t.alerts.Start()
	watch := false
	for _, r := range t.alertRules {
		watch = watch || r.silent > 0
	}
	if !watch {
		return
	}
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		tick := time.NewTicker(alertTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				t.checkSilent()
			}
		}
	}()
}

func (t *Threatlog) stopAlerts() {
	if t.alerts == nil {
		return
	}
	t.alertMu.Lock()
	t.alertsStopped = true
	t.alertMu.Unlock()
	t.alertWG.Wait() // the infected checks under way
	t.alerts.Stop()
}

// alertsOn reports whether policy has rules.
func (t *Threatlog) alertsOn(policy string) bool { return t.alertRules[policy] != nil }

// alertUpload tells the rules of an upload of policy by device: its listed records (stored now; nil
// for a duplicate), and that the device is alive.
func (t *Threatlog) alertUpload(policy, device string, listed []logstore.Record) {
	rules := t.alertRules[policy]
	if rules == nil {
		return
	}
	deviceSeen.Store(policy+"/"+device, clock())
	t.alerts.Forget(policy, "silent", device)
	if len(rules.hit) > 0 {
		for i := range listed {
			rec := &listed[i]
			for _, cat := range rec.Categories {
				if !rules.hit[cat] {
					continue
				}
				t.alerts.Fire(alert.Alert{Policy: policy, Rule: "hit", Key: cat + " " + rec.Remote + " " + rec.Inside, Time: rec.Time,
					Summary: fmt.Sprintf("%s: %s %s %s (%s), %s by %s", cat, rec.Inside, dirWord(rec.Dir), rec.Remote, strings.Join(rec.Lists, ", "), rec.Action, rec.Device),
					Details: map[string]string{"category": cat, "remote": rec.Remote, "inside": rec.Inside, "lists": strings.Join(rec.Lists, ","),
						"device": rec.Device, "action": rec.Action, "direction": rec.Dir}})
				break
			}
		}
	}
	if rules.infected && len(listed) > 0 {
		t.alertMu.Lock()
		defer t.alertMu.Unlock()
		if t.alertsStopped {
			return
		}
		t.alertWG.Add(1)
		go func() {
			defer t.alertWG.Done()
			t.checkInfected(policy, rules)
		}()
	}
}

func dirWord(dir string) string {
	if dir == "out" {
		return "contacted"
	}
	return "was contacted by"
}

// checkInfected alerts on the policy's likely infected hosts of the last 24 hours; at most once every
// infectedEvery, one at a time.
func (t *Threatlog) checkInfected(policy string, rules *alertRules) {
	if !rules.checking.TryLock() {
		return
	}
	defer rules.checking.Unlock()
	now := clock()
	if now.Sub(rules.checked) < infectedEvery {
		return
	}
	rules.checked = now
	rep, err := t.report(policy, "", now.Add(-24*time.Hour), now.Add(time.Minute), time.Hour, 0)
	if err != nil {
		log.Errorf("alert %s: the likely infected hosts: %v", policy, err)
		return
	}
	for _, h := range rep.Infected {
		t.alerts.Fire(alert.Alert{Policy: policy, Rule: "infected", Key: h.Inside, Time: now,
			Summary: fmt.Sprintf("%s is likely infected: %d contacts with %d listed destinations in 24 hours", h.Inside, h.Contacts, h.Destinations),
			Details: map[string]string{"inside": h.Inside, "contacts": strconv.Itoa(h.Contacts), "destinations": strconv.Itoa(h.Destinations),
				"last": h.Last.UTC().Format(time.RFC3339)}})
	}
}

// checkSilent alerts on the devices that uploaded before and not for their policy's silent duration.
func (t *Threatlog) checkSilent() {
	now := clock()
	for _, pol := range slices.Sorted(maps.Keys(t.alertRules)) {
		rules := t.alertRules[pol]
		if rules.silent <= 0 {
			continue
		}
		last, err := t.store.LastUploads(pol)
		if err != nil {
			log.Errorf("alert %s: the devices' last uploads: %v", pol, err)
			continue
		}
		for _, dev := range slices.Sorted(maps.Keys(last)) {
			at := last[dev]
			if v, ok := deviceSeen.Load(pol + "/" + dev); ok && v.(time.Time).After(at) {
				at = v.(time.Time) // a duplicate upload since: alive
			}
			if now.Sub(at) >= rules.silent {
				t.alerts.Fire(alert.Alert{Policy: pol, Rule: "silent", Key: dev, Time: now,
					Summary: fmt.Sprintf("device %s has not uploaded since %s", dev, at.UTC().Format(time.RFC3339)),
					Details: map[string]string{"device": dev, "last_upload": at.UTC().Format(time.RFC3339), "silent_for": now.Sub(at).Round(time.Minute).String()}})
			}
		}
	}
}
