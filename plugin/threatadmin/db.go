package threatadmin

import (
	"encoding/binary"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/threatstop/threatstop/plugin/pkg/shared"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// The database: bucket edits holds each policy's delta (JSON) by policy name; bucket audit holds one
// record per change, by time and a sequence number, in order.
var (
	bucketEdits    = []byte("edits")
	bucketAudit    = []byte("audit")
	bucketPolicies = []byte("policies") // those created through the API, by name
	bucketDevices  = []byte("devices")  // by POLICY/NAME
	bucketLists    = []byte("lists")    // user-defined lists, by CUSTOMER/NAME
	bucketUsers    = []byte("users")    // portal users made through the API, by name
	bucketTokens   = []byte("tokens")   // API tokens made through the API, by their SHA-256 (hex)
)

// createdPolicy is a policy a customer created through the API: served like the policy it was made like,
// with its own entries in its delta.
type createdPolicy struct {
	Customer string    `json:"customer"`
	Like     string    `json:"like"`
	Created  time.Time `json:"created"`
}

// adminDB is one database and what the instances of a reload share with it: the deltas, the lock that
// orders every edit (of the old instance and of the new one alike), and which Admin may edit. A reload
// hands the database over under the lock, so an edit in flight in the old instance is either in the
// deltas the new one starts from, or refused (503): none reaches only the configuration being replaced.
type adminDB struct {
	*bolt.DB
	mu      sync.Mutex
	deltas  map[string]*delta        // by policy name; never changed in place (policies created alike share one)
	created map[string]createdPolicy // policies created through the API, by name
	devices map[string]device        // by deviceID
	lists   map[string]userList      // by listID
	users   map[string]storedUser    // by name
	tokens  map[string]storedToken   // by SHA-256 (hex)
	portal  *sessions                // the portal's sessions

	// The selection of the last policy created and the version of the policy it was made like, for the
	// next one made like it (Admin.create).
	lastTmpl  *state.Policy
	lastSel   *selection
	lastDelta *delta // of the last policy created, when it had no own entries
	cur       *Admin // the Admin whose edits are served; nil: none yet
}

// delta is policy p's delta, the zero one when it has none.
func (db *adminDB) delta(p string) delta {
	if d := db.deltas[p]; d != nil {
		return *d
	}
	return delta{}
}

// dbs are the open databases, shared by the instances of a reload (bbolt locks its file).
var dbs = shared.New(func(path string) (*adminDB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEdits, bucketAudit, bucketPolicies, bucketDevices, bucketLists, bucketUsers, bucketTokens} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, err
	}
	stored, err := load[delta](db, bucketEdits)
	if err != nil {
		db.Close()
		return nil, err
	}
	// Policies made alike share one delta, as when they were made (Admin.create): by its encoding.
	deltas, alike := make(map[string]*delta, len(stored)), map[string]*delta{}
	for p, d := range stored {
		deltas[p] = &d
		if len(d.Block.Add)+len(d.Block.Del)+len(d.Allow.Add)+len(d.Allow.Del) > 0 || d.Uses != nil {
			continue
		}
		if key, err := json.Marshal(d); err == nil {
			if same := alike[string(key)]; same != nil {
				deltas[p] = same
			} else {
				alike[string(key)] = &d
			}
		}
	}
	created, err := load[createdPolicy](db, bucketPolicies)
	if err != nil {
		db.Close()
		return nil, err
	}
	devices, err := load[device](db, bucketDevices)
	if err != nil {
		db.Close()
		return nil, err
	}
	lists, err := load[userList](db, bucketLists)
	if err != nil {
		db.Close()
		return nil, err
	}
	users, err := load[storedUser](db, bucketUsers)
	if err != nil {
		db.Close()
		return nil, err
	}
	tokens, err := load[storedToken](db, bucketTokens)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &adminDB{DB: db, deltas: deltas, created: created, devices: devices, lists: lists, users: users, tokens: tokens, portal: newSessions()}, nil
})

// audit is one change: who, when, from where, what.
type audit struct {
	Time     time.Time `json:"time"`
	Customer string    `json:"customer"` // whose policy
	By       string    `json:"by"`       // who changed it: "customer NAME" or "operator NAME"
	From     string    `json:"from"`
	Action   string    `json:"action"` // add, remove, revert
	Policy   string    `json:"policy"`
	List     string    `json:"list"`
	Value    string    `json:"value"`
}

var auditSeq atomic.Uint32

// load reads a bucket of JSON values by key (a policy's name, a device's ID).
func load[T any](db *bolt.DB, bucket []byte) (map[string]T, error) {
	out := map[string]T{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			out[string(k)] = x
			return nil
		})
	})
	return out, err
}

// saveDelta keeps policy p's delta and the audit record of the change in one transaction.
func saveDelta(db *bolt.DB, p string, d delta, rec audit) error {
	return save(db, p, rec, write{bucketEdits, d})
}

// audits returns the audit records of customer's policies (every record when customer is ""), oldest
// first, at most limit of the newest.
func audits(db *bolt.DB, customer string, limit int) ([]audit, error) {
	out := []audit{}
	err := db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var rec audit
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if customer == "" || rec.Customer == customer {
				out = append(out, rec)
			}
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// saveCreated keeps (or with c nil, forgets) the created policy p, its delta d (nil: none) and the audit
// record of the change, in one transaction.
func saveCreated(db *bolt.DB, p string, c *createdPolicy, d *delta, rec audit) error {
	wc, wd := write{bucket: bucketPolicies}, write{bucket: bucketEdits}
	if c != nil {
		wc.v = c
	}
	if d != nil {
		wd.v = d
	}
	return save(db, p, rec, wc, wd)
}

// write is a value to put at a policy's key of a bucket, or none (nil) to delete it.
type write struct {
	bucket []byte
	v      any
}

// save applies writes at key p (a policy's name, a device's ID) and adds the audit record rec, in one transaction.
func save(db *bolt.DB, p string, rec audit, writes ...write) error {
	av, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	vals := make([][]byte, len(writes))
	for i, w := range writes {
		if w.v != nil {
			if vals[i], err = json.Marshal(w.v); err != nil {
				return err
			}
		}
	}
	key := binary.BigEndian.AppendUint64(nil, uint64(rec.Time.UnixNano()))
	key = binary.BigEndian.AppendUint32(key, auditSeq.Add(1))
	return db.Update(func(tx *bolt.Tx) error {
		for i, w := range writes {
			var err error
			if w.v != nil {
				err = tx.Bucket(w.bucket).Put([]byte(p), vals[i])
			} else {
				err = tx.Bucket(w.bucket).Delete([]byte(p))
			}
			if err != nil {
				return err
			}
		}
		return tx.Bucket(bucketAudit).Put(key, av)
	})
}
