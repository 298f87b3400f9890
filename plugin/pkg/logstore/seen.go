package logstore

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MarkSeen records at as the first-seen time of each of list's entries that has none yet, in one
// transaction, and returns how many were new. Shared feed entries only: the key is the list's name and the
// entry as a string ("1.10.16.0/20", "bad.example", "*.bad.example").
func (s *Store) MarkSeen(list string, entries []string, at time.Time) (int, error) {
	n := 0
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(at.Unix()))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketSeen).CreateBucketIfNotExists([]byte(list))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if b.Get([]byte(e)) == nil {
				if err := b.Put([]byte(e), v); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// FirstSeen returns when entry was first seen in list.
func (s *Store) FirstSeen(list, entry string) (time.Time, bool) {
	var t time.Time
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSeen).Bucket([]byte(list)); b != nil {
			if v := b.Get([]byte(entry)); len(v) == 8 {
				t = time.Unix(int64(binary.BigEndian.Uint64(v)), 0).UTC()
			}
		}
		return nil
	})
	return t, !t.IsZero()
}
