package threatadmin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coredns/caddy"

	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatlog"
)

// Devices are a customer's firewalls and resolvers that take a policy. Making one makes its TSIG key (for
// the signed transfers of the policy's RPZ zone) and its upload token (for threatlog's log uploads), both
// shown once. The database keeps the TSIG secret, which the server needs to check and sign with, and of
// the token its SHA-256 alone.
//
// A TSIG key reaches the DNS server only when the server is made: CoreDNS copies the block's secrets into
// each server once, and the copy must not change while it serves (core/dnsserver). So a change of
// devices' keys restarts the instance in-process, as a reload does: the listeners are handed over, the
// serials, journals and the API's edits are kept. An upload token needs no restart: threatlog takes the
// new set at once.

// device is one device, as the database keeps it.
type device struct {
	Customer string    `json:"customer"`
	Policy   string    `json:"policy"`
	Name     string    `json:"name"`
	Key      string    `json:"key"`    // TSIG key name, fully qualified
	Secret   string    `json:"secret"` // base64, hmac-sha256
	TokenSum string    `json:"token_sha256"`
	Created  time.Time `json:"created"`
	Rotated  time.Time `json:"rotated,omitzero"`
}

// deviceID keys a device in the database and in adminDB.devices.
func deviceID(policy, name string) string { return policy + "/" + name }

// deviceKey is the TSIG key name of device name of policy.
func deviceKey(policy, name string) string { return name + "." + policy + ".device." }

// secretPlaceholder stands for a device's secret in the snippets shown after it was made.
const secretPlaceholder = "SECRET-SHOWN-WHEN-THE-DEVICE-WAS-MADE"

// Errors of devices.
var (
	errDeviceExists = errors.New("the policy has a device of that name")
	errNoDevice     = errors.New("no such device")
	errNoTSIG       = errors.New("this server block has no tsig plugin: its devices could not sign their transfers")
	errKeyTaken     = errors.New("the Corefile has a TSIG key of the device's key name")
)

// secrets is what making or rotating a device shows once.
type secrets struct {
	secret, token string
}

// newSecrets makes a 256-bit TSIG secret and a 256-bit upload token.
func newSecrets() (secrets, error) {
	var k, t [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return secrets{}, err
	}
	if _, err := rand.Read(t[:]); err != nil {
		return secrets{}, err
	}
	return secrets{secret: base64.StdEncoding.EncodeToString(k[:]), token: "tsd_" + base64.RawURLEncoding.EncodeToString(t[:])}, nil
}

func tokenSum(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// installDeviceKeys adds the TSIG secrets of the devices in the database at path to secrets, the server
// block's (the tsig plugin's map, which the block's servers copy when they are made). It runs at setup,
// before the servers are made; a device whose key name the Corefile has is left out.
func installDeviceKeys(path string, secrets map[string]string) error {
	db, release, err := dbs.Acquire(path)
	if err != nil {
		return err
	}
	defer release()
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, d := range db.devices {
		if _, taken := secrets[d.Key]; taken {
			log.Errorf("device %s of policy %s: the Corefile has a TSIG key %s: the device's key is not served", d.Name, d.Policy, d.Key)
			continue
		}
		secrets[d.Key] = d.Secret
	}
	return nil
}

// startDevices gives the block's policies their devices' keys and threatlog their upload tokens; a.bolt.mu
// is held.
func (a *Admin) startDevices(store *state.Store) {
	keys := map[string][]string{}
	for _, d := range a.bolt.devices {
		if a.deviceSecrets[d.Key] != d.Secret || d.Customer != a.ownerLocked(d.Policy) {
			continue // not installed at setup (made after it, or a name taken), or of a policy's former owner
		}
		keys[d.Policy] = append(keys[d.Policy], d.Key)
	}
	for _, p := range slices.Sorted(maps.Keys(keys)) {
		if store.Blocks()[a.block].Policy(p) == nil {
			continue // the policy is gone; its devices wait in the database
		}
		if err := store.AddKeys(a.block, p, keys[p]); err != nil {
			log.Errorf("devices of policy %s: %v", p, err)
		}
	}
	a.setUploadTokens()
}

// setUploadTokens hands threatlog the devices' upload tokens; a.bolt.mu is held.
func (a *Admin) setUploadTokens() {
	if a.logs == nil {
		return
	}
	m := map[[sha256.Size]byte]threatlog.DeviceToken{}
	for _, d := range a.bolt.devices {
		var sum [sha256.Size]byte
		if b, err := hex.DecodeString(d.TokenSum); err == nil && len(b) == sha256.Size {
			copy(sum[:], b)
			m[sum] = threatlog.DeviceToken{Policy: d.Policy, Device: d.Name}
		}
	}
	a.logs.SetDeviceTokens(m)
}

// makeDevice makes (or with rotate, gives new secrets to) device name of policy p, for who from the
// address from, and restarts the instance so that the server knows its key. The secrets are returned
// once; the device is saved before the restart and forgotten again when the restart fails.
func (a *Admin) makeDevice(who grant, from, p, name string, rotate bool) (device, secrets, error) {
	sec, err := newSecrets()
	if err != nil {
		return device{}, sec, err
	}
	a.bolt.mu.Lock()
	if a.bolt.cur != a {
		a.bolt.mu.Unlock()
		return device{}, sec, errSuperseded
	}
	if a.deviceSecrets == nil {
		a.bolt.mu.Unlock()
		return device{}, sec, errNoTSIG
	}
	id := deviceID(p, name)
	old, had := a.bolt.devices[id]
	switch {
	case rotate && !had:
		a.bolt.mu.Unlock()
		return device{}, sec, errNoDevice
	case !rotate && had:
		a.bolt.mu.Unlock()
		return device{}, sec, errDeviceExists
	}
	d := device{Customer: a.ownerLocked(p), Policy: p, Name: name, Key: deviceKey(p, name), Secret: sec.secret, TokenSum: tokenSum(sec.token), Created: a.now().UTC()}
	action := "device-create"
	if rotate {
		d.Created, d.Rotated, action = old.Created, a.now().UTC(), "device-rotate"
	}
	if _, taken := a.secrets[d.Key]; taken {
		a.bolt.mu.Unlock()
		return device{}, sec, errKeyTaken
	}
	rec := audit{Time: a.now().UTC(), Customer: d.Customer, By: who.who(), From: from, Action: action, Policy: p, List: "device", Value: name}
	if err := save(a.bolt.DB, id, rec, write{bucketDevices, d}); err != nil {
		a.bolt.mu.Unlock()
		return device{}, sec, errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	a.bolt.devices[id] = d
	a.setUploadTokens()
	a.bolt.mu.Unlock()
	if err := a.restart(); err != nil {
		a.bolt.mu.Lock()
		defer a.bolt.mu.Unlock()
		rec.Action, rec.Time = "revert", a.now().UTC()
		var back any // none: forget the new device
		if had {
			back = old
		}
		if rerr := save(a.bolt.DB, id, rec, write{bucketDevices, back}); rerr != nil {
			log.Errorf("device %s of policy %s: the restart that serves its key failed (%v), and it stays in %s (%v)", name, p, err, a.db, rerr)
		}
		if had {
			a.bolt.devices[id] = old
		} else {
			delete(a.bolt.devices, id)
		}
		a.setUploadTokens()
		return device{}, sec, fmt.Errorf("the device's key could not be served: %w", err)
	}
	return d, sec, nil
}

// revokeDevice removes device name of policy p: its upload token at once, its key with a restart.
func (a *Admin) revokeDevice(who grant, from, p, name string) error {
	a.bolt.mu.Lock()
	if a.bolt.cur != a {
		a.bolt.mu.Unlock()
		return errSuperseded
	}
	id := deviceID(p, name)
	d, ok := a.bolt.devices[id]
	if !ok {
		a.bolt.mu.Unlock()
		return errNoDevice
	}
	rec := audit{Time: a.now().UTC(), Customer: d.Customer, By: who.who(), From: from, Action: "device-revoke", Policy: p, List: "device", Value: name}
	if err := save(a.bolt.DB, id, rec, write{bucket: bucketDevices}); err != nil {
		a.bolt.mu.Unlock()
		return errNotSaved{fmt.Errorf("not saved: %w", err)}
	}
	delete(a.bolt.devices, id)
	a.setUploadTokens()
	a.bolt.mu.Unlock()
	// The key stays valid until the restart has made the servers anew; a failed restart leaves it
	// until the next reload, and says so.
	if err := a.restart(); err != nil {
		return fmt.Errorf("revoked; its upload token no longer works, but its TSIG key does until the next reload: %w", err)
	}
	return nil
}

// devicesOf are policy p's devices, by name.
func (a *Admin) devicesOf(p string) []device {
	a.bolt.mu.Lock()
	defer a.bolt.mu.Unlock()
	var out []device
	for _, d := range a.bolt.devices {
		if d.Policy == p && d.Customer == a.ownerLocked(p) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y device) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// deviceSnippets are the configurations of every kind for device d of policy p, with secret (the real
// one once, when it is made; else the placeholder), and its upload command with token.
func (a *Admin) deviceSnippets(p *state.Policy, d device, secret, token string) map[string]string {
	out := map[string]string{}
	for _, kind := range snippetKinds {
		if text, err := snippet(kind, p, a.zone, a.primary, d.Key, secret); err == nil {
			out[kind] = text
		}
	}
	if a.logs != nil {
		host, port, _ := net.SplitHostPort(a.logs.Listen())
		if host == "" || host == "0.0.0.0" || host == "::" {
			host, _, _ = net.SplitHostPort(a.primary)
		}
		out["upload"] = fmt.Sprintf("# threatstop device %s of policy %s: upload the firewall's or resolver's log (cron, or logrotate's postrotate).\n"+
			"curl -sS --fail --data-binary @/var/log/YOUR-LOG -H 'Authorization: Bearer %s' http://%s/upload\n",
			d.Name, p.Name, token, net.JoinHostPort(host, port))
	}
	return out
}

// Restarts. The Admin learns its instance from caddy's instance start-up event; restartMu orders the
// restarts of this process's Admins.
var (
	restartMu  sync.Mutex
	successors sync.Map // *caddy.Instance → the instance a device change restarted it into
)

// instanceKey keys, in an instance's storage, its Admins.
type instanceKey struct{}

func init() {
	caddy.RegisterEventHook(pluginName, func(ev caddy.EventName, info any) error {
		if ev != caddy.InstanceStartupEvent {
			return nil
		}
		inst, ok := info.(*caddy.Instance)
		if !ok {
			return nil
		}
		inst.StorageMu.RLock()
		admins, _ := inst.Storage[instanceKey{}].([]*Admin)
		inst.StorageMu.RUnlock()
		for _, a := range admins {
			a.inst.Store(inst)
		}
		return nil
	})
}

// restart restarts the Admin's instance with the same Corefile, as a reload does.
func (a *Admin) restart() error {
	inst := a.inst.Load()
	if inst == nil {
		return errors.New("the server has not finished starting")
	}
	restartMu.Lock()
	defer restartMu.Unlock()
	next, err := inst.Restart(nil)
	if err != nil {
		return err
	}
	successors.Store(inst, next)
	return nil
}

// Restarted is the instance that inst runs as now: inst itself, or the one that device changes restarted
// it into. A program (or a test) that started inst and stops it later stops this one.
func Restarted(inst *caddy.Instance) *caddy.Instance {
	for {
		next, ok := successors.Load(inst)
		if !ok {
			return inst
		}
		inst = next.(*caddy.Instance)
	}
}
