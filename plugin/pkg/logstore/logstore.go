// Package logstore keeps customers' matched log events in an embedded bbolt database (one file, ACID,
// fsync on every commit, so an acknowledged upload survives a crash or restart). Each customer has its own
// top-level bucket, and every read names the customer, so one customer's reads never touch another's
// data. Events sit in one bucket per UTC day, keyed by time: retention deletes whole days and the
// boundary day's older keys by a cursor, exactly. A batch is stored in one transaction together with
// its ID, so a re-upload of the same batch is recognised and stores nothing (until the ID expires with
// the retention period).
//
// Cost: about 350 bytes per event on disk (JSON values of about 200 bytes in B+tree pages filled to 95%:
// BenchmarkSize); an upload of N events is one transaction of N puts, in time order, and one fsync
// (BenchmarkAdd); until it commits, it holds its events in their stored form (a Batch: the JSON values)
// and bbolt's nodes and pages for them, about 600 bytes of heap per event in all; a
// report decodes the days it covers, about 250,000 events per second (BenchmarkEach), in pages of
// 1,024 records, each in its own read transaction (a stalled reader never holds one).
package logstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Record is one stored event, already matched against the customer's policy.
type Record struct {
	Time       time.Time `json:"t"`
	Device     string    `json:"dev"`
	Format     string    `json:"fmt"`
	Dir        string    `json:"dir"`             // in, out
	Action     string    `json:"act"`             // what the device did
	Proto      string    `json:"proto,omitempty"` // tcp, udp, icmp; "" for DNS events
	Remote     string    `json:"remote"`          // the outside address or name
	RemotePort uint16    `json:"rport,omitempty"` // the outside port
	Inside     string    `json:"inside"`          // the inside host (truncated when configured)
	Lists      []string  `json:"lists,omitempty"` // the policy's lists that hold Remote ("custom": own entries)
	Categories []string  `json:"cats,omitempty"`  // their categories, deduplicated
	Allowed    bool      `json:"allow,omitempty"` // the policy allows Remote (an allow entry or list)
	QName      string    `json:"qname,omitempty"` // DNS events: the name asked
}

// Listed reports whether the policy lists the record's remote side.
func (r *Record) Listed() bool { return len(r.Lists) > 0 }

var (
	bucketCustomers = []byte("customers")
	bucketEvents    = []byte("events")
	bucketBatches   = []byte("batches")
	bucketSeen      = []byte("seen")
)

// ErrDuplicate is returned by Add for a batch stored before.
var ErrDuplicate = errors.New("batch already stored")

// Store is an open database. Its methods are safe for concurrent use.
type Store struct {
	db *bolt.DB
}

// Open opens (creating) the database at path. Another process holding it makes Open wait up to a second
// and fail.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, InitialMmapSize: InitialMmap})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketCustomers); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketSeen)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// InitialMmap is the address space Open maps: 1 GiB where that is only address space (64-bit, not
// Windows, which would grow the file to it). Until the file outgrows it bbolt never remaps, and a remap
// is costly twice over: it copies every key and value of the write transaction to the heap (a large
// upload's again and again as the file doubles), and it waits for every open read transaction. Tests
// set it to 0 to make writers remap early.
var InitialMmap = initialMmap()

func initialMmap() int {
	if strconv.IntSize == 64 && runtime.GOOS != "windows" {
		return 1 << 30
	}
	return 0
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file.
func (s *Store) Path() string { return s.db.Path() }

func dayKey(t time.Time) []byte { return []byte(t.UTC().Format("20060102")) }

func timeKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, timeNS(t))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// timeNS is t in a key: times outside 1970..2262 clamp to the ends, where UnixNano overflows.
func timeNS(t time.Time) uint64 {
	switch {
	case t.Year() >= 2262:
		return 1<<63 - 1
	case t.After(time.Unix(0, 0)):
		return uint64(t.UnixNano())
	}
	return 0
}

func batchKey(device, batch string) []byte { return []byte(device + "\x00" + batch) }

// Batch is one upload's records in their stored form (JSON values, back to back in large chunks), built
// before the write transaction: an upload keeps this, not its parsed records, until it is stored.
// bbolt refers to the values it is given until the transaction commits, so they are never copied again.
type Batch struct {
	ents  []batchEntry
	chunk []byte // the values' current chunk
	bytes int
	buf   bytes.Buffer // one record's JSON, reused
	enc   *json.Encoder
}

type batchEntry struct {
	ns    uint64 // the record's time, as in its key
	value []byte // in a chunk
}

const batchChunk = 1 << 20

// Add appends r in its stored form.
func (b *Batch) Add(r *Record) error {
	if b.enc == nil { // json.Marshal's bytes, without a new slice per record
		b.enc = json.NewEncoder(&b.buf)
	}
	b.buf.Reset()
	if err := b.enc.Encode(r); err != nil {
		return err
	}
	v := bytes.TrimSuffix(b.buf.Bytes(), []byte("\n"))
	if len(b.chunk)+len(v) > cap(b.chunk) {
		b.chunk = make([]byte, 0, max(batchChunk, len(v)))
	}
	n := len(b.chunk)
	b.chunk = append(b.chunk, v...)
	b.ents = append(b.ents, batchEntry{ns: timeNS(r.Time), value: b.chunk[n:len(b.chunk):len(b.chunk)]})
	b.bytes += len(v)
	return nil
}

// Len is the number of records in b.
func (b *Batch) Len() int { return len(b.ents) }

// Bytes is the size of b's stored values.
func (b *Batch) Bytes() int { return b.bytes }

// Add stores recs for customer in one transaction, with batch (an upload's ID, unique per device) as
// the proof that it was stored: a batch stored before returns ErrDuplicate and stores nothing. at is the
// upload time, from which the batch ID is kept for the retention period.
func (s *Store) Add(customer, device, batch string, at time.Time, recs []Record) error {
	var b Batch
	for i := range recs {
		if err := b.Add(&recs[i]); err != nil {
			return err
		}
	}
	return s.AddBatch(customer, device, batch, at, &b)
}

// AddBatch is Add of a Batch. The records are stored in time order (a stable sort: equal times keep
// the order they were added in): bbolt inserts into a node of a transaction by moving what follows, so
// out-of-order puts of a large batch would cost time quadratic in its size.
func (s *Store) AddBatch(customer, device, batch string, at time.Time, b *Batch) error {
	slices.SortStableFunc(b.ents, func(x, y batchEntry) int { return cmp.Compare(x.ns, y.ns) })
	return s.db.Update(func(tx *bolt.Tx) error {
		c, err := tx.Bucket(bucketCustomers).CreateBucketIfNotExists([]byte(customer))
		if err != nil {
			return err
		}
		batches, err := c.CreateBucketIfNotExists(bucketBatches)
		if err != nil {
			return err
		}
		bk := batchKey(device, batch)
		if batches.Get(bk) != nil {
			return ErrDuplicate
		}
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(at.UnixNano()))
		if err := batches.Put(bk, v); err != nil {
			return err
		}
		events, err := c.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		var day *bolt.Bucket
		var dayName string
		keys := make([]byte, 16*len(b.ents)) // bbolt refers to keys, too, until the commit
		for i, e := range b.ents {
			t := time.Unix(0, int64(e.ns))
			if dk := dayKey(t); day == nil || string(dk) != dayName {
				if day, err = events.CreateBucketIfNotExists(dk); err != nil {
					return err
				}
				day.FillPercent = 0.95 // keys are appended in time order: fill pages, don't split them in half
				dayName = string(dk)
			}
			seq, err := day.NextSequence()
			if err != nil {
				return err
			}
			k := keys[16*i : 16*i+16 : 16*i+16]
			binary.BigEndian.PutUint64(k, e.ns)
			binary.BigEndian.PutUint64(k[8:], seq)
			if err := day.Put(k, e.value); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachPage is how many records Each decodes in one read transaction.
var eachPage = 1024

// Each calls fn with each of customer's records from from (inclusive) to to (exclusive), in time order.
// It reads a page of records in one read transaction, closes it, calls fn for them, and goes on after
// the last key in a new one: fn never runs inside a transaction, so a slow fn (a client that stops
// reading a CSV export) holds no read transaction, for which every writer that grows the file would
// wait. Hence pages are not one snapshot: records stored or purged meanwhile may or may not be seen.
func (s *Store) Each(customer string, from, to time.Time, fn func(*Record) error) error {
	lo, hi := timeKey(from, 0), timeKey(to, 0)
	day, lastDay := dayKey(from), dayKey(to)
	var after []byte // the last key read, in day; nil before the first
	page := make([]Record, 0, eachPage)
	for {
		page = page[:0]
		more := false
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketCustomers).Bucket([]byte(customer))
			if c == nil {
				return nil
			}
			events := c.Bucket(bucketEvents)
			if events == nil {
				return nil
			}
			days := events.Cursor()
			for dk, _ := days.Seek(day); dk != nil && string(dk) <= string(lastDay); dk, _ = days.Next() {
				b := events.Bucket(dk)
				if b == nil {
					continue
				}
				cur := b.Cursor()
				k, v := cur.Seek(lo)
				if after != nil && string(dk) == string(day) {
					if k, v = cur.Seek(after); k != nil && string(k) == string(after) {
						k, v = cur.Next()
					}
				}
				for ; k != nil && string(k) < string(hi); k, v = cur.Next() {
					if len(page) == eachPage {
						more = true
						return nil
					}
					page = append(page, Record{})
					if err := json.Unmarshal(v, &page[len(page)-1]); err != nil {
						return fmt.Errorf("record %x of %s: %w", k, customer, err)
					}
					if string(dk) != string(day) {
						day = append([]byte(nil), dk...)
					}
					after = append(after[:0], k...)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// Purge deletes every record and batch ID older than before, of every customer, and reports how many
// records it deleted: whole day buckets before before's day, and in that day the keys before it.
func (s *Store) Purge(before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCustomers)
		var customers [][]byte
		cb.ForEachBucket(func(k []byte) error { customers = append(customers, append([]byte(nil), k...)); return nil })
		cutDay, cutKey := dayKey(before), timeKey(before, 0)
		for _, name := range customers {
			c := cb.Bucket(name)
			if events := c.Bucket(bucketEvents); events != nil {
				var old [][]byte
				events.ForEachBucket(func(k []byte) error {
					if string(k) < string(cutDay) {
						old = append(old, append([]byte(nil), k...))
					}
					return nil
				})
				for _, dk := range old {
					n += events.Bucket(dk).Stats().KeyN
					if err := events.DeleteBucket(dk); err != nil {
						return err
					}
				}
				if day := events.Bucket(cutDay); day != nil {
					cur := day.Cursor()
					for k, _ := cur.First(); k != nil && string(k) < string(cutKey); k, _ = cur.First() {
						if err := cur.Delete(); err != nil {
							return err
						}
						n++
					}
				}
			}
			if batches := c.Bucket(bucketBatches); batches != nil {
				var old [][]byte
				batches.ForEach(func(k, v []byte) error {
					if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < before.UnixNano() {
						old = append(old, append([]byte(nil), k...))
					}
					return nil
				})
				for _, k := range old {
					if err := batches.Delete(k); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	return n, err
}

// DeleteCustomer deletes everything stored of customer, its records and its batch IDs (a batch uploaded
// again is stored again), in one transaction, and reports how many records it deleted. Another
// customer's data is not touched; a customer without data deletes nothing.
func (s *Store) DeleteCustomer(customer string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCustomers)
		c := cb.Bucket([]byte(customer))
		if c == nil {
			return nil
		}
		if events := c.Bucket(bucketEvents); events != nil {
			events.ForEachBucket(func(k []byte) error {
				n += events.Bucket(k).Stats().KeyN
				return nil
			})
		}
		return cb.DeleteBucket([]byte(customer))
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Customers lists the customers with stored data.
func (s *Store) Customers() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCustomers).ForEachBucket(func(k []byte) error { out = append(out, string(k)); return nil })
	})
	return out, err
}

// LastUploads returns, for each device of customer that has a stored upload (its batch ID is kept for
// the retention period), when its latest one was stored.
func (s *Store) LastUploads(customer string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCustomers).Bucket([]byte(customer))
		if c == nil {
			return nil
		}
		b := c.Bucket(bucketBatches)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			device, _, ok := strings.Cut(string(k), "\x00")
			if !ok || len(v) != 8 {
				return nil
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			if at.After(out[device]) {
				out[device] = at
			}
			return nil
		})
	})
	return out, err
}
