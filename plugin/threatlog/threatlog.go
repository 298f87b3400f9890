// Package threatlog is a CoreDNS plugin that takes customers' firewall and resolver logs over HTTP,
// matches every event against the customer's threatstop policy at ingestion, keeps the results in an
// embedded database (package logstore) for the retention period, and reports per customer: hits per list
// and category, top blocked remote addresses, likely infected inside hosts, a time series. It also answers
// "why is this listed?" (Check IoC) over HTTP and as TXT records of <ioc>._check.<zone>.
//
// Customers are threatstop policies: an upload or a report is authenticated with an HMAC made with one of
// the policy's TSIG keys (the tsig plugin's secrets) or with a per-device token, and only ever reads or
// writes that policy's bucket. A customer that opts in (share) also reports the addresses its firewalls
// blocked inbound to the process's sensor table (package sensor), under an opaque ID (sensors.go).
package threatlog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/alert"
	"github.com/threatstop/threatstop/plugin/pkg/httplisten"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/siem"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// clockFn is the time source of ingestion, reports, authentication and retention; tests replace it.
var clockFn atomic.Pointer[func() time.Time]

func clock() time.Time {
	if f := clockFn.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// Threatlog is the plugin handler and the state of one instance.
type Threatlog struct {
	Next  plugin.Handler
	Zones []string

	line          int // of the threatlog keyword, for errors at start-up
	listen        string
	db            string
	retention     time.Duration
	maxSize       int64
	skew          time.Duration
	readTimeout   time.Duration // for an upload's body to arrive
	infected      int
	v4Bits        int
	v6Bits        int
	syncPrefix    string
	listedOnly    bool                   // store only events whose remote side the policy lists
	tokens        map[string]token       // token → policy and device
	edlMax        map[string]int         // "policy/device" → the most entries its external dynamic lists hold
	tls           *httplisten.CertFiles  // nil: plain HTTP
	siem          *siem.Sender           // nil: hits are not sent to a SIEM
	alerts        *alert.Dispatcher      // nil: no alert rules
	alertRules    map[string]*alertRules // by policy
	smtp          *alert.SMTP            // the relay of email alerts
	alertMu       sync.Mutex             // guards alertsStopped and additions to alertWG
	alertsStopped bool
	alertWG       sync.WaitGroup      // infected checks under way
	share         map[string]*shareOf // policy → the devices whose uploads are sensor reports
	// devices are the upload tokens threatadmin makes at run time (its devices), by their SHA-256: they
	// come and go without a reload.
	devices atomic.Pointer[map[[sha256.Size]byte]DeviceToken]

	state    *state.Store     // the State: snapshot and policies
	block    int              // index of the server block's threatstop block in the State
	blockKey string           // its Key, for reporter IDs
	keys     map[string]keyOf // TSIG key name → policy and secret
	store    *logstore.Store
	release  func() error // gives store back
	srv      *httpServer
	cancel   context.CancelFunc
	done     sync.WaitGroup
	seenReq  chan *snapshot.Snapshot
	started  atomic.Bool
	stopOnce sync.Once
}

// keyOf is a TSIG key that authenticates a customer.
type keyOf struct {
	policy string
	secret []byte
}

func (t *Threatlog) start(store *state.Store, block *state.Block, secrets map[string]string) error {
	keys, err := policyKeys(block, secrets)
	if err != nil {
		return err
	}
	t.state, t.keys = store, keys
	t.block, t.blockKey = block.Index, block.Key
	policySeries.Replace(store.Load().PolicyNames()) // the series of policies a reload removed go
	st, release, err := stores.Acquire(t.db)
	if err != nil {
		return err
	}
	t.store, t.release = st, release
	t.rebuildSensors(block) // before the listener: no upload reports meanwhile
	srv, err := startHTTP(t.listen, t)
	if err != nil {
		release()
		return err
	}
	t.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	t.seenReq = make(chan *snapshot.Snapshot, 1)
	t.done.Add(2)
	go t.retentionLoop(ctx)
	go t.seenLoop(ctx)
	store.Subscribe(func(_, next *state.State) {
		sensors().SetExcluded(newExclusion(next).excluded)
		select { // keep only the newest: the tracker reads whole lists
		case <-t.seenReq:
		default:
		}
		t.seenReq <- next.Snap
	})
	if t.siem != nil {
		t.siem.Start()
	}
	t.startAlerts(ctx)
	t.started.Store(true)
	return nil
}

// policyKeys maps each policy's TSIG keys to the policy and the secret. A key may name one customer
// only: a key in two policies would sign for whichever came last, so it is refused.
func policyKeys(block *state.Block, secrets map[string]string) (map[string]keyOf, error) {
	keys := map[string]keyOf{}
	owner := map[string]string{} // key → policy, also for keys without a secret
	for _, p := range block.Policies {
		for _, k := range p.KeyNames() {
			if prev, dup := owner[k]; dup {
				return nil, fmt.Errorf("TSIG key %q is in policy %q and in policy %q: a key authenticates one customer, give each policy its own", k, prev, p.Name)
			}
			owner[k] = p.Name
			for name, s := range secrets {
				if strings.EqualFold(dns.Fqdn(name), k) {
					if b, err := decodeSecret(s); err == nil {
						keys[k] = keyOf{policy: p.Name, secret: b}
					}
				}
			}
		}
	}
	return keys, nil
}

func (t *Threatlog) stop() error {
	t.stopOnce.Do(func() {
		if !t.started.Load() {
			return
		}
		t.cancel()
		t.done.Wait()
		t.srv.release(t)
		if t.siem != nil {
			t.siem.Stop()
		}
		t.stopAlerts()
		if err := t.release(); err != nil {
			log.Errorf("close %s: %v", t.db, err)
		}
	})
	return nil
}

// Ready implements ready.Readiness: the database is open and the listener serves.
func (t *Threatlog) Ready() bool { return t.started.Load() }

// retentionLoop deletes what is older than the retention period, and the sensor reports older than
// their window, at start-up and every ten minutes.
func (t *Threatlog) retentionLoop(ctx context.Context) {
	defer t.done.Done()
	tick := time.NewTicker(10 * time.Minute)
	defer tick.Stop()
	for {
		t.purge()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *Threatlog) purge() {
	sensors().Expire(clock()) // sensor reports are kept no longer than their window, whether or not a feed lists them
	n, err := t.store.Purge(clock().Add(-t.retention))
	if err != nil {
		log.Errorf("retention: %v", err)
		return
	}
	if n > 0 {
		purged.Add(float64(n))
		log.Infof("retention: deleted %d events older than %s", n, t.retention)
	}
}

// seenLoop records the first-seen time of every shared feed entry, one list at a time, whenever a
// list's version changes.
func (t *Threatlog) seenLoop(ctx context.Context) {
	defer t.done.Done()
	done := map[string]uint64{} // list name → version recorded
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-t.seenReq:
			for id, l := range s.Lists {
				if l.Version == 0 || l.Withheld || done[l.Name] == l.Version {
					continue
				}
				if _, err := t.store.MarkSeen(l.Name, entryStrings(s, id), clock()); err != nil {
					log.Errorf("first-seen of %s: %v", l.Name, err)
					continue
				}
				done[l.Name] = l.Version
			}
		}
	}
}

// ServeDNS implements plugin.Handler: it answers <ioc>._check.<zone> TXT and passes everything else on.
func (t *Threatlog) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) == 1 && t.started.Load() {
		name := strings.ToLower(r.Question[0].Name)
		if i := strings.Index(name, "._check."); i > 0 {
			if z := plugin.Zones(t.Zones).Matches(name[i+len("._check."):]); z != "" && z == name[i+len("._check."):] {
				return t.serveCheck(ctx, w, r, name[:i], name[i+1:])
			}
		}
	}
	return plugin.NextOrFailure(t.Name(), t.Next, ctx, w, r)
}

// Name implements plugin.Handler.
func (t *Threatlog) Name() string { return pluginName }

// DeviceToken is the policy and the device of an upload token made at run time.
type DeviceToken struct{ Policy, Device string }

// SetDeviceTokens replaces the run-time upload tokens, given by their SHA-256 (threatadmin keeps no token
// itself). It takes effect for the next request.
func (t *Threatlog) SetDeviceTokens(m map[[sha256.Size]byte]DeviceToken) { t.devices.Store(&m) }

// Listen is the address of the upload and report listener, as the Corefile gives it.
func (t *Threatlog) Listen() string { return t.listen }
